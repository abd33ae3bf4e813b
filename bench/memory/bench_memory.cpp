// Memory store benchmarks (docs/memory.md): inserts/s, search latency at 10k and 100k memories of
// one agent with 384-dim vectors, and (with $MEMEMBED_BENCH_MODEL, e.g. build/bench-models/
// all-MiniLM-L6-v2 from scripts/make-bench-models.sh) the same with the query embedded by a model.
//
// Vectors are random unit vectors (the store's cost does not depend on what they mean); the
// "embedding excluded" runs get them from a hash of the text, so only the store is measured.
// p50/p99 counters are per-search latencies over the iterations of one run.
#include "memembed/embed.h"
#include "memembed/memory.h"
#include "memembed/retrieval.h"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>

namespace {

using namespace memembed;
using namespace memembed::memory;
namespace fs = std::filesystem;

constexpr size_t kDims = 384;

// Deterministic pseudo-random unit vector per text: the store's work without a model's.
class HashEmbedder : public Embedder {
 public:
  ModelIdentity identity() const override { return {"hash-384", "hash-384", kDims}; }
  embed::Embeddings embed_documents(const std::vector<std::string>& texts) const override {
    embed::Embeddings e;
    e.rows = texts.size();
    e.dim = kDims;
    e.values.resize(e.rows * kDims);
    for (size_t i = 0; i < texts.size(); ++i) {
      std::mt19937_64 random(std::hash<std::string>{}(texts[i]));
      std::normal_distribution<float> normal;
      for (size_t d = 0; d < kDims; ++d) e.row(i)[d] = normal(random);
    }
    return e;
  }
  embed::Embeddings embed_queries(const std::vector<std::string>& texts, std::optional<Category>) const override {
    return embed_documents(texts);
  }
};

fs::path bench_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("memembed_bench_memory_" + name);
  return dir;
}

// A store with `n` memories of one agent, built once per size (bulk-loaded through the backend).
MemoryStore& store_with(size_t n, std::shared_ptr<const Embedder> embedder) {
  static std::map<std::pair<size_t, std::string>, std::unique_ptr<MemoryStore>> stores;
  const auto key = std::make_pair(n, embedder->identity().fingerprint);
  auto& slot = stores[key];
  if (slot) return *slot;
  const fs::path dir = bench_dir(fmt::format("{}_{}", n, embedder->identity().name));
  fs::remove_all(dir);
  StoreOptions options;
  options.embedder = embedder;
  slot = std::make_unique<MemoryStore>(open_sqlite_backend(dir), options);
  const int64_t set = slot->backend().vector_sets().front().id;
  const std::vector<std::string> texts = embed::synthetic_workload(n, 7);
  HashEmbedder hash;
  const auto now = now_micros();
  std::vector<MemoryWrite> batch;
  for (size_t i = 0; i < n; ++i) {
    MemoryWrite w;
    w.entry.id = fmt::format("{:08}", i);
    w.entry.agent_id = "agent";
    w.entry.namespace_ = "default";
    w.entry.content = texts[i];
    w.entry.created_at = w.entry.updated_at = now - static_cast<Timestamp>(n - i) * 1000000;
    embed::Embeddings v = hash.embed_documents({texts[i]});
    retrieval::l2_normalize(v.values.data(), kDims);
    if (embedder->identity().dims == kDims) w.vectors.push_back({set, v.values});
    batch.push_back(std::move(w));
    if (batch.size() == 5000) {
      slot->backend().put(batch);
      batch.clear();
    }
  }
  slot->backend().put(batch);
  return *slot;
}

void report_percentiles(benchmark::State& state, std::vector<double>& micros) {
  if (micros.empty()) return;
  std::sort(micros.begin(), micros.end());
  state.counters["p50_us"] = micros[micros.size() / 2];
  state.counters["p99_us"] = micros[std::min(micros.size() - 1, micros.size() * 99 / 100)];
}

void search_benchmark(benchmark::State& state, std::shared_ptr<const Embedder> embedder) {
  const size_t n = static_cast<size_t>(state.range(0));
  MemoryStore& store = store_with(n, std::make_shared<HashEmbedder>());
  const std::vector<std::string> queries = embed::synthetic_workload(200, 99);
  std::vector<double> micros;
  size_t i = 0;
  Query q;
  q.limit = 10;
  for (auto _ : state) {
    q.text = queries[i++ % queries.size()].substr(0, 80);
    const auto start = std::chrono::steady_clock::now();
    if (embedder) benchmark::DoNotOptimize(embedder->embed_queries({*q.text}, std::nullopt));
    benchmark::DoNotOptimize(store.retrieve("agent", q));
    micros.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
  }
  report_percentiles(state, micros);
}

// Hybrid search (BM25 + exact dense, fusion, recency), query embedding excluded.
void BM_HybridSearch(benchmark::State& state) { search_benchmark(state, nullptr); }
BENCHMARK(BM_HybridSearch)->Arg(10000)->Arg(100000)->Unit(benchmark::kMicrosecond)->Iterations(300);

// The same with the query embedded by a real encoder first ($MEMEMBED_BENCH_MODEL).
void BM_HybridSearchWithQueryEmbedding(benchmark::State& state) {
  const char* model = std::getenv("MEMEMBED_BENCH_MODEL");
  if (!model) {
    state.SkipWithError("set MEMEMBED_BENCH_MODEL to a 384-dim model directory");
    return;
  }
  static auto embedder = load_model_embedder(model, embed::EncoderOptions{1});
  search_benchmark(state, embedder);
}
BENCHMARK(BM_HybridSearchWithQueryEmbedding)->Arg(10000)->Arg(100000)->Unit(benchmark::kMicrosecond)->Iterations(100);

// Acknowledged inserts through MemoryStore::store (validation, embedding by hash, one durable
// transaction each: synchronous=FULL fsyncs the WAL per insert).
void BM_Insert(benchmark::State& state) {
  const fs::path dir = bench_dir("insert");
  fs::remove_all(dir);
  StoreOptions options;
  options.embedder = std::make_shared<HashEmbedder>();
  MemoryStore store(open_sqlite_backend(dir), options);
  const std::vector<std::string> texts = embed::synthetic_workload(1000, 3);
  size_t i = 0;
  for (auto _ : state) {
    StoreRequest r;
    r.content = texts[i++ % texts.size()];
    benchmark::DoNotOptimize(store.store("agent", r));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Insert)->Unit(benchmark::kMicrosecond)->Iterations(500);

}  // namespace

BENCHMARK_MAIN();
