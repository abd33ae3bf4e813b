// The BM25 baseline (`--model bm25`), so the harness runs without any neural model.
//
// Okapi BM25 with Lucene's (and Anserini's) formula and Anserini's default parameters:
//   score(q, d) = sum over query tokens t of  idf(t) * tf(t,d) * (k1 + 1) / (tf(t,d) + k1 * (1 - b + b * |d| / avgdl))
//   idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5)),   k1 = 0.9, b = 0.4
// A query token that repeats counts each time. Tokens are maximal runs of Unicode letters, marks
// and digits, lowercased (so "Don't" -> "don", "t"; "Café" -> "café"), minus Lucene's 33 English
// stopwords. N, df and avgdl come from the whole corpus file of the subset (candidate filtering
// happens after scoring, as for every retriever). Scores are accumulated in double and handed
// out as float32, like every other score.
#pragma once

#include "retriever.h"

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace memembed::eval {

struct Bm25Parameters {
  double k1 = 0.9;
  double b = 0.4;
};

std::vector<std::string> bm25_tokenize(std::string_view text);

class Bm25Index {
 public:
  Bm25Index() = default;
  Bm25Index(const std::vector<std::string>& documents, Bm25Parameters parameters);

  size_t size() const { return norms_.size(); }
  // out[d] = BM25 score of document d (out is resized to size()).
  void score(std::string_view query, std::vector<double>& out) const;

 private:
  struct Posting {
    uint32_t doc;
    uint32_t tf;
  };
  Bm25Parameters parameters_;
  std::unordered_map<std::string, uint32_t> terms_;
  std::vector<std::vector<Posting>> postings_;
  std::vector<double> idf_;
  std::vector<double> norms_;  // k1 * (1 - b + b * |d| / avgdl)
};

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
