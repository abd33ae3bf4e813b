#include "bm25.h"
#include "dense_retriever.h"

#include <fmt/format.h>

namespace memembed::eval {

namespace {

class HybridRetriever : public Retriever {
 public:
  explicit HybridRetriever(const RetrieverConfig& config)
      : fusion_(config.fusion), depth_(config.fusion_depth), dense_(make_dense_retriever(dense_config(config))) {}

  std::string model_name() const override { return "hybrid:" + dense_->model_name(); }
  std::string model_revision() const override { return dense_->model_revision(); }
  std::string settings() const override {
    return fmt::format("hybrid fusion={} weight={} depth={} | {} | {}", retrieval::to_string(fusion_.method),
                       fusion_.weight, depth_, bm25_.settings(), dense_->settings());
  }
  size_t query_block() const override { return dense_->query_block(); }

  void index(const Corpus& corpus) override {
    bm25_.index(corpus);
    dense_->index(corpus);
    docs_ = corpus.texts.size();
  }

  void score(const std::vector<std::string>& queries, std::vector<float>& scores) override {
    score_in_scopes(queries, std::vector<const std::vector<uint32_t>*>(queries.size(), nullptr), scores);
  }

  void score_in_scopes(const std::vector<std::string>& queries, const std::vector<const std::vector<uint32_t>*>& scopes,
                       std::vector<float>& scores) override {
    bm25_.score(queries, lexical_);
    dense_->score(queries, dense_scores_);
    scores.assign(queries.size() * docs_, 0.0f);
    for (size_t q = 0; q < queries.size(); ++q) {
      const auto fused = retrieval::fuse_rows(lexical_.data() + q * docs_, dense_scores_.data() + q * docs_, docs_,
                                              scopes[q], depth_, fusion_);
      // Documents outside both candidate lists rank below every fused one.
      const float floor = fused.empty() ? 0.0f : static_cast<float>(fused.back().score) - 1.0f;
      float* row = scores.data() + q * docs_;
      std::fill(row, row + docs_, floor);
      for (const retrieval::Scored& s : fused) row[s.key] = static_cast<float>(s.score);
    }
  }

 private:
  static RetrieverConfig dense_config(RetrieverConfig config) {
    config.model = config.model.substr(std::string("hybrid:").size());
    return config;
  }

  retrieval::FusionOptions fusion_;
  size_t depth_;
  Bm25Retriever bm25_;
  std::unique_ptr<Retriever> dense_;
  size_t docs_ = 0;
  std::vector<float> lexical_, dense_scores_;
};

}  // namespace

std::unique_ptr<Retriever> make_hybrid_retriever(const RetrieverConfig& config) {
  return std::make_unique<HybridRetriever>(config);
}

}  // namespace memembed::eval
