// The BM25 baseline (`--model bm25`), so the harness runs without any neural model. The formula,
// tokens and parameters are retrieval's (memembed/retrieval.h), the same the memory store serves.
// N, df and avgdl come from the whole corpus file of the subset (candidate filtering happens after
// scoring, as for every retriever). Scores are handed out as float32, like every other score.
#pragma once

#include "memembed/retrieval.h"
#include "retriever.h"

#include <string>
#include <vector>

namespace memembed::eval {

using retrieval::Bm25Index;
using retrieval::Bm25Parameters;
using retrieval::bm25_tokenize;

class Bm25Retriever : public Retriever {
 public:
  explicit Bm25Retriever(Bm25Parameters parameters = {}) : parameters_(parameters) {}
  std::string model_name() const override { return "bm25"; }
  std::string model_revision() const override;
  std::string settings() const override;
  void index(const Corpus& corpus) override;
  void score(const std::vector<std::string>& queries, std::vector<float>& scores) override;

 private:
  Bm25Parameters parameters_;
  Bm25Index index_;
  std::vector<double> row_;
};

}  // namespace memembed::eval
