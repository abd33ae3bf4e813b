#include "memembed/embed.h"

#include "memembed/error.h"
#include "memembed/hub.h"
#include "memembed/json_io.h"
#include "memembed/log.h"
#include "memembed/model.h"
#include "memembed/progress.h"

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <utf8proc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>

namespace memembed::embed {

namespace fs = std::filesystem;

namespace {

std::string lowercase(std::string_view text) {
  std::string result;
  result.reserve(text.size());
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t offset = 0;
  const auto size = static_cast<utf8proc_ssize_t>(text.size());
  while (offset < size) {
    utf8proc_int32_t code = 0;
    const utf8proc_ssize_t length = utf8proc_iterate(bytes + offset, size - offset, &code);
    if (length <= 0) throw invalid_input("invalid UTF-8 at byte {}", offset);
    utf8proc_uint8_t encoded[4];
    const utf8proc_ssize_t written = utf8proc_encode_char(utf8proc_tolower(code), encoded);
    result.append(reinterpret_cast<const char*>(encoded), static_cast<size_t>(written));
    offset += length;
  }
  return result;
}

// One padded batch of rows (indices into the input), longest first.
struct Batch {
  std::vector<size_t> rows;
  size_t length = 0;
};

// Texts sorted by length, longest first (so the largest batch shapes are met early), then packed
// greedily while rows x longest stays within the token budget.
std::vector<Batch> plan_batches(const std::vector<text::Encoding>& encodings, const EncoderOptions& options) {
  std::vector<size_t> order(encodings.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return encodings[a].ids.size() > encodings[b].ids.size(); });
  std::vector<Batch> batches;
  for (size_t index : order) {
    const size_t length = std::max<size_t>(1, encodings[index].ids.size());
    if (batches.empty() || batches.back().rows.size() >= options.max_batch_size ||
        (batches.back().rows.size() + 1) * batches.back().length > options.max_batch_tokens) {
      batches.push_back({{}, length});
    }
    batches.back().rows.push_back(index);
  }
  return batches;
}

}  // namespace

Encoder::Encoder(const fs::path& model_dir, EncoderOptions options)
    : Encoder(std::shared_ptr<const model::SentenceTransformer>(
                  model::SentenceTransformer::load(hub::resolve_model(model_dir.string()),
                                                   {options.max_seq_length, options.precision,
                                                    /*inference_only=*/true})),
              options) {
  // A hub id names the model better than its cache folder (which is the revision).
  if (!fs::exists(model_dir) && hub::is_repo_id(model_dir.string())) model_name_ = model_dir.string();
}

Encoder::Encoder(std::shared_ptr<const model::SentenceTransformer> model, EncoderOptions options)
    : model_(std::move(model)), options_(options) {
  if (options_.max_batch_size == 0) throw invalid_input("batch size must be at least 1");
  if (options_.max_batch_tokens == 0) throw invalid_input("the batch token budget must be at least 1");
  if (model_->precision().requested != options_.precision) {
    throw invalid_input("model {} was loaded at precision {}, not the {} asked for", model_->name(),
                        to_string(model_->precision().requested), to_string(options_.precision));
  }
  if (options_.truncate_dim > model_->embedding_dimension()) {
    throw invalid_input("--truncate-dim {} exceeds the model's embedding dimension {}", options_.truncate_dim,
                        model_->embedding_dimension());
  }
}

Encoder::~Encoder() = default;

std::string Encoder::prompt(const std::string& name) const {
  const auto& known = model_->prompts();
  auto it = known.find(name);
  if (it == known.end()) {
    std::vector<std::string> names;
    for (const auto& [prompt_name, text] : known) names.push_back(prompt_name);
    throw invalid_input("model {} has no prompt named \"{}\" (its prompts: {})", model_->name(), name,
                        names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", ")));
  }
  return it->second;
}

std::string Encoder::select_prompt(const std::optional<std::string>& prompt, const std::string& prompt_name) const {
  if (prompt && !prompt_name.empty()) throw invalid_input("give either a prompt (--prompt) or a prompt name (--prompt-name), not both");
  if (prompt) return *prompt;
  if (!prompt_name.empty()) return this->prompt(prompt_name);
  if (const auto& name = model_->default_prompt_name()) return this->prompt(*name);
  return "";
}

const std::map<std::string, std::string>& Encoder::prompts() const { return model_->prompts(); }

size_t Encoder::dimension() const {
  return options_.truncate_dim > 0 ? options_.truncate_dim : model_->embedding_dimension();
}

size_t Encoder::max_seq_length() const { return model_->max_seq_length(); }

const model::PrecisionPlan& Encoder::precision() const { return model_->precision(); }

