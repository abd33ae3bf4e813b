#include "dense_retriever.h"

#include "embedding_cache.h"
#include "memembed/embed.h"
#include "memembed/error.h"
#include "memembed/json_io.h"
#include "memembed/model.h"
#include "memembed/progress.h"
#include "memembed/provider.h"
#include "memembed/retrieval.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <numeric>
#include <optional>
#include <sstream>

namespace memembed::eval {

namespace fs = std::filesystem;

namespace {

// Negated distances, so that higher is more similar (sentence-transformers' convention).
float negative_distance(model::Similarity similarity, const float* a, const float* b, size_t dim) {
  float sum = 0;
  for (size_t i = 0; i < dim; ++i) {
    const float difference = a[i] - b[i];
    sum += similarity == model::Similarity::Euclidean ? difference * difference : std::abs(difference);
  }
  return similarity == model::Similarity::Euclidean ? -std::sqrt(sum) : -sum;
}

// A model name as one file name: a hub id's '/' becomes "--" (as the Hugging Face cache writes
// it), anything else outside [A-Za-z0-9._-] becomes '_'.
std::string file_name_safe(const std::string& name) {
  std::string safe;
  for (const char c : name) {
    if (c == '/') safe += "--";
    else if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') safe += c;
    else safe += '_';
  }
  return safe;
}

// Unit-length rows (a zero row stays zero), so that cosine similarity is a dot product.
void normalise_rows(embed::Embeddings& embeddings) {
  for (size_t r = 0; r < embeddings.rows; ++r) retrieval::l2_normalize(embeddings.row(r), embeddings.dim);
}

// scores[q * n + d] = similarity(queries[q], docs[d]). Cosine takes rows already normalised by
// normalise_rows; inner products go through the retrieval module's blocked kernel.
void similarity_scores(model::Similarity similarity, const embed::Embeddings& queries,
                       const embed::Embeddings& docs, int threads, std::vector<float>& scores) {
  if (similarity == model::Similarity::Cosine || similarity == model::Similarity::Dot) {
    retrieval::dot_products(queries.values.data(), queries.rows, docs.values.data(), docs.rows, docs.dim, threads,
                            scores);
    return;
  }
  const size_t nq = queries.rows, nd = docs.rows, dim = docs.dim;
  scores.assign(nq * nd, 0.0f);
  for (size_t q = 0; q < nq; ++q) {
    for (size_t d = 0; d < nd; ++d) scores[q * nd + d] = negative_distance(similarity, queries.row(q), docs.row(d), dim);
  }
}

class DenseRetriever : public Retriever {
 public:
  explicit DenseRetriever(const RetrieverConfig& config)
      : config_(config), provider_(provider::open_provider(config.model, make_options(config))) {
    if (const embed::Encoder* encoder = provider_->local_encoder()) {
      revision_ = embed::model_fingerprint(encoder->model().source_dir());
      // The weights and files, the truncation length, the output dimension and a precision other
      // than f32 (the key local caches have always had).
      cache_identity_ = fmt::format("{}\n{}\n{}\n{}{}", encoder->model_name(), revision_, encoder->max_seq_length(),
                                    encoder->dimension(), precision_suffix("\nprecision="));
    } else {
      // An endpoint: its URL, model and dims. What runs behind it cannot be seen from here.
      cache_identity_ = provider_->fingerprint();
      revision_ = to_hex(sha256(cache_identity_));
    }
    if (!config.cache_dir.empty()) {
      const std::string key = to_hex(sha256(cache_identity_));
      cache_.emplace(config.cache_dir, file_name_safe(provider_->model_name()) + "-" + key.substr(0, 16),
                     provider_->dimension());
    }
  }

  std::string model_name() const override { return provider_->model_name(); }
  std::string model_revision() const override { return revision_.substr(0, 12); }
  std::string settings() const override {
    if (const embed::Encoder* encoder = provider_->local_encoder()) {
      return fmt::format("dense {} max_seq_length={} dim={}{}", model::to_string(similarity()),
                         encoder->max_seq_length(), encoder->dimension(), precision_suffix(" precision="));
    }
    return fmt::format("dense {} endpoint dim={}", model::to_string(similarity()), provider_->dimension());
  }
  size_t query_block() const override { return 512; }

