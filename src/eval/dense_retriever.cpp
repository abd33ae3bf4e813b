#include "dense_retriever.h"

#include "embedding_cache.h"
#include "memembed/embed.h"
#include "memembed/error.h"
#include "memembed/json_io.h"
#include "memembed/progress.h"
#include "memembed/retrieval.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <numeric>
#include <optional>
#include <sstream>

namespace memembed::eval {

namespace fs = std::filesystem;

namespace {

class DenseRetriever : public Retriever {
 public:
  explicit DenseRetriever(const RetrieverConfig& config)
      : config_(config),
        encoder_(config.model, make_options(config)),
        fingerprint_(embed::model_fingerprint(config.model)) {
    if (!config.cache_dir.empty()) {
      // The cache key covers everything that changes a vector: the weights and files, the
      // truncation length, the output dimension and a precision other than f32.
      const std::string key = to_hex(sha256(fmt::format("{}\n{}\n{}\n{}{}", encoder_.model_name(), fingerprint_,
                                                        encoder_.max_seq_length(), encoder_.dimension(),
                                                        precision_suffix("\nprecision="))));
      cache_.emplace(config.cache_dir, encoder_.model_name() + "-" + key.substr(0, 16), encoder_.dimension());
    }
  }

  std::string model_name() const override { return encoder_.model_name(); }
  std::string model_revision() const override { return fingerprint_.substr(0, 12); }
  std::string settings() const override {
    return fmt::format("dense cosine max_seq_length={} dim={}{}", encoder_.max_seq_length(), encoder_.dimension(),
                       precision_suffix(" precision="));
  }
  size_t query_block() const override { return 512; }

  void index(const Corpus& corpus) override {
    docs_ = embed_all(corpus.texts, "documents");
  }

  void score(const std::vector<std::string>& queries, std::vector<float>& scores) override {
    const embed::Embeddings q = embed_all(queries, "queries");
    retrieval::dot_products(q.values.data(), q.rows, docs_.values.data(), docs_.rows, docs_.dim,
                            config_.threads, scores);
  }

 private:
  // `label` + the precision the linear layers ran at; empty for f32, so f32 keys and settings read
  // as they did before precisions existed.
  std::string precision_suffix(const char* label) const {
    const Precision ran = encoder_.precision().effective;
    return ran == Precision::F32 ? std::string() : label + std::string(to_string(ran));
  }

  static embed::EncoderOptions make_options(const RetrieverConfig& config) {
    embed::EncoderOptions options;
    options.threads = config.threads;
    options.max_seq_length = config.max_tokens;
    options.max_batch_size = config.batch_size;
    options.precision = config.precision;
    return options;
  }

  // Embeds `texts`, taking what the cache has and appending what it lacks, chunk by chunk so an
  // interrupted run keeps its work.
  embed::Embeddings embed_all(const std::vector<std::string>& texts, const char* what) {
    const size_t dim = encoder_.dimension();
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
    Progress progress(fmt::format("embedding {} ({})", what, encoder_.model_name()), missing.size(), what);
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
      const embed::Embeddings e = encoder_.encode(batch);
      if (e.rows != batch.size() || e.dim != dim) {
        throw make_error(ErrorKind::Internal, "encoder returned {}x{} for {} texts of dimension {}",
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
  embed::Encoder encoder_;
  std::string fingerprint_;
  std::optional<EmbeddingCache> cache_;
  embed::Embeddings docs_;
};

}  // namespace

std::unique_ptr<Retriever> make_dense_retriever(const RetrieverConfig& config) {
  return std::make_unique<DenseRetriever>(config);
}

}  // namespace memembed::eval
