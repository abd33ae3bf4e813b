#include "memembed/error.h"
#include "st_modules.h"

#include <cmath>

namespace memembed::model {

namespace fs = std::filesystem;

namespace {

struct ModeName {
  PoolingMode mode;
  const char* name;          // the `pooling_mode` string
  const char* legacy_flag;   // the boolean key in older configs
};

// sentence-transformers concatenates multiple modes in this order.
constexpr ModeName kModes[] = {
    {PoolingMode::Cls, "cls", "pooling_mode_cls_token"},
    {PoolingMode::Max, "max", "pooling_mode_max_tokens"},
    {PoolingMode::Mean, "mean", "pooling_mode_mean_tokens"},
    {PoolingMode::MeanSqrtLen, "mean_sqrt_len_tokens", "pooling_mode_mean_sqrt_len_tokens"},
    {PoolingMode::WeightedMean, "weightedmean", "pooling_mode_weightedmean_tokens"},
    {PoolingMode::LastToken, "lasttoken", "pooling_mode_lasttoken"},
};

std::string known_modes() {
  std::string names;
  for (const auto& m : kModes) names += std::string(names.empty() ? "" : ", ") + m.name;
  return names;
}

}  // namespace

const char* to_string(PoolingMode mode) {
  for (const auto& m : kModes) {
    if (m.mode == mode) return m.name;
  }
  return "?";
}

PoolingModule::PoolingModule(size_t dimension, std::vector<PoolingMode> modes, bool include_prompt)
    : dimension_(dimension), modes_(std::move(modes)), include_prompt_(include_prompt) {}

// Both spellings are read here and nowhere else: the newer single `pooling_mode` string wins, the
// legacy booleans are the fallback, and a config naming neither is an error rather than a guess.
std::unique_ptr<PoolingModule> PoolingModule::load(const fs::path& dir, size_t dimension) {
  const fs::path path = dir / "config.json";
  const Json config = read_json_file(path);
  if (!config.is_object()) throw invalid_input("{}: expected a JSON object", path.string());
  std::vector<PoolingMode> modes;
  if (auto it = config.find("pooling_mode"); it != config.end() && !it->is_null()) {
    if (!it->is_string()) throw invalid_input("{}: pooling_mode must be a string", path.string());
    const std::string requested = it->get<std::string>();
    const std::string normalized = requested == "mean_tokens" ? "mean" : requested == "cls_token" ? "cls" : requested;
    for (const auto& m : kModes) {
      if (normalized == m.name) modes.push_back(m.mode);
    }
    if (modes.empty()) {
      throw invalid_input("{}: pooling_mode \"{}\" is not one of: {}", path.string(), requested, known_modes());
    }
  } else {
    for (const auto& m : kModes) {
      auto flag = config.find(m.legacy_flag);
      if (flag == config.end()) continue;
      if (!flag->is_boolean()) throw invalid_input("{}: {} must be true or false", path.string(), m.legacy_flag);
      if (flag->get<bool>()) modes.push_back(m.mode);
    }
    if (modes.empty()) {
      throw invalid_input("{}: no pooling mode set (expected \"pooling_mode\" or one of the pooling_mode_* flags; "
                          "modes: {})", path.string(), known_modes());
    }
  }
  if (auto it = config.find("word_embedding_dimension"); it != config.end() && it->is_number_integer()) {
    if (it->get<size_t>() != dimension) {
      throw invalid_input("{}: word_embedding_dimension is {} but the transformer's hidden size is {}",
                          path.string(), it->get<size_t>(), dimension);
    }
  }
  bool include_prompt = true;
  if (auto it = config.find("include_prompt"); it != config.end() && it->is_boolean()) include_prompt = it->get<bool>();
  return std::make_unique<PoolingModule>(dimension, std::move(modes), include_prompt);
}

void PoolingModule::forward(Features& features) const {
  const at::Tensor& tokens = features.token_embeddings;  // [B, L, H]
  at::Tensor mask = features.attention_mask;
  if (!include_prompt_ && features.prompt_length > 0) {
    // As sentence-transformers does: the prompt's tokens are excluded from pooling.
    mask = mask.clone();
    mask.narrow(1, 0, std::min<int64_t>(features.prompt_length, mask.size(1))).zero_();
  }
  const at::Tensor mask_f = mask.unsqueeze(-1).to(tokens.scalar_type());  // [B, L, 1]
  std::vector<at::Tensor> outputs;
  for (PoolingMode mode : modes_) {
    switch (mode) {
      case PoolingMode::Cls:
        outputs.push_back(tokens.select(1, 0));
        break;
      case PoolingMode::Max:
        outputs.push_back(tokens.masked_fill(mask_f.eq(0), -1e9).amax(1));
        break;
      case PoolingMode::Mean:
      case PoolingMode::MeanSqrtLen: {
        const at::Tensor sum = (tokens * mask_f).sum(1);
        const at::Tensor count = mask_f.sum(1).clamp_min(1e-9);
        outputs.push_back(mode == PoolingMode::Mean ? sum / count : sum / count.sqrt());
        break;
      }
      case PoolingMode::WeightedMean: {
        const at::Tensor positions = at::arange(1, tokens.size(1) + 1, tokens.options()).view({1, -1, 1});
        const at::Tensor weights = positions * mask_f;
        outputs.push_back((tokens * weights).sum(1) / weights.sum(1).clamp_min(1e-9));
        break;
      }
      case PoolingMode::LastToken: {
        // The last real token, wherever the padding is (left or right).
        const at::Tensor positions = at::arange(mask.size(1), mask.options()).unsqueeze(0);
        const at::Tensor last = (positions * mask).argmax(1);
        outputs.push_back(tokens.index({at::arange(tokens.size(0), at::kLong), last}));
        break;
      }
    }
  }
  features.sentence_embedding = outputs.size() == 1 ? outputs.front() : at::cat(outputs, -1);
}

void PoolingModule::save(const fs::path& dir) const {
  Json config = {{"word_embedding_dimension", dimension_}, {"include_prompt", include_prompt_}};
  for (const auto& m : kModes) {
    config[m.legacy_flag] = std::find(modes_.begin(), modes_.end(), m.mode) != modes_.end();
  }
  fs::create_directories(dir);
  write_json_file(dir / "config.json", config);
}

}  // namespace memembed::model