  void index(const Corpus& corpus) override {
    docs_ = embed_all(corpus.texts, "documents");
    if (similarity() == model::Similarity::Cosine) normalise_rows(docs_);
  }

  void score(const std::vector<std::string>& queries, std::vector<float>& scores) override {
    embed::Embeddings q = embed_all(queries, "queries");
    if (similarity() == model::Similarity::Cosine) normalise_rows(q);
    similarity_scores(similarity(), q, docs_, config_.threads, scores);
  }

 private:
  // The model's declared similarity (what MTEB and LMEB rank by), not a bare dot product: a model
  // without a Normalize stage would otherwise rank differently. Endpoints publish none: cosine,
  // as every OpenAI-compatible embedding server's clients assume.
  model::Similarity similarity() const {
    const embed::Encoder* encoder = provider_->local_encoder();
    return encoder ? encoder->model().similarity() : model::Similarity::Cosine;
  }

  // `label` + the precision the linear layers ran at; empty for f32, so f32 keys and settings read
  // as they did before precisions existed.
  std::string precision_suffix(const char* label) const {
    const embed::Encoder* encoder = provider_->local_encoder();
    const Precision ran = encoder ? encoder->precision().effective : Precision::F32;
    return ran == Precision::F32 ? std::string() : label + std::string(to_string(ran));
  }

  static provider::ProviderOptions make_options(const RetrieverConfig& config) {
    provider::ProviderOptions options;
    options.local.max_seq_length = config.max_tokens;
    options.local.max_batch_size = config.batch_size;
    options.local.precision = config.precision;
    options.remote = config.remote;
    return options;
  }

  // Embeds `texts`, taking what the cache has and appending what it lacks, chunk by chunk so an
  // interrupted run keeps its work.
  embed::Embeddings embed_all(const std::vector<std::string>& texts, const char* what) {
    const size_t dim = provider_->dimension();
    embed::Embeddings out;
    out.rows = texts.size();
    out.dim = dim;
    out.values.assign(texts.size() * dim, 0.0f);
    std::vector<TextKey> keys(texts.size());
    std::vector<size_t> missing;
    for (size_t i = 0; i < texts.size(); ++i) {
      if (cache_) {
        keys[i] = sha256(texts[i]);
        if (cache_->lookup(keys[i], out.row(i))) continue;
      }
      missing.push_back(i);
    }
    if (missing.empty()) return out;
    // Longest first, so each chunk holds texts of similar length and pads little.
    std::stable_sort(missing.begin(), missing.end(),
                     [&](size_t a, size_t b) { return texts[a].size() > texts[b].size(); });
    Progress progress(fmt::format("embedding {} ({})", what, provider_->model_name()), missing.size(), what);
    const size_t chunk = std::max<size_t>(config_.batch_size * 4, 64);
    for (size_t begin = 0; begin < missing.size(); begin += chunk) {
      if (config_.stop != nullptr && config_.stop->load()) break;
      const size_t end = std::min(missing.size(), begin + chunk);
      std::vector<std::string> batch;
      std::vector<TextKey> batch_keys;
      for (size_t k = begin; k < end; ++k) {
        batch.push_back(texts[missing[k]]);
        batch_keys.push_back(keys[missing[k]]);
      }
      const embed::Embeddings e = provider_->embed(batch);
      if (e.rows != batch.size() || e.dim != dim) {
        throw make_error(ErrorKind::Internal, "the provider returned {}x{} for {} texts of dimension {}",
                         e.rows, e.dim, batch.size(), dim);
      }
      for (size_t k = begin; k < end; ++k) {
        std::copy(e.row(k - begin), e.row(k - begin) + dim, out.row(missing[k]));
      }
      if (cache_) cache_->append(batch_keys, e.values.data());
      progress.advance(end - begin);
    }
    progress.finish();
    return out;
  }

  RetrieverConfig config_;
  std::shared_ptr<const provider::EmbeddingProvider> provider_;
  std::string revision_;        // model files' fingerprint, or a hash of the endpoint identity
  std::string cache_identity_;  // everything that changes a vector
  std::optional<EmbeddingCache> cache_;
  embed::Embeddings docs_;
};

}  // namespace

std::unique_ptr<Retriever> make_dense_retriever(const RetrieverConfig& config) {
  return std::make_unique<DenseRetriever>(config);
}

}  // namespace memembed::eval
