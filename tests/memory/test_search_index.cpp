// The SQLite backend's in-memory search structures: BM25 top-k against the FTS5 path and eval's
// BM25, the exact dense scan, and the HNSW graph (recall, filters inside, changes after the build).
#include "fixture_support.h"
#include "lexical_index.h"
#include "memembed/embed.h"
#include "memembed/error.h"
#include "memembed/memory.h"
#include "memembed/retrieval.h"
#include "memory_rows.h"
#include "search_worker.h"
#include "vector_index.h"

#include <gtest/gtest.h>
#include <fmt/format.h>

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

namespace memembed::testing {

using namespace memembed::memory;
namespace fs = std::filesystem;

namespace {

MemoryEntry entry(size_t i, std::string content, Timestamp now) {
  MemoryEntry e;
  e.id = fmt::format("m{:05}", i);
  e.agent_id = i % 3 == 0 ? "b" : "a";
  e.namespace_ = i % 2 == 0 ? "even" : "odd";
  e.category = i % 5 == 0 ? Category::Semantic : Category::Episodic;
  e.content = std::move(content);
  if (i % 7 == 0) e.metadata.tags = {"seventh"};
  if (i % 11 == 0) e.metadata.tags.push_back("eleventh");
  e.created_at = e.updated_at = now - static_cast<Timestamp>(i) * 1000;
  if (i % 13 == 0) e.expires_at = now - 1;  // expired
  return e;
}

std::vector<Filter> filters(Timestamp now) {
  std::vector<Filter> out;
  Filter f;
  f.now = now;
  out.push_back(f);
  f.agent_id = "a";
  out.push_back(f);
  Filter g = f;
  g.namespaces = {"even"};
  g.categories = {Category::Episodic};
  out.push_back(g);
  Filter h = f;
  h.tags = {"seventh", "eleventh"};
  out.push_back(h);
  Filter t = f;
  t.since = now - 500000;
  t.until = now - 100000;
  out.push_back(t);
  return out;
}

// Vectors near a low-dimensional subspace, as embeddings are (uniformly random ones have no
// meaningful neighbours for any index to find).
class StructuredVectors {
 public:
  StructuredVectors(size_t dims, size_t rank, uint64_t seed) : dims_(dims), rank_(rank), random_(seed), basis_(dims * rank) {
    for (float& x : basis_) x = normal_(random_);
  }
  std::vector<float> next() {
    std::vector<float> z(rank_), v(dims_, 0.0f);
    for (float& x : z) x = normal_(random_);
    for (size_t d = 0; d < dims_; ++d) {
      for (size_t r = 0; r < rank_; ++r) v[d] += basis_[d * rank_ + r] * z[r];
      v[d] += 0.3f * normal_(random_);
    }
    retrieval::l2_normalize(v.data(), dims_);
    return v;
  }

