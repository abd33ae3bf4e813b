// Memory store benchmarks (docs/memory.md, "Search speed"): inserts/s; hybrid search latency at
// 10k and 100k memories of one agent with 384-dim vectors, with the query embedding excluded
// (vectors from a hash of the text) and included (the query embedded first by a real model,
// static-glove-25d from ../shared/fixtures or $MEMEMBED_BENCH_MODEL); the same searches on the
// earlier path (BM25 by FTS5 in SQL, exact dense scan) as the baseline of a ratio; and HNSW
// recall@10 against exact search with its build time.
//
// Vectors lie near a 32-dimensional subspace with noise, as embeddings do (uniformly random unit
// vectors have no meaningful neighbours, which no ANN index - nor any model - produces). Two text
// workloads:
//  - synthetic (embed::synthetic_workload): every query shares several common words with most
//    memories, the hard case for BM25 top-k (kept: it is the worst case);
//  - lmeb: memories spliced from the documents of ../shared/lmeb (the first half of one document's
//    words, the second half of another's: real vocabulary, Zipfian, real lengths, every memory
//    distinct), queries the real queries of those tasks.
// p50/p99 counters are per-search wall microseconds; cpu_* counters CPU microseconds of the
// process per search (both sides of a hybrid search: the caller's thread and the store's worker)
// or, per phase, of the calling thread - figures that survive a loaded machine. caller_cpu_*:
// CPU of the calling thread alone (query embedding, dense side, fusion, reading the results; BM25
// too when the worker was busy): the critical path, what wall time is on an idle machine when the
// BM25 side finishes first.
#include "memembed/embed.h"
#include "memembed/memory.h"
#include "memembed/retrieval.h"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "memembed/json_io.h"

#include <time.h>

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
enum class Workload { Synthetic = 0, Lmeb = 1 };

fs::path lmeb_dir() { return fs::path(MEMEMBED_SHARED_DIR) / "lmeb"; }

