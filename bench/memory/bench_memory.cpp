// Memory store benchmarks (docs/memory.md, "Search speed"): inserts/s; hybrid search latency at
// 10k and 100k memories of one agent with 384-dim vectors, with the query embedding excluded
// (vectors from a hash of the text) and included (the query embedded first by a real model,
// static-glove-25d from ../shared/fixtures or $MEMEMBED_BENCH_MODEL); the same searches on the
// earlier path (BM25 by FTS5 in SQL, exact dense scan) as the baseline of a ratio; and HNSW
// recall@10 against exact search with its build time.
//
// Vectors lie near a 32-dimensional subspace with noise, as embeddings do (uniformly random unit
// vectors have no meaningful neighbours, which no ANN index - nor any model - produces). Texts
// and queries come from embed::synthetic_workload: every query shares several common words with
// most memories, a hard case for BM25 top-k. p50/p99 counters are per-search microseconds.
#include "memembed/embed.h"
#include "memembed/memory.h"
#include "memembed/retrieval.h"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

namespace {

using namespace memembed;
using namespace memembed::memory;
namespace fs = std::filesystem;

constexpr size_t kDims = 384;
constexpr size_t kRank = 32;

// Deterministic vector per text near a fixed kRank-dimensional subspace.
class StructuredHashEmbedder : public Embedder {
 public:
  StructuredHashEmbedder() : basis_(kDims * kRank) {
    std::mt19937_64 random(1234);
    std::normal_distribution<float> normal;
    for (float& x : basis_) x = normal(random);
  }
  ModelIdentity identity() const override { return {"hash-384", "hash-384-rank32", kDims}; }
  embed::Embeddings embed_documents(const std::vector<std::string>& texts) const override {
    embed::Embeddings e;
    e.rows = texts.size();
    e.dim = kDims;
    e.values.assign(e.rows * kDims, 0.0f);
    for (size_t i = 0; i < texts.size(); ++i) {
      std::mt19937_64 random(std::hash<std::string>{}(texts[i]));
      std::normal_distribution<float> normal;
      float z[kRank];
      for (float& x : z) x = normal(random);
      float* row = e.row(i);
      for (size_t d = 0; d < kDims; ++d) {
        for (size_t r = 0; r < kRank; ++r) row[d] += basis_[d * kRank + r] * z[r];
        row[d] += 0.5f * normal(random);
      }
      retrieval::l2_normalize(row, kDims);
    }
    return e;
  }
  embed::Embeddings embed_queries(const std::vector<std::string>& texts, std::optional<Category>) const override {
    return embed_documents(texts);
  }