std::string Encoder::model_name() const { return model_name_.empty() ? model_->name() : model_name_; }

std::vector<text::Encoding> Encoder::tokenize(const std::vector<std::string>& texts, const std::string& prompt,
                                              int64_t* prompt_length) const {
  const text::Tokenizer& tokenizer = model_->tokenizer();
  const size_t max_length = model_->max_seq_length();
  const bool special_tokens = model_->add_special_tokens();
  for (size_t i = 0; i < texts.size(); ++i) {
    if (!is_valid_utf8(texts[i])) throw invalid_input("text {} is not valid UTF-8", i);
  }
  if (!is_valid_utf8(prompt)) throw invalid_input("the prompt is not valid UTF-8");

  // Tokenise in parallel: the tokenizer is immutable and shared.
  std::vector<text::Encoding> encodings(texts.size());
  at::parallel_for(0, static_cast<int64_t>(texts.size()), 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      std::string input = strip_unicode_whitespace(prompt + texts[static_cast<size_t>(i)]);
      if (model_->lowercase_input()) input = lowercase(input);
      encodings[static_cast<size_t>(i)] = tokenizer.encode(input, {special_tokens, max_length});
    }
  });

  // The prompt's own token count, for pooling modes that exclude the prompt: the count
  // sentence-transformers passes as `prompt_length`, which leaves out a trailing special token
  // (the EOS some tokenizers append) but keeps an ordinary last token.
  if (prompt_length != nullptr) {
    *prompt_length = 0;
    if (!prompt.empty()) {
      const auto ids = tokenizer.encode(strip_unicode_whitespace(prompt), {special_tokens, max_length}).ids;
      *prompt_length = static_cast<int64_t>(ids.size());
      if (!ids.empty() && tokenizer.is_special(ids.back())) --*prompt_length;
    }
  }
  return encodings;
}

Embeddings Encoder::encode(const std::vector<std::string>& texts, const std::string& prompt,
                           EncodeStats* stats) const {
  const auto started = std::chrono::steady_clock::now();
  const size_t max_length = model_->max_seq_length();
  int64_t prompt_length = 0;
  const std::vector<text::Encoding> encodings = tokenize(texts, prompt, &prompt_length);

  size_t truncated = 0;
  size_t real_tokens = 0;
  for (const auto& encoding : encodings) {
    truncated += encoding.truncated ? 1 : 0;
    real_tokens += encoding.ids.size();
  }
  if (truncated > 0 && !warned_truncation_.exchange(true)) {
    logger()->warn("{} of {} texts exceed {} tokens and were truncated (warned once per Encoder)", truncated,
                   texts.size(), max_length);
  }

  const size_t dim = dimension();
  Embeddings result;
  result.rows = texts.size();
  result.dim = dim;
  result.values.assign(texts.size() * dim, 0.0f);

  const std::vector<Batch> batches = plan_batches(encodings, options_);
  size_t padded_tokens = 0;
  double flops = 0;

  c10::InferenceMode inference_mode;
  std::unique_ptr<Progress> progress;
  if (options_.show_progress) progress = std::make_unique<Progress>("embedding", texts.size(), "texts");
  for (const Batch& batch : batches) {
    const auto rows = static_cast<int64_t>(batch.rows.size());
    std::vector<const std::vector<text::TokenId>*> batch_ids;
    for (size_t row : batch.rows) batch_ids.push_back(&encodings[row].ids);
    model::Features features = model::pad_batch(batch_ids, model_->tokenizer());
    features.prompt_length = prompt_length;
    at::Tensor embeddings = model_->forward(features);
    if (options_.truncate_dim > 0) {
      // Matryoshka: keep the leading dimensions, then make the vector unit length again.
      embeddings = embeddings.narrow(1, 0, static_cast<int64_t>(dim));
      embeddings = embeddings / embeddings.norm(2, -1, true).clamp_min(1e-12);
    }
    embeddings = embeddings.contiguous();
    const float* source = embeddings.data_ptr<float>();
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(result.row(batch.rows[static_cast<size_t>(r)]), source + r * static_cast<int64_t>(dim),
                  dim * sizeof(float));
    }
    padded_tokens += batch.rows.size() * batch.length;
    flops += model_->forward_flops(batch.rows.size(), batch.length);
    if (progress) progress->advance(batch.rows.size());
  }
  if (progress) progress->finish();

  if (stats != nullptr) {
    stats->texts += texts.size();
    stats->tokens += real_tokens;
    stats->padded_tokens += padded_tokens;
    stats->batches += batches.size();
    stats->truncated_texts += truncated;
    stats->flops += flops;
    stats->seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }
  return result;
}

}  // namespace memembed::embed
