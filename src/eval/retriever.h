// The retrieval interface the harness evaluates: BM25 and dense embedding models implement it.
//
// Batch-first, as in faiss: one call scores a block of queries against every document of the
// indexed corpus, so the inner loops are not virtual. Candidate-scene filtering and top-k
// selection happen in the harness, identically for every retriever.
#pragma once

#include "memembed/retrieval.h"
#include "memembed/precision.h"
#include "memembed/provider.h"
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
  // Scores each query within its scope (its scene's candidates; nullptr = the whole corpus), as a
  // store filters inside the search. Only retrievers whose ranking depends on the candidate set
  // (hybrid fusion) need to override it; scores outside a scope are never read.
  virtual void score_in_scopes(const std::vector<std::string>& queries,
                               const std::vector<const std::vector<uint32_t>*>& scopes, std::vector<float>& scores) {
    score(queries, scores);
  }
  // How many queries the harness should hand over per score() call.
  virtual size_t query_block() const { return 256; }
};

struct RetrieverConfig {
  std::string model;           // "bm25", a model address (provider.h), or "hybrid:" + one
  size_t max_tokens = 1024;
  int threads = 0;
  size_t batch_size = 64;
  Precision precision = Precision::F32;
  std::filesystem::path cache_dir;  // empty: no embedding cache
  const std::atomic<bool>* stop = nullptr;
  retrieval::FusionOptions fusion;  // hybrid: BM25 + dense fusion, as the memory store does it
  size_t fusion_depth = retrieval::kDefaultCandidateDepth;
  provider::RemoteOptions remote;   // an openai:URL#MODEL model's client settings
};

// "bm25" gives the BM25 baseline; "hybrid:DIR" the memory store's BM25 + dense fusion with model
// DIR; anything else is loaded as an embedding model (Unsupported when this build has no
// embedding engine).
std::unique_ptr<Retriever> make_retriever(const RetrieverConfig& config);

struct EvalOptions;
// The retriever settings of an evaluation (model, engine, embedding cache, fusion, endpoint client).
RetrieverConfig retriever_config(const EvalOptions& options);

}  // namespace memembed::eval
