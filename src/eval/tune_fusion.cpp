// `eval tune-fusion --tasks`: the fusion weight chosen on evaluation queries.
#include "memembed/error.h"
#include "memembed/eval.h"
#include "memembed/progress.h"
#include "retriever.h"
#include "task_layout.h"
#include "task_loader.h"

#include <fmt/format.h>

namespace memembed::eval {

retrieval::FusionTuning tune_fusion_on_tasks(const EvalOptions& options, double confidence) {
  const std::vector<SubsetSpec> specs = discover_subsets(options.tasks, DiscoveryOptions{options.split, options.memory_type});
  RetrieverConfig config = retriever_config(options);
  config.cache_dir = options.cache_dir;  // tune-fusion caches embeddings only where it is told to
  std::unique_ptr<Retriever> dense = make_retriever(config);
  config.model = "bm25";
  std::unique_ptr<Retriever> bm25 = make_retriever(config);
  retrieval::FusionTuner tuner(options.fusion, retrieval::kDefaultCandidateDepth, retrieval::FusionTuner::kDefaultGrid, confidence);
  TaskLoader loader;
  const Corpus* indexed = nullptr;
  std::vector<float> lexical, cosine;
  Progress progress("tune-fusion", specs.size(), "subsets");
  for (const SubsetSpec& spec : specs) {
    if (options.stop && options.stop->load()) break;
    const LoadedSubset data = loader.load(spec);
    if (indexed != data.corpus.get()) {
      bm25->index(*data.corpus);
      dense->index(*data.corpus);
      indexed = data.corpus.get();
    }
    const size_t n = data.corpus->texts.size();
    bm25->score(data.queries.texts, lexical);
    dense->score(data.queries.texts, cosine);
    for (size_t q = 0; q < data.queries.texts.size(); ++q) {
      std::vector<uint32_t> relevant;
      for (const auto& [doc, relevance] : data.judged_docs[q]) {
        if (relevance >= 1) relevant.push_back(doc);
      }
      tuner.add_query(lexical.data() + q * n, cosine.data() + q * n, n, data.candidates[q], relevant);
    }
    progress.advance();
  }
  progress.finish();
  return tuner.result();
}

}  // namespace memembed::eval