 private:
  std::vector<float> basis_;
};

std::shared_ptr<const Embedder> hash_embedder() {
  static const auto embedder = std::make_shared<StructuredHashEmbedder>();
  return embedder;
}

enum class Path { InMemory = 0, SqlBaseline = 1 };

fs::path data_dir(size_t n) { return fs::temp_directory_path() / fmt::format("memembed_bench_memory_{}", n); }

// The memories of one agent, written once per size (batches through the backend) and reused.
void ensure_data(size_t n) {
  const fs::path dir = data_dir(n);
  if (fs::exists(dir / "complete")) return;
  fs::remove_all(dir);
  SqliteOptions options;
  options.ann_threshold = 0;
  StoreOptions store_options;
  store_options.embedder = hash_embedder();
  MemoryStore store(open_sqlite_backend(dir, options), store_options);
  const int64_t set = store.backend().vector_sets().front().id;
  const std::vector<std::string> texts = embed::synthetic_workload(n, 7);
  const Timestamp now = now_micros();
  std::vector<MemoryWrite> batch;
  for (size_t i = 0; i < n; ++i) {
    MemoryWrite w;
    w.entry.id = fmt::format("{:08}", i);
    w.entry.agent_id = "agent";
    w.entry.namespace_ = i % 10 == 0 ? "projects" : "default";
    w.entry.content = texts[i];
    w.entry.created_at = w.entry.updated_at = now - static_cast<Timestamp>(n - i) * 1000000;
    const embed::Embeddings v = hash_embedder()->embed_documents({texts[i]});
    w.vectors.push_back({set, std::vector<float>(v.values.begin(), v.values.end())});
    batch.push_back(std::move(w));
    if (batch.size() == 5000) {
      store.backend().put(batch);
      batch.clear();
    }
  }
  store.backend().put(batch);
  std::ofstream(dir / "complete") << n;
}

// Per size one open store (a data directory admits one opener), reopened when the other path is
// asked for; the benchmarks are registered so that each store is built and opened once per path.
struct OpenStore {
  size_t n = 0;
  Path path = Path::InMemory;
  std::unique_ptr<MemoryStore> store;
  double open_seconds = 0;
};

MemoryStore& open_store(size_t n, Path path, double* open_seconds = nullptr) {
  static std::map<size_t, OpenStore> stores;
  OpenStore& current = stores[n];
  if (!current.store || current.path != path) {
    current.store.reset();
    ensure_data(n);
    SqliteOptions options;
    options.ann_in_background = false;  // the graph is built while opening, timed below
    if (path == Path::SqlBaseline) {
      options.lexical_in_memory = false;
      options.ann_threshold = 0;
    }
    StoreOptions store_options;
    store_options.embedder = hash_embedder();
    const auto start = std::chrono::steady_clock::now();
    current.store = std::make_unique<MemoryStore>(open_sqlite_backend(data_dir(n), options), store_options);
    current.open_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    current.n = n;
    current.path = path;
  }
  if (open_seconds) *open_seconds = current.open_seconds;
  return *current.store;
}

void report_percentiles(benchmark::State& state, std::vector<double>& micros) {
  if (micros.empty()) return;
  std::sort(micros.begin(), micros.end());
  state.counters["p50_us"] = micros[micros.size() / 2];
  state.counters["p99_us"] = micros[std::min(micros.size() - 1, micros.size() * 99 / 100)];
}

// Long queries: the first 80 characters of a workload text (about 13 words, most of them common
// across the memories - the worst case for BM25 top-k, as in earlier measurements); short ones:
// its first 4 words.
enum QueryLength { kLong = 0, kShort = 1 };
const std::vector<std::string>& queries(QueryLength length = kLong) {
  static const std::array<std::vector<std::string>, 2> texts = [] {
    std::vector<std::string> long_queries, short_queries;
    for (const std::string& t : embed::synthetic_workload(200, 99)) {
      long_queries.push_back(t.substr(0, 80));
      size_t end = 0;
      for (int words = 0; words < 4 && end != std::string::npos; ++words) end = t.find(' ', end + 1);
      short_queries.push_back(t.substr(0, end));
    }
    return std::array<std::vector<std::string>, 2>{long_queries, short_queries};
  }();
  return texts[length];
}

std::shared_ptr<const Embedder> query_model() {
  static const std::shared_ptr<const Embedder> model = [] {
    const char* chosen = std::getenv("MEMEMBED_BENCH_MODEL");
    return load_model_embedder(chosen ? chosen : MEMEMBED_SHARED_DIR "/fixtures/static-glove-25d", embed::EncoderOptions{1});
  }();
  return model;
}

// Hybrid search (BM25 + dense, z-score fusion, recency) of one agent's memories, limit 10.
void search_benchmark(benchmark::State& state, Path path, bool embed_query) {
  const size_t n = static_cast<size_t>(state.range(0));
  const auto& texts = queries(static_cast<QueryLength>(state.range(1)));
  double open_seconds = 0;
  MemoryStore& store = open_store(n, path, &open_seconds);
  const auto model = embed_query ? query_model() : nullptr;
  std::vector<double> micros;
  size_t i = 0;
  Query q;
  q.limit = 10;
  for (auto _ : state) {
    q.text = texts[i++ % texts.size()];
    const auto start = std::chrono::steady_clock::now();
    if (model) benchmark::DoNotOptimize(model->embed_queries({*q.text}, std::nullopt));
    benchmark::DoNotOptimize(store.retrieve("agent", q));
    micros.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
  }
  report_percentiles(state, micros);
  state.counters["open_s"] = open_seconds;
}

// Arguments: memories, query length (0 long, 1 short).
void BM_HybridSearch(benchmark::State& state) { search_benchmark(state, Path::InMemory, false); }
BENCHMARK(BM_HybridSearch)->Args({10000, kLong})->Args({100000, kLong})->Args({100000, kShort})
    ->Unit(benchmark::kMicrosecond)->Iterations(400);

void BM_HybridSearchWithQueryEmbedding(benchmark::State& state) { search_benchmark(state, Path::InMemory, true); }
BENCHMARK(BM_HybridSearchWithQueryEmbedding)->Args({10000, kLong})->Args({100000, kLong})
    ->Unit(benchmark::kMicrosecond)->Iterations(400);

// Dense candidates alone (depth 10): HNSW (in-memory path, above the threshold) against the exact
// scan; recall@10 of the graph's answers against the exact ones for the same queries.
void BM_DenseRecallAt10(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  Filter filter;
  filter.agent_id = "agent";
  filter.now = now_micros();
  std::vector<std::vector<float>> query_vectors;
  for (const std::string& q : queries()) {
    const embed::Embeddings e = hash_embedder()->embed_queries({q}, std::nullopt);
    query_vectors.emplace_back(e.values.begin(), e.values.end());
  }
  auto run = [&](Path path, std::vector<std::vector<std::string>>& answers, std::vector<double>& micros) {
    MemoryStore& store = open_store(n, path);
    const int64_t set = store.backend().vector_sets().front().id;
    for (const auto& v : query_vectors) {
      const auto start = std::chrono::steady_clock::now();
      const auto found = store.backend().dense_search(filter, set, v, 10);
      micros.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
      answers.emplace_back();
      for (const Candidate& c : found) answers.back().push_back(c.id);
    }
  };
  double open_seconds = 0;
  open_store(n, Path::InMemory, &open_seconds);
  state.counters["open_with_graph_build_s"] = open_seconds;
  for (auto _ : state) {
    std::vector<std::vector<std::string>> graph, exact;
    std::vector<double> graph_micros, exact_micros;
    run(Path::InMemory, graph, graph_micros);
    run(Path::SqlBaseline, exact, exact_micros);
    double hits = 0, total = 0;
    for (size_t q = 0; q < graph.size(); ++q) {
      const std::set<std::string> truth(exact[q].begin(), exact[q].end());
      for (const std::string& id : graph[q]) hits += truth.count(id);
      total += static_cast<double>(exact[q].size());
    }
    state.counters["recall_at_10"] = hits / total;
    std::sort(graph_micros.begin(), graph_micros.end());
    std::sort(exact_micros.begin(), exact_micros.end());
    state.counters["ann_p50_us"] = graph_micros[graph_micros.size() / 2];
    state.counters["exact_p50_us"] = exact_micros[exact_micros.size() / 2];
  }
}
BENCHMARK(BM_DenseRecallAt10)->Arg(100000)->Unit(benchmark::kMillisecond)->Iterations(1);

// The earlier path: BM25 by FTS5 in SQL (every matching row scored before the LIMIT), exact scan.
void BM_HybridSearchSqlBaseline(benchmark::State& state) { search_benchmark(state, Path::SqlBaseline, false); }
BENCHMARK(BM_HybridSearchSqlBaseline)->Args({10000, kLong})->Args({100000, kLong})->Args({100000, kShort})
    ->Unit(benchmark::kMicrosecond)->Iterations(20);

// Acknowledged inserts through MemoryStore::store (validation, embedding by hash, one durable
// transaction each: synchronous=FULL fsyncs the WAL per insert) into an empty store.
void BM_Insert(benchmark::State& state) {
  const fs::path dir = fs::temp_directory_path() / "memembed_bench_memory_insert";
  fs::remove_all(dir);
  StoreOptions options;
  options.embedder = hash_embedder();
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