// Every `name` file under the lmeb folder, each line's title and text.
std::vector<std::string> lmeb_texts(const std::string& name) {
  std::vector<fs::path> files;
  for (const auto& item : fs::recursive_directory_iterator(lmeb_dir())) {
    if (item.path().filename() == name) files.push_back(item.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> texts;
  for (const fs::path& file : files) {
    for_each_jsonl(file, [&](const Json& record, size_t) {
      std::string text = record.value("title", "");
      if (!text.empty()) text += ' ';
      texts.push_back(text + record.value("text", ""));
    });
  }
  return texts;
}

std::vector<std::string> words_of(const std::string& text) {
  std::vector<std::string> words;
  for (size_t at = 0; at < text.size();) {
    const size_t end = std::min(text.find(' ', at), text.size());
    if (end > at) words.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return words;
}

// `n` memories: the first half of one lmeb document's words and the second half of another's.
std::vector<std::string> lmeb_memories(size_t n) {
  static const std::vector<std::vector<std::string>> documents = [] {
    std::vector<std::vector<std::string>> out;
    for (const std::string& t : lmeb_texts("corpus.jsonl")) out.push_back(words_of(t));
    return out;
  }();
  std::mt19937_64 random(17);
  std::uniform_int_distribution<size_t> pick(0, documents.size() - 1);
  std::vector<std::string> texts;
  for (size_t i = 0; i < n; ++i) {
    const auto& a = documents[pick(random)];
    const auto& b = documents[pick(random)];
    std::string text;
    auto append = [&](const std::vector<std::string>& words, size_t begin, size_t end) {
      for (size_t w = begin; w < end; ++w) text += (text.empty() ? "" : " ") + words[w];
    };
    append(a, 0, a.size() / 2);
    append(b, b.size() / 2, b.size());
    texts.push_back(text.empty() ? "empty" : text);
  }
  return texts;
}

fs::path data_dir(size_t n, Workload workload) {
  return fs::temp_directory_path() /
         (workload == Workload::Synthetic ? fmt::format("memembed_bench_memory_{}", n)
                                          : fmt::format("memembed_bench_memory_lmeb_{}", n));
}

// The memories of one agent, written once per size and workload (batches through the backend)
// and reused.
void ensure_data(size_t n, Workload workload) {
  const fs::path dir = data_dir(n, workload);
  if (fs::exists(dir / "complete")) return;
  fs::remove_all(dir);
  SqliteOptions options;
  options.ann_threshold = 0;
  StoreOptions store_options;
  store_options.embedder = hash_embedder();
  MemoryStore store(open_sqlite_backend(dir, options), store_options);
  const int64_t set = store.backend().vector_sets().front().id;
  const std::vector<std::string> texts =
      workload == Workload::Synthetic ? embed::synthetic_workload(n, 7) : lmeb_memories(n);
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

// Per size and workload one open store (a data directory admits one opener), reopened when
// another path or beam width is asked for. The HNSW graph is built on the first open (timed:
// open_s) and saved in the data directory; later opens load it.
struct OpenStore {
  Path path = Path::InMemory;
  size_t ef_search = 0;
  std::unique_ptr<MemoryStore> store;
  double open_seconds = 0;
};

constexpr size_t kDefaultEf = SqliteOptions{}.ann_ef_search;

MemoryStore& open_store(size_t n, Workload workload, Path path, double* open_seconds = nullptr,
                        size_t ef_search = kDefaultEf) {
  static std::map<std::pair<size_t, Workload>, OpenStore> stores;
  OpenStore& current = stores[{n, workload}];
  if (!current.store || current.path != path || current.ef_search != ef_search) {
    current.store.reset();
    ensure_data(n, workload);
    SqliteOptions options;
    options.ann_in_background = false;  // the graph is built (or loaded) while opening, timed below
    options.ann_ef_search = ef_search;
    if (path == Path::SqlBaseline) {
      options.lexical_in_memory = false;
      options.ann_threshold = 0;
    }
    StoreOptions store_options;
    store_options.embedder = hash_embedder();
    const auto start = std::chrono::steady_clock::now();
    current.store = std::make_unique<MemoryStore>(open_sqlite_backend(data_dir(n, workload), options), store_options);
    current.open_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    current.path = path;
    current.ef_search = ef_search;
  }
  if (open_seconds) *open_seconds = current.open_seconds;
  return *current.store;
}

double cpu_micros(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}
double thread_cpu_micros() { return cpu_micros(CLOCK_THREAD_CPUTIME_ID); }
// Every thread of the process: a hybrid search runs its BM25 side on the store's worker thread.
double process_cpu_micros() { return cpu_micros(CLOCK_PROCESS_CPUTIME_ID); }

void report_percentiles(benchmark::State& state, std::vector<double>& micros, const std::string& prefix = "") {
  if (micros.empty()) return;
  std::sort(micros.begin(), micros.end());
  state.counters[prefix + "p50_us"] = micros[micros.size() / 2];
  state.counters[prefix + "p99_us"] = micros[std::min(micros.size() - 1, micros.size() * 99 / 100)];
}

// Query sets. Synthetic long: the first 80 characters of a workload text (about 13 words, most of
// them common across the memories - the worst case for BM25 top-k, as in earlier measurements);
// synthetic short: its first 4 words; lmeb: the real queries of the lmeb tasks (on the lmeb store).
enum QuerySet { kLong = 0, kShort = 1, kLmeb = 2 };
Workload workload_of(QuerySet set) { return set == kLmeb ? Workload::Lmeb : Workload::Synthetic; }

const std::vector<std::string>& queries(QuerySet set = kLong) {
  static const std::array<std::vector<std::string>, 3> texts = [] {
    std::vector<std::string> long_queries, short_queries, lmeb_queries = lmeb_texts("queries.jsonl");
    for (const std::string& t : embed::synthetic_workload(200, 99)) {
      long_queries.push_back(t.substr(0, 80));
      size_t end = 0;
      for (int words = 0; words < 4 && end != std::string::npos; ++words) end = t.find(' ', end + 1);
      short_queries.push_back(t.substr(0, end));
    }
    std::shuffle(lmeb_queries.begin(), lmeb_queries.end(), std::mt19937_64(5));
    return std::array<std::vector<std::string>, 3>{long_queries, short_queries, lmeb_queries};
  }();
  return texts[set];
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
  const auto set = static_cast<QuerySet>(state.range(1));
  const auto& texts = queries(set);
  double open_seconds = 0;
  MemoryStore& store = open_store(n, workload_of(set), path, &open_seconds);
  const auto model = embed_query ? query_model() : nullptr;
  std::vector<double> micros, cpu, caller_cpu;
  size_t i = 0;
  Query q;
  q.limit = 10;
  for (auto _ : state) {
    q.text = texts[i++ % texts.size()];
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = process_cpu_micros(), caller_start = thread_cpu_micros();
    if (model) benchmark::DoNotOptimize(model->embed_queries({*q.text}, std::nullopt));
    benchmark::DoNotOptimize(store.retrieve("agent", q));
    cpu.push_back(process_cpu_micros() - cpu_start);
    caller_cpu.push_back(thread_cpu_micros() - caller_start);
    micros.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
  }
  report_percentiles(state, micros);
  report_percentiles(state, cpu, "cpu_");
  report_percentiles(state, caller_cpu, "caller_cpu_");
  state.counters["open_s"] = open_seconds;
}

// Arguments: memories, query set (0 synthetic long, 1 synthetic short, 2 lmeb).
void BM_HybridSearch(benchmark::State& state) { search_benchmark(state, Path::InMemory, false); }
BENCHMARK(BM_HybridSearch)->Args({10000, kLong})->Args({100000, kLong})->Args({100000, kShort})
    ->Args({10000, kLmeb})->Args({100000, kLmeb})->Unit(benchmark::kMicrosecond)->Iterations(400);

void BM_HybridSearchWithQueryEmbedding(benchmark::State& state) { search_benchmark(state, Path::InMemory, true); }
BENCHMARK(BM_HybridSearchWithQueryEmbedding)->Args({10000, kLong})->Args({100000, kLong})->Args({100000, kLmeb})
    ->Unit(benchmark::kMicrosecond)->Iterations(400);

// Where a hybrid search's CPU time goes, phase by phase through the backend (CPU microseconds of
// this thread, p50): BM25 candidates and dense candidates at the fusion depth, reading the
// records of the `limit` results, and - what the store did before - of every fused candidate.
void BM_SearchPhases(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const auto set = static_cast<QuerySet>(state.range(1));
  MemoryStore& store = open_store(n, workload_of(set), Path::InMemory);
  MemoryBackend& backend = store.backend();
  const int64_t vector_set = backend.vector_sets().front().id;
  const size_t depth = RankingOptions{}.candidate_depth;
  Filter filter;
  filter.agent_id = "agent";
  std::vector<double> lexical, dense, read_limit, read_all, embed;
  size_t i = 0;
  for (auto _ : state) {
    const std::string& text = queries(set)[i++ % queries(set).size()];
    filter.now = now_micros();
    double t = thread_cpu_micros();
    auto timed = [&](std::vector<double>& into) {
      const double now = thread_cpu_micros();
      into.push_back(now - t);
      t = now;
    };
    const auto bm25 = backend.lexical_search(filter, text, depth);
    timed(lexical);
    const embed::Embeddings e = hash_embedder()->embed_queries({text}, std::nullopt);
    timed(embed);
    const auto nearest = backend.dense_search(filter, vector_set, std::vector<float>(e.values.begin(), e.values.end()), depth);
    timed(dense);
    std::vector<std::string> ids;
    for (const auto* side : {&bm25, &nearest}) {
      for (const Candidate& c : *side) ids.push_back(c.id);
    }
    benchmark::DoNotOptimize(backend.get_many(std::vector<std::string>(ids.begin(), ids.begin() + std::min<size_t>(10, ids.size()))));
    timed(read_limit);
    benchmark::DoNotOptimize(backend.get_many(ids));
    timed(read_all);
  }
  for (auto [name, values] : {std::pair{"bm25", &lexical}, {"dense", &dense}, {"read10", &read_limit}, {"read_all", &read_all}}) {
    std::sort(values->begin(), values->end());
    state.counters[std::string("cpu_") + name + "_us"] = (*values)[values->size() / 2];
  }
}
BENCHMARK(BM_SearchPhases)->Args({100000, kLong})->Args({100000, kShort})->Args({100000, kLmeb})
    ->Unit(benchmark::kMicrosecond)->Iterations(200);

// Dense candidates alone (depth 10): HNSW (in-memory path, above the threshold) with beam width
// `ef_search` (the argument) against the exact scan; recall@10 of the graph's answers against the
// exact ones for the same queries, CPU time per search of both.
void BM_DenseRecallAt10(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const size_t ef = static_cast<size_t>(state.range(1));
  Filter filter;
  filter.agent_id = "agent";
  filter.now = now_micros();
  std::vector<std::vector<float>> query_vectors;
  for (const std::string& q : queries()) {
    const embed::Embeddings e = hash_embedder()->embed_queries({q}, std::nullopt);
    query_vectors.emplace_back(e.values.begin(), e.values.end());
  }
  auto run = [&](Path path, std::vector<std::vector<std::string>>& answers, std::vector<double>& cpu) {
    MemoryStore& store = open_store(n, Workload::Synthetic, path, nullptr, ef);
    const int64_t set = store.backend().vector_sets().front().id;
    for (const auto& v : query_vectors) {
      const double start = thread_cpu_micros();
      const auto found = store.backend().dense_search(filter, set, v, 10);
      cpu.push_back(thread_cpu_micros() - start);
      answers.emplace_back();
      for (const Candidate& c : found) answers.back().push_back(c.id);
    }
  };
  // Exact answers once per size (a reopen on the SQL path).
  static std::map<size_t, std::pair<std::vector<std::vector<std::string>>, std::vector<double>>> exact;
  if (!exact.count(n)) run(Path::SqlBaseline, exact[n].first, exact[n].second);
  double open_seconds = 0;
  open_store(n, Workload::Synthetic, Path::InMemory, &open_seconds, ef);
  state.counters["open_s"] = open_seconds;
  for (auto _ : state) {
    std::vector<std::vector<std::string>> graph;
    std::vector<double> graph_cpu;
    run(Path::InMemory, graph, graph_cpu);
    double hits = 0, total = 0;
    for (size_t q = 0; q < graph.size(); ++q) {
      const std::set<std::string> truth(exact[n].first[q].begin(), exact[n].first[q].end());
      for (const std::string& id : graph[q]) hits += truth.count(id);
      total += static_cast<double>(exact[n].first[q].size());
    }
    state.counters["recall_at_10"] = hits / total;
    std::vector<double> exact_cpu = exact[n].second;
    report_percentiles(state, graph_cpu, "cpu_ann_");
    report_percentiles(state, exact_cpu, "cpu_exact_");
  }
}
BENCHMARK(BM_DenseRecallAt10)->Args({100000, 64})->Args({100000, 128})->Args({100000, 192})->Args({100000, 224})->Args({100000, 256})
    ->Args({100000, 512})
    ->Unit(benchmark::kMillisecond)->Iterations(1);

// The earlier path: BM25 by FTS5 in SQL (every matching row scored before the LIMIT), exact scan.
void BM_HybridSearchSqlBaseline(benchmark::State& state) { search_benchmark(state, Path::SqlBaseline, false); }
BENCHMARK(BM_HybridSearchSqlBaseline)->Args({10000, kLong})->Args({100000, kLong})->Args({100000, kShort})
    ->Args({100000, kLmeb})
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
