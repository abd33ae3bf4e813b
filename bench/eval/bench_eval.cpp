// Eval speed: scoring a 1,000,000-line TREC run (what `memembed eval score` does: read run and
// qrels, sort, all measures at the nine cutoffs) and BM25 over the shared LMEB dev subsets.
//
// The run is generated deterministically (SplitMix64, seed 42): 1000 queries x 1000 documents,
// scores with 3 decimals so ties occur, 10 judged documents per query (5 relevant, graded 1-2).
// MEMEMBED_BENCH_KEEP=DIR keeps run.trec and qrels.trec there, e.g. to time trec_eval on the same
// files: trec_eval -c -m ndcg_cut.1,3,5,10,20,25,50,100,1000 -m map_cut... qrels.trec run.trec
#include "memembed/eval.h"
#include "metrics.h"
#include "qrels.h"
#include "run_file.h"
#include "scoring.h"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace memembed::eval;

namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

struct GeneratedRun {
  fs::path dir;
  fs::path run;
  fs::path qrels;
};

const GeneratedRun& generated_run() {
  static const GeneratedRun files = [] {
    GeneratedRun g;
    const char* keep = std::getenv("MEMEMBED_BENCH_KEEP");
    g.dir = keep ? fs::path(keep) : fs::temp_directory_path() / "memembed_bench_eval";
    fs::create_directories(g.dir);
    g.run = g.dir / "run.trec";
    g.qrels = g.dir / "qrels.trec";
    uint64_t state = 42;
    std::ofstream run(g.run, std::ios::binary);
    std::ofstream qrels(g.qrels, std::ios::binary);
    std::string buffer;
    for (int q = 0; q < 1000; ++q) {
      for (int d = 0; d < 1000; ++d) {
        const double score = static_cast<double>(splitmix64(state) % 100000) / 1000.0;
        buffer += fmt::format("q{} Q0 doc{} {} {:.3f} bench\n", q, (q * 7919 + d * 104729) % 50000, d + 1, score);
      }
      for (int j = 0; j < 10; ++j) {
        const int doc = (q * 7919 + static_cast<int>(splitmix64(state) % 1200) * 104729) % 50000;
        qrels << fmt::format("q{} 0 doc{} {}\n", q, doc, j < 5 ? 1 + j % 2 : 0);
      }
      run << buffer;
      buffer.clear();
    }
    return g;
  }();
  return files;
}

void BM_ScoreRun1M(benchmark::State& state) {
  const GeneratedRun& files = generated_run();
  const MetricSet set;
  for (auto _ : state) {
    const Qrels qrels = Qrels::read(files.qrels);
    const TrecRun run = TrecRun::read(files.run);
    const ScoreReport report = score_run(qrels, run, set, /*trec_eval_mean=*/false);
    benchmark::DoNotOptimize(report.mean.data());
  }
  state.counters["lines/s"] = benchmark::Counter(1e6, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_ScoreRun1M)->Unit(benchmark::kMillisecond)->MinTime(3.0);

void BM_ScoreRun1MParseOnly(benchmark::State& state) {
  const GeneratedRun& files = generated_run();
  for (auto _ : state) {
    const TrecRun run = TrecRun::read(files.run);
    benchmark::DoNotOptimize(run.num_queries());
  }
}
BENCHMARK(BM_ScoreRun1MParseOnly)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// BM25 over all 26 shared dev subsets: load, index, retrieve, rank, measure (no files written).
void BM_Bm25AllDevSubsets(benchmark::State& state) {
  const fs::path tasks = fs::path(MEMEMBED_SHARED_DIR) / "lmeb";
  if (!fs::exists(tasks)) {
    state.SkipWithError("shared LMEB dev tasks not found");
    return;
  }
  EvalOptions options;
  options.tasks = tasks;
  options.model = "bm25";
  options.use_cache = false;
  size_t subsets = 0;
  for (auto _ : state) {
    const EvalResult result = run_evaluation(options);
    subsets = result.subsets.size();
  }
  state.counters["subsets"] = static_cast<double>(subsets);
}
BENCHMARK(BM_Bm25AllDevSubsets)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