 private:
  size_t dims_, rank_;
  std::mt19937_64 random_;
  std::normal_distribution<float> normal_;
  std::vector<float> basis_;
};

double recall(const std::vector<VectorIndex::Hit>& got, const std::vector<VectorIndex::Hit>& exact) {
  std::set<uint32_t> truth;
  for (const auto& h : exact) truth.insert(h.slot);
  size_t hit = 0;
  for (const auto& h : got) hit += truth.count(h.slot);
  return exact.empty() ? 1.0 : static_cast<double>(hit) / static_cast<double>(exact.size());
}

}  // namespace

// The default in-memory BM25 (kept current by every write) returns what FTS5 computes in SQL
// after a reopen, and what a fresh build on open returns.
TEST(SearchIndex, InMemoryBm25AgreesWithFts5AfterWritesUpdatesAndDeletes) {
  TempDir dir;
  const Timestamp now = now_micros();
  const auto texts = embed::synthetic_workload(1500, 11);
  const std::vector<std::string> queries = {"database migration deadline", "customer invoice invoice paid",
                                            "daughter school September", "meeting", "zzz unknown words"};
  auto run_all = [&](MemoryBackend& backend) {
    std::vector<std::vector<Candidate>> out;
    for (const Filter& f : filters(now)) {
      for (const std::string& q : queries) out.push_back(backend.lexical_search(f, q, 20));
    }
    return out;
  };
  std::vector<std::vector<Candidate>> live;
  {
    auto backend = open_sqlite_backend(dir.path());
    std::vector<MemoryWrite> writes;
    for (size_t i = 0; i < texts.size(); ++i) writes.push_back({entry(i, texts[i], now), {}, false});
    backend->put(writes);
    for (size_t i = 0; i < texts.size(); i += 9) backend->remove(fmt::format("m{:05}", i));
    for (size_t i = 4; i < texts.size(); i += 17) backend->put({{entry(i, "database migration " + texts[i + 1], now), {}, false}});
    live = run_all(*backend);
  }
  SqliteOptions sql;
  sql.lexical_in_memory = false;
  const auto in_sql = run_all(*open_sqlite_backend(dir.path(), sql));
  const auto reopened = run_all(*open_sqlite_backend(dir.path()));
  ASSERT_EQ(live.size(), in_sql.size());
  size_t nonempty = 0;
  for (size_t q = 0; q < live.size(); ++q) {
    ASSERT_EQ(live[q].size(), in_sql[q].size()) << q;
    ASSERT_EQ(live[q].size(), reopened[q].size()) << q;
    nonempty += live[q].empty() ? 0 : 1;
    for (size_t i = 0; i < live[q].size(); ++i) {
      EXPECT_NEAR(live[q][i].score, in_sql[q][i].score, 1e-9) << q << " " << i;
      EXPECT_EQ(live[q][i].id, reopened[q][i].id) << q << " " << i;
      EXPECT_EQ(live[q][i].score, reopened[q][i].score) << q << " " << i;
    }
  }
  EXPECT_GT(nonempty, live.size() / 2);
}

// MaxScore's pruning never changes the answer: the top k equals a full scoring with
// retrieval::Bm25Index, filter applied to every document.
TEST(SearchIndex, Bm25TopKEqualsFullScoring) {
  const auto texts = embed::synthetic_workload(3000, 3);
  const Timestamp now = now_micros();
  MemoryRows rows;
  LexicalIndex lexical;
  for (size_t i = 0; i < texts.size(); ++i) lexical.put(rows.upsert(entry(i, texts[i], now)), texts[i]);
  const retrieval::Bm25Index reference(texts, {});
  const auto queries = embed::synthetic_workload(20, 8);
  for (const Filter& f : filters(now)) {
    const RowFilter admits(rows, f);
    for (const std::string& text : queries) {
      const std::string q = text.substr(0, 60);
      std::vector<double> scores;
      reference.score(q, scores);
      std::vector<std::pair<double, std::string>> expected;
      for (size_t d = 0; d < texts.size(); ++d) {
        if (scores[d] > 0 && admits.admits(static_cast<uint32_t>(d))) expected.push_back({-scores[d], rows.id(static_cast<uint32_t>(d))});
      }
      std::sort(expected.begin(), expected.end());
      for (const size_t k : {1u, 10u, 100u}) {
        const auto got = lexical.search(q, admits, rows, k);
        ASSERT_EQ(got.size(), std::min(k, expected.size())) << q;
        for (size_t i = 0; i < got.size(); ++i) {
          EXPECT_EQ(got[i].score, -expected[i].first) << q << " rank " << i;  // the same bits
          EXPECT_EQ(rows.id(got[i].slot), expected[i].second) << q << " rank " << i;
        }
      }
    }
  }
}

// The accumulators stay exact through what writes do to the index: deletes, updates (a slot's
// postings and length replaced), freed slots reused by new memories, documents longer than the
// length-norm table, repeated query tokens; and searches from several threads at once (each has
// its own accumulators) agree with one another. Expected: a full scoring of the live memories.
TEST(SearchIndex, Bm25AccumulatorsStayExactThroughDeletesUpdatesAndReusedSlots) {
  const Timestamp now = now_micros();
  auto texts = embed::synthetic_workload(2500, 21);
  std::string long_text;
  for (size_t i = 0; i < 40; ++i) long_text += texts[i] + " invoice ";
  texts[5] = long_text;
  ASSERT_GT(retrieval::bm25_tokenize(long_text).size(), 1024u);  // beyond the length-norm table
  MemoryRows rows;
  LexicalIndex lexical;
  std::map<std::string, std::string> live;  // id -> content
  auto put = [&](size_t i, const std::string& content) {
    const MemoryEntry e = entry(i, content, now);
    lexical.put(rows.upsert(e), content);
    live[e.id] = content;
  };
  for (size_t i = 0; i < texts.size(); ++i) put(i, texts[i]);
  for (size_t i = 0; i < texts.size(); i += 4) {
    lexical.remove(rows.remove(fmt::format("m{:05}", i)));
    live.erase(fmt::format("m{:05}", i));
  }
  for (size_t i = 1; i < texts.size(); i += 9) put(i, "invoice paid invoice " + texts[(i * 7) % texts.size()]);
  for (size_t i = texts.size(); i < texts.size() + 300; ++i) put(i, texts[i % 700] + " database");  // reuse freed slots
  ASSERT_LT(rows.slots(), texts.size() + 300);  // freed slots were reused
  ASSERT_EQ(lexical.documents(), live.size());

  std::vector<std::string> ids, contents;
  for (const auto& [id, content] : live) {
    ids.push_back(id);
    contents.push_back(content);
  }
  const retrieval::Bm25Index reference(contents, {});
  const std::vector<std::string> queries = {"invoice invoice paid the", "database migration next week because",
                                            "the", "Tokyo Friday budget approved approved", "nothing matches zzz"};
  auto expected_for = [&](const std::string& q, const RowFilter& admits) {
    std::vector<double> scores;
    reference.score(q, scores);
    std::vector<std::pair<double, std::string>> expected;
    for (size_t d = 0; d < ids.size(); ++d) {
      if (scores[d] > 0 && admits.admits(rows.slot(ids[d]))) expected.push_back({-scores[d], ids[d]});
    }
    std::sort(expected.begin(), expected.end());
    return expected;
  };
  size_t compared = 0;
  for (const Filter& f : filters(now)) {
    const RowFilter admits(rows, f);
    for (const std::string& q : queries) {
      const auto expected = expected_for(q, admits);
      for (const size_t k : {1u, 7u, 100u, 5000u}) {
        const auto got = lexical.search(q, admits, rows, k);
        ASSERT_EQ(got.size(), std::min(k, expected.size())) << q;
        for (size_t i = 0; i < got.size(); ++i) {
          EXPECT_EQ(got[i].score, -expected[i].first) << q << " rank " << i;  // the same bits
          EXPECT_EQ(rows.id(got[i].slot), expected[i].second) << q << " rank " << i;
          ++compared;
        }
      }
    }
  }
  EXPECT_GT(compared, 5000u);
  const auto long_hits = lexical.search("invoice", RowFilter(rows, filters(now).front()), rows, 3000);
  EXPECT_TRUE(std::any_of(long_hits.begin(), long_hits.end(), [&](const auto& h) { return rows.id(h.slot) == "m00005"; }));

  // Concurrent searches: each thread's answers equal the single-threaded ones.
  const Filter all = filters(now)[1];
  const RowFilter admits(rows, all);
  std::vector<std::vector<LexicalIndex::Hit>> alone;
  for (const std::string& q : queries) alone.push_back(lexical.search(q, admits, rows, 50));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t round = 0; round < 20; ++round) {
        const size_t q = (round + t) % queries.size();
        const auto got = lexical.search(queries[q], admits, rows, 50);
        bool same = got.size() == alone[q].size();
        for (size_t i = 0; same && i < got.size(); ++i) same = got[i].slot == alone[q][i].slot && got[i].score == alone[q][i].score;
        mismatches[t] += same ? 0 : 1;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

// The store's search worker: a task runs on its thread when it is idle, on the caller's (inside
// wait()) while it is busy with another; a task's exception reaches wait(); many callers at once
// each get their own task run exactly once.
TEST(SearchWorker, RunsBesideTheCallerOrInlineWhenBusyAndPassesErrorsOn) {
  SearchWorker worker;
  const auto caller = std::this_thread::get_id();
  std::thread::id ran_on;
  auto first = worker.start([&] { ran_on = std::this_thread::get_id(); });
  first.wait();
  EXPECT_NE(ran_on, caller);

  std::mutex gate;
  std::unique_lock hold(gate);
  std::atomic<bool> blocked_started{false};
  auto blocked = worker.start([&] {
    blocked_started = true;
    std::lock_guard wait_for_gate(gate);
  });
  while (!blocked_started) std::this_thread::yield();
  std::thread::id second_on;
  auto second = worker.start([&] { second_on = std::this_thread::get_id(); });
  second.wait();
  EXPECT_EQ(second_on, caller);  // the worker was busy
  hold.unlock();
  blocked.wait();

  auto failing = worker.start([] { throw invalid_input("side failed"); });
  EXPECT_THROW(failing.wait(), Error);

  std::atomic<int> runs{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        auto pending = worker.start([&] { ++runs; });
        pending.wait();
      }
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(runs.load(), 800);
}

// Hybrid searches from several threads at once (BM25 sides on the worker or inline, as it
// happens) return exactly what the same searches return one at a time.
TEST(SearchWorker, ConcurrentHybridSearchesEqualSequentialOnes) {
  MEMEMBED_REQUIRE_SHARED(fixture_dir("static-glove-25d"));
  const auto glove = load_model_embedder(fixture_dir("static-glove-25d").string());
  const auto texts = embed::synthetic_workload(800, 4);
  const embed::Embeddings vectors = glove->embed_documents(texts);
  TempDir dir;
  StoreOptions options;
  options.embedder = glove;
  MemoryStore store(open_sqlite_backend(dir.path()), options);
  const int64_t set = store.backend().vector_sets().front().id;
  const Timestamp now = now_micros();
  std::vector<MemoryWrite> writes;
  for (size_t i = 0; i < texts.size(); ++i) {
    MemoryEntry e = entry(i, texts[i], now);
    e.agent_id = "a";
    e.expires_at.reset();
    std::vector<float> v(vectors.row(i), vectors.row(i) + vectors.dim);
    retrieval::l2_normalize(v.data(), v.size());
    writes.push_back({e, {{set, v}}, false});
  }
  store.backend().put(writes);
  const auto queries = embed::synthetic_workload(24, 6);
  auto search = [&](size_t q) {
    Query query;
    query.text = queries[q].substr(0, 50);
    query.limit = 10;
    std::vector<std::pair<std::string, double>> out;
    for (const MemoryEntry& e : store.retrieve("a", query)) out.emplace_back(e.id, e.relevance_score);
    return out;
  };
  std::vector<std::vector<std::pair<std::string, double>>> alone;
  for (size_t q = 0; q < queries.size(); ++q) alone.push_back(search(q));
  ASSERT_EQ(alone.front().size(), 10u);
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t round = 0; round < 3 * queries.size(); ++round) {
        const size_t q = (round * 5 + t) % queries.size();
        const auto got = search(q);
        // Recency moves with the clock; the ranking and the relevance to 1e-6 must not.
        bool same = got.size() == alone[q].size();
        for (size_t i = 0; same && i < got.size(); ++i) {
          same = got[i].first == alone[q][i].first && std::abs(got[i].second - alone[q][i].second) < 1e-6;
        }
        mismatches[t] += same ? 0 : 1;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST(SearchIndex, HnswFindsWhatExactSearchFindsWithFiltersInside) {
  const size_t dims = 48, n = 6000;
  std::shared_mutex guard;
  AnnOptions ann;
  ann.threshold = 2000;
  ann.background = false;
  VectorIndex index(dims, ann, guard);
  MemoryRows rows;
  StructuredVectors vectors(dims, 8, 1);
  const Timestamp now = now_micros();
  for (size_t i = 0; i < n; ++i) index.put(rows.upsert(entry(i, "x", now)), vectors.next().data());
  ASSERT_TRUE(index.graph_serving());

  StructuredVectors queries(dims, 8, 1);  // the same subspace, fresh points
  for (size_t i = 0; i < n; ++i) queries.next();
  double unfiltered = 0, filtered = 0;
  const size_t trials = 40;
  Filter all;
  all.now = now;
  Filter half = all;
  half.namespaces = {"even"};
  Filter rare = all;
  rare.tags = {"seventh", "eleventh"};  // 1 in 77, below the share the graph is used for
  const RowFilter admit_all(rows, all), admit_half(rows, half), admit_rare(rows, rare);
  for (size_t t = 0; t < trials; ++t) {
    const auto q = queries.next();
    unfiltered += recall(index.search(q.data(), admit_all, rows, 10), index.exact_search(q.data(), admit_all, rows, 10));
    const auto got = index.search(q.data(), admit_half, rows, 10);
    ASSERT_EQ(got.size(), 10u);
    for (const auto& h : got) EXPECT_TRUE(admit_half.admits(h.slot));
    filtered += recall(got, index.exact_search(q.data(), admit_half, rows, 10));
    const auto exact_rare = index.exact_search(q.data(), admit_rare, rows, 100);
    const auto got_rare = index.search(q.data(), admit_rare, rows, 100);
    ASSERT_EQ(got_rare.size(), exact_rare.size());
    for (size_t i = 0; i < got_rare.size(); ++i) EXPECT_EQ(got_rare[i].slot, exact_rare[i].slot);
  }
  EXPECT_GE(unfiltered / trials, 0.95);
  EXPECT_GE(filtered / trials, 0.95);

  // Changes after the build reach the graph: a new vector equal to the query is found first; a
  // removed one is never returned.
  const auto q = queries.next();
  const uint32_t added = rows.upsert(entry(n, "x", now));
  index.put(added, q.data());
  auto top = index.search(q.data(), admit_all, rows, 10);
  ASSERT_FALSE(top.empty());
  EXPECT_EQ(top[0].slot, added);
  index.remove(added);
  for (const auto& h : index.search(q.data(), admit_all, rows, 10)) EXPECT_NE(h.slot, added);
}

TEST(SearchIndex, HnswBuiltInTheBackgroundCatchesUpWithWritesMadeMeanwhile) {
  const size_t dims = 32, n = 3000;
  std::shared_mutex guard;
  AnnOptions ann;
  ann.threshold = 1000;
  MemoryRows rows;
  StructuredVectors vectors(dims, 8, 2);
  const Timestamp now = now_micros();
  VectorIndex index(dims, ann, guard);
  std::vector<std::vector<float>> written;
  for (size_t i = 0; i < n; ++i) {
    std::unique_lock lock(guard);  // as the backend writes: exclusively, while the builder runs
    written.push_back(vectors.next());
    index.put(rows.upsert(entry(i, "x", now)), written.back().data());
    if (i % 10 == 0) index.remove(static_cast<uint32_t>(i / 2));
  }
  for (int waited = 0; waited < 600; ++waited) {
    {
      std::shared_lock lock(guard);
      if (index.graph_serving()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::shared_lock lock(guard);
  ASSERT_TRUE(index.graph_serving());
  Filter all;
  all.now = now;
  const RowFilter admit_all(rows, all);
  // Every vector still present is its own nearest neighbour; removed ones never come back.
  size_t self_found = 0, checked = 0;
  for (uint32_t slot = 0; slot < n; slot += 7) {
    const auto top = index.search(written[slot].data(), admit_all, rows, 1);
    ASSERT_EQ(top.size(), 1u);
    EXPECT_TRUE(index.contains(top[0].slot));
    if (index.contains(slot) && admit_all.admits(slot)) {  // (every 13th memory has expired)
      ++checked;
      self_found += top[0].slot == slot ? 1 : 0;
    }
  }
  EXPECT_GE(static_cast<double>(self_found) / static_cast<double>(checked), 0.98);
}

// ---- The saved HNSW graph ------------------------------------------------------------------------

namespace {

constexpr size_t kGraphDims = 32;

// A store above a small ANN threshold, its graph built while opening (synchronously).
struct GraphStore {
  explicit GraphStore(const fs::path& dir) {
    SqliteOptions options;
    options.ann_threshold = 400;
    options.ann_in_background = false;
    backend = open_sqlite_backend(dir, options);
    for (const VectorSet& s : backend->vector_sets()) set = s.id;
    if (set == 0) set = backend->create_vector_set({"structured", "structured-32", kGraphDims}, VectorSetState::Active);
  }
  void write(size_t i, const std::vector<float>& v, Timestamp now) {
    backend->put({{entry(i, "x", now), {{set, v}}, false}});
  }
  // Memories 0..n-1 with these vectors in one transaction, then a search (which loads the set's
  // index and so builds the graph).
  void write_all(const std::vector<std::vector<float>>& vectors, Timestamp now) {
    std::vector<MemoryWrite> writes;
    for (size_t i = 0; i < vectors.size(); ++i) writes.push_back({entry(i, "x", now), {{set, vectors[i]}}, false});
    backend->put(writes);
    nearest(vectors[0], now);
  }
  std::vector<Candidate> nearest(const std::vector<float>& q, Timestamp now, size_t k = 10) {
    Filter f;
    f.now = now;
    return backend->dense_search(f, set, q, k);
  }
  std::unique_ptr<MemoryBackend> backend;
  int64_t set = 0;
};

std::vector<std::vector<float>> draw(StructuredVectors& vectors, size_t n) {
  std::vector<std::vector<float>> out;
  for (size_t i = 0; i < n; ++i) out.push_back(vectors.next());
  return out;
}

ino_t inode(const fs::path& file) {
  struct stat st {};
  return ::stat(file.c_str(), &st) == 0 ? st.st_ino : 0;
}

}  // namespace

// Reopening loads the saved graph (it is not rebuilt: the file is not rewritten) and answers as
// before; writes the saved graph never saw (a crash before the save) are caught up on open.
TEST(SearchIndex, SavedHnswGraphIsLoadedOnOpenAndCaughtUpWithLaterWrites) {
  TempDir dir;
  const Timestamp now = now_micros();
  StructuredVectors vectors(kGraphDims, 6, 3);
  std::vector<std::vector<float>> written = draw(vectors, 1200);
  const std::vector<std::vector<float>> queries = draw(vectors, 30);
  std::vector<std::vector<Candidate>> before;
  fs::path graph_file;
  {
    GraphStore store(dir.path());
    store.write_all(written, now);
    for (const auto& q : queries) before.push_back(store.nearest(q, now));
    graph_file = dir.path() / fmt::format("ann-{}.hnsw", store.set);
  }
  ASSERT_TRUE(fs::exists(graph_file));
  ASSERT_TRUE(fs::exists(graph_file.string() + ".json"));
  const ino_t saved = inode(graph_file);
  {
    GraphStore store(dir.path());
    for (size_t q = 0; q < queries.size(); ++q) {
      const auto again = store.nearest(queries[q], now);
      ASSERT_EQ(again.size(), before[q].size());
      for (size_t i = 0; i < again.size(); ++i) {
        EXPECT_EQ(again[i].id, before[q][i].id) << q << " " << i;
        EXPECT_EQ(again[i].score, before[q][i].score);
      }
    }
  }
  EXPECT_EQ(inode(graph_file), saved) << "an unchanged graph was rewritten: it was rebuilt, not loaded";

  // Writes after the save, then the graph files put back as they were before them: as after a
  // kill -9 that came before the save at close.
  const fs::path kept = dir.path() / "kept";
  fs::create_directories(kept);
  fs::copy_file(graph_file, kept / "graph");
  fs::copy_file(graph_file.string() + ".json", kept / "manifest");
  std::vector<size_t> removed, moved;
  {
    GraphStore store(dir.path());
    for (size_t i = 0; i < 1200; i += 10) {
      store.backend->remove(fmt::format("m{:05}", i));
      removed.push_back(i);
    }
    for (size_t i = 5; i < 1200; i += 20) {
      written[i] = vectors.next();
      store.write(i, written[i], now);
      moved.push_back(i);
    }
    for (size_t i = 1200; i < 1260; ++i) {
      written.push_back(vectors.next());
      store.write(i, written[i], now);
      moved.push_back(i);
    }
  }
  fs::copy_file(kept / "graph", graph_file, fs::copy_options::overwrite_existing);
  fs::copy_file(kept / "manifest", graph_file.string() + ".json", fs::copy_options::overwrite_existing);
  GraphStore store(dir.path());
  for (size_t i : moved) {  // every new or changed vector is its own nearest neighbour
    if (i % 13 == 0) continue;  // expired (see entry())
    const auto top = store.nearest(written[i], now, 1);
    ASSERT_EQ(top.size(), 1u);
    EXPECT_EQ(top[0].id, fmt::format("m{:05}", i));
  }
  const std::set<std::string> gone = [&] {
    std::set<std::string> ids;
    for (size_t i : removed) ids.insert(fmt::format("m{:05}", i));
    return ids;
  }();
  for (const auto& q : queries) {
    for (const Candidate& c : store.nearest(q, now)) EXPECT_EQ(gone.count(c.id), 0u) << c.id;
  }
}

// A damaged, truncated, foreign or garbage graph file is never trusted: the store opens, rebuilds
// the graph (and saves a good one) and answers as well as a fresh build.
TEST(SearchIndex, DamagedSavedHnswGraphIsRebuilt) {
  TempDir dir;
  const Timestamp now = now_micros();
  StructuredVectors vectors(kGraphDims, 6, 4);
  const std::vector<std::vector<float>> written = draw(vectors, 800);
  fs::path graph_file;
  {
    GraphStore store(dir.path());
    store.write_all(written, now);
    graph_file = dir.path() / fmt::format("ann-{}.hnsw", store.set);
  }
  const std::string good = read_file(graph_file);
  const std::string manifest = read_file(graph_file.string() + ".json");
  auto overwrite = [](const fs::path& file, const std::string& bytes) { std::ofstream(file, std::ios::binary) << bytes; };
  std::string flipped = good;
  for (size_t at = 100; at < flipped.size(); at += flipped.size() / 7) flipped[at] = static_cast<char>(~flipped[at]);
  std::string foreign = manifest;
  foreign.replace(foreign.find("structured-32"), 13, "another-model");
  const std::vector<std::pair<std::string, std::function<void()>>> damages = {
      {"bytes flipped", [&] { overwrite(graph_file, flipped); }},
      {"truncated", [&] { overwrite(graph_file, good.substr(0, good.size() / 2)); }},
      {"garbage", [&] { overwrite(graph_file, std::string(5000, '\x7f')); }},
      {"empty", [&] { overwrite(graph_file, ""); }},
      {"manifest garbage", [&] { overwrite(graph_file.string() + ".json", "{not json"); }},
      {"manifest missing", [&] { fs::remove(graph_file.string() + ".json"); }},
      {"another model's graph", [&] { overwrite(graph_file.string() + ".json", foreign); }},
  };
  for (const auto& [name, damage] : damages) {
    overwrite(graph_file, good);
    overwrite(graph_file.string() + ".json", manifest);
    damage();
    const ino_t damaged = inode(graph_file);
    GraphStore store(dir.path());
    size_t self_found = 0, checked = 0;
    for (size_t i = 0; i < written.size(); i += 8) {
      if (i % 13 == 0) continue;  // expired (see entry())
      const auto top = store.nearest(written[i], now, 1);
      ASSERT_EQ(top.size(), 1u) << name;
      ++checked;
      self_found += top[0].id == fmt::format("m{:05}", i) ? 1 : 0;
    }
    EXPECT_GE(self_found + 1, checked) << name;
    EXPECT_NE(inode(graph_file), damaged) << name << ": not rebuilt and saved";
  }
}

// Below the manifest's checksum, loading checks the graph's own structure: a link pointing
// outside the graph is an error, not a later out-of-bounds read.
TEST(SearchIndex, GraphWithALinkOutOfRangeIsRefused) {
  TempDir dir;
  StructuredVectors vectors(kGraphDims, 6, 5);
  AnnParameters parameters;
  AnnGraph graph(kGraphDims, 100, parameters);
  for (uint32_t i = 0; i < 100; ++i) graph.add(i, vectors.next().data());
  const fs::path file = dir.path() / "graph";
  graph.save(file);
  EXPECT_EQ(AnnGraph::load(file, kGraphDims, parameters)->size(), 100u);
  std::string bytes = read_file(file);
  const size_t first_link = 96 + sizeof(uint32_t);  // after hnswlib's header and node 0's link count
  const uint32_t outside = 1000000;
  bytes.replace(first_link, sizeof outside, reinterpret_cast<const char*>(&outside), sizeof outside);
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  EXPECT_THROW(AnnGraph::load(file, kGraphDims, parameters), Error);
  AnnParameters other = parameters;
  other.m = 8;
  graph.save(file);
  EXPECT_THROW(AnnGraph::load(file, kGraphDims, other), Error);
  EXPECT_THROW(AnnGraph::load(file, kGraphDims + 1, parameters), Error);
}

}  // namespace memembed::testing
