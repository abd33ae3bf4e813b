// PostgreSQL backend search benchmarks (docs/memory.md, "PostgreSQL backend"), against an existing
// database ($MEMEMBED_BENCH_DATABASE_URL, e.g. populated with `memembed memory import --database`):
// BM25 top-k computed in this process (the lexical mirror) vs aggregated in SQL (the earlier
// path, the baseline of the ratio), with the store's filter (one agent) and candidate depth; dense
// search in the active vector set (pgvector HNSW with iterative scans, or exact); and opening the
// backend, which loads the mirror. Wall-clock time: the SQL path spends its CPU in the server.
// Queries come from embed::synthetic_workload, as the memories of serve_load do. Run with
// --benchmark_enable_random_interleaving=true --benchmark_repetitions=N so load from other
// processes falls on both sides of a ratio alike.
#include "memembed/embed.h"
#include "memembed/postgres.h"
#include "memembed/retrieval.h"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstdlib>
#include <string>

namespace {

using namespace memembed;
using namespace memembed::memory;

const char* database_url() { return std::getenv("MEMEMBED_BENCH_DATABASE_URL"); }

struct Fixture {
  std::unique_ptr<MemoryBackend> in_memory, in_sql;
  std::vector<std::string> queries = embed::synthetic_workload(200, 7);
  int64_t active_set = 0;
  std::vector<std::vector<float>> query_vectors;  // stored vectors of the active set as queries

  Fixture() {
    in_memory = postgres::open_postgres_backend(database_url());
    postgres::PostgresOptions sql;
    sql.lexical_in_memory = false;
    in_sql = postgres::open_postgres_backend(database_url(), sql);
    for (const VectorSet& set : in_memory->vector_sets()) {
      if (set.state == VectorSetState::Active) active_set = set.id;
    }
    if (active_set != 0) {
      std::vector<std::string> ids;
      for (const MemoryEntry& entry : in_memory->scan("", 50)) ids.push_back(entry.id);
      for (auto& [id, values] : in_memory->vectors(active_set, ids)) query_vectors.push_back(std::move(values));
    }
  }
  static Fixture& get() {
    static Fixture fixture;
    return fixture;
  }
};

Filter agent_filter(size_t i) {
  Filter filter;
  filter.agent_id = fmt::format("agent-{}", i % 10);
  filter.now = now_micros();
  return filter;
}

void BM_Bm25(benchmark::State& state, bool in_memory) {
  if (!database_url()) return state.SkipWithError("MEMEMBED_BENCH_DATABASE_URL is not set");
  Fixture& f = Fixture::get();
  MemoryBackend& backend = in_memory ? *f.in_memory : *f.in_sql;
  size_t i = 0, found = 0;
  for (auto _ : state) {
    found += backend.lexical_search(agent_filter(i), f.queries[i % f.queries.size()], retrieval::kDefaultCandidateDepth).size();
    ++i;
  }
  state.counters["results"] = benchmark::Counter(static_cast<double>(found), benchmark::Counter::kAvgIterations);
}

void BM_Dense(benchmark::State& state) {
  if (!database_url()) return state.SkipWithError("MEMEMBED_BENCH_DATABASE_URL is not set");
  Fixture& f = Fixture::get();
  if (f.query_vectors.empty()) return state.SkipWithError("the database has no active vector set");
  size_t i = 0, found = 0;
  for (auto _ : state) {
    found += f.in_memory->dense_search(agent_filter(i), f.active_set, f.query_vectors[i % f.query_vectors.size()],
                                       retrieval::kDefaultCandidateDepth).size();
    ++i;
  }
  state.counters["results"] = benchmark::Counter(static_cast<double>(found), benchmark::Counter::kAvgIterations);
}

void BM_OpenLoadsTheMirror(benchmark::State& state) {
  if (!database_url()) return state.SkipWithError("MEMEMBED_BENCH_DATABASE_URL is not set");
  for (auto _ : state) benchmark::DoNotOptimize(postgres::open_postgres_backend(database_url()));
}

BENCHMARK_CAPTURE(BM_Bm25, in_memory, true)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);
BENCHMARK_CAPTURE(BM_Bm25, in_sql, false)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);
BENCHMARK(BM_Dense)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3);
BENCHMARK(BM_OpenLoadsTheMirror)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
