// The retrieval interface the harness evaluates: BM25 and dense embedding models implement it.
//
// Batch-first, as in faiss: one call scores a block of queries against every document of the
// indexed corpus, so the inner loops are not virtual. Candidate-scene filtering and top-k
// selection happen in the harness, identically for every retriever.
#pragma once

#include "memembed/precision.h"
#include "task_loader.h"

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace memembed::eval {


class Retriever {
 public:
  virtual ~Retriever() = default;

  virtual std::string model_name() const = 0;
  virtual std::string model_revision() const = 0;
  // Settings that change scores, recorded in results so a rerun with other settings is caught.
  virtual std::string settings() const = 0;

  // Prepares `corpus` for scoring. Called again only when a subset uses another corpus.
  virtual void index(const Corpus& corpus) = 0;
  // scores = [queries.size() x corpus size] float32, row-major, higher is more relevant.
  virtual void score(const std::vector<std::string>& queries, std::vector<float>& scores) = 0;
  // How many queries the harness should hand over per score() call.
  virtual size_t query_block() const { return 256; }
};

struct RetrieverConfig {
  std::string model;           // "bm25" or a model directory
  size_t max_tokens = 1024;
  int threads = 0;
  size_t batch_size = 64;
  Precision precision = Precision::F32;
  std::filesystem::path cache_dir;  // empty: no embedding cache
  const std::atomic<bool>* stop = nullptr;
};

// "bm25" gives the BM25 baseline; anything else is loaded as an embedding model (Unsupported when
// this build has no embedding engine).
std::unique_ptr<Retriever> make_retriever(const RetrieverConfig& config);

}  // namespace memembed::eval
