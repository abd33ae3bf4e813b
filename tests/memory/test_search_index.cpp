// The SQLite backend's in-memory search structures: BM25 top-k against the FTS5 path and eval's
// BM25, the exact dense scan, and the HNSW graph (recall, filters inside, changes after the build).
#include "fixture_support.h"
#include "lexical_index.h"
#include "memembed/embed.h"
#include "memembed/memory.h"
#include "memembed/retrieval.h"
#include "memory_rows.h"
#include "vector_index.h"

#include <gtest/gtest.h>
#include <fmt/format.h>

#include <chrono>
#include <random>
#include <set>
#include <thread>

namespace memembed::testing {

using namespace memembed::memory;

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

}  // namespace memembed::testing
