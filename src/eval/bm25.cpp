#include "bm25.h"

#include <fmt/format.h>

namespace memembed::eval {

std::string Bm25Retriever::model_revision() const {
  return fmt::format("k1={},b={}", parameters_.k1, parameters_.b);
}

std::string Bm25Retriever::settings() const {
  return fmt::format("bm25 k1={} b={} tokens=unicode-alnum-lower stopwords=lucene33",
                     parameters_.k1, parameters_.b);
}

void Bm25Retriever::index(const Corpus& corpus) { index_ = Bm25Index(corpus.texts, parameters_); }

void Bm25Retriever::score(const std::vector<std::string>& queries, std::vector<float>& scores) {
  const size_t n = index_.size();
  scores.resize(queries.size() * n);
  for (size_t q = 0; q < queries.size(); ++q) {
    index_.score(queries[q], row_);
    float* out = scores.data() + q * n;
    for (size_t d = 0; d < n; ++d) out[d] = static_cast<float>(row_[d]);
  }
}

}  // namespace memembed::eval
