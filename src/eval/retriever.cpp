#include "retriever.h"

#include "bm25.h"
#include "memembed/error.h"

#ifdef MEMEMBED_EVAL_WITH_EMBED
#include "dense_retriever.h"
#endif

namespace memembed::eval {

std::unique_ptr<Retriever> make_retriever(const RetrieverConfig& config) {
  if (config.model == "bm25" || config.model == "BM25") return std::make_unique<Bm25Retriever>();
#ifdef MEMEMBED_EVAL_WITH_EMBED
  if (config.model.rfind("hybrid:", 0) == 0) return make_hybrid_retriever(config);
  return make_dense_retriever(config);
#else
  throw unsupported(
      "--model {}: this memembed was built without the embedding engine; only --model bm25 works",
      config.model);
#endif
}

}  // namespace memembed::eval
