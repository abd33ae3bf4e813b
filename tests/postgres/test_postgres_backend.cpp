// The PostgreSQL + pgvector backend: the memory store's conformance suite (the same one the SQLite
// backend passes), plus what only this backend has to show - BM25 scores equal to the embedded
// backend's on the same memories (in-process index and SQL path), handles on one database that
// see each other's writes in BM25 search, and filtered dense search through the HNSW index that
// finds every match of a selective filter.
#include "backend_conformance.h"
#include "fixture_support.h"
#include "postgres_support.h"

#include "memembed/error.h"
#include "memembed/postgres.h"
#include "memembed/retrieval.h"

#include <fmt/format.h>

#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <thread>

namespace memembed::testing {
namespace {

namespace fs = std::filesystem;
using namespace memembed::memory;

// One database per conformance test directory; reopening the directory reopens the database.
std::unique_ptr<MemoryBackend> open_for_directory(const fs::path& dir) {
  static std::mutex mutex;
  static std::map<std::string, std::string> databases;
  std::string url;
  {
    std::lock_guard<std::mutex> lock(mutex);
    std::string& known = databases[dir.string()];
    if (known.empty()) known = test_database();
    url = known;
  }
  return postgres::open_postgres_backend(url);
}

INSTANTIATE_TEST_SUITE_P(Postgres, BackendConformance,
                         ::testing::Values(BackendUnderTest{"postgres", open_for_directory}), backend_name);

MemoryEntry memory_of(const std::string& id, const std::string& agent, const std::string& content, Timestamp at) {
  MemoryEntry entry;
  entry.id = id;
  entry.agent_id = agent;
  entry.namespace_ = "default";
  entry.category = Category::Semantic;
  entry.content = content;
  entry.created_at = entry.updated_at = at;
  return entry;
}

TEST(PostgresBackend, Bm25ScoresEqualTheEmbeddedBackends) {
  const TempDir dir;
  auto sqlite = open_sqlite_backend(dir / "sqlite");
  const std::string url = test_database();
  auto pg = postgres::open_postgres_backend(url);
  postgres::PostgresOptions in_sql;
  in_sql.lexical_in_memory = false;
  auto pg_sql = postgres::open_postgres_backend(url, in_sql);
  const std::vector<std::string> contents = {
      "The deploy script lives in tools/deploy.sh and needs the staging key",
      "Deploy to staging first, then to production after the smoke tests pass",
      "Alice likes green tea; Bob prefers coffee in the morning",
      "The coffee machine on floor three is broken again",
      "Staging database backups run nightly at 02:00 UTC",
      "Production deploys are frozen on Fridays",
      "Tea, tea and more tea: Alice's answer to every problem"};
  for (size_t i = 0; i < contents.size(); ++i) {
    const MemoryEntry entry = memory_of("m" + std::to_string(i), i % 2 ? "a" : "b", contents[i], 1000 + i);
    sqlite->put({{entry, {}, false}});
    pg->put({{entry, {}, false}});
  }
  // Replacing and removing keep the statistics in step.
  const MemoryEntry replaced = memory_of("m3", "b", "The coffee machine was fixed", 2000);
  sqlite->put({{replaced, {}, false}});
  pg->put({{replaced, {}, false}});
  sqlite->remove("m5");
  pg->remove("m5");

  for (const std::string query : {"deploy staging", "coffee tea tea", "alice", "nightly backups production"}) {
    for (const std::optional<std::string>& agent : {std::optional<std::string>(), std::optional<std::string>("a")}) {
      Filter filter;
      filter.agent_id = agent;
      filter.now = 5000;
      const auto expected = sqlite->lexical_search(filter, query, 10);
      for (auto* backend : {pg.get(), pg_sql.get()}) {
        const auto got = backend->lexical_search(filter, query, 10);
        const char* path = backend == pg.get() ? "in memory" : "in SQL";
        ASSERT_EQ(got.size(), expected.size()) << query << " " << path;
        if (!agent) {
          ASSERT_FALSE(got.empty()) << query;
        }
        for (size_t i = 0; i < got.size(); ++i) {
          EXPECT_EQ(got[i].id, expected[i].id) << query << " rank " << i << " " << path;
          EXPECT_NEAR(got[i].score, expected[i].score, 1e-9) << query << " rank " << i << " " << path;
        }
      }
    }
  }
}

std::vector<std::string> ids_of(const std::vector<Candidate>& candidates) {
  std::vector<std::string> ids;
  for (const Candidate& c : candidates) ids.push_back(c.id);
  return ids;
}

TEST(PostgresBackend, HandlesOnOneDatabaseFindEachOthersWritesByBm25) {
  // Two handles stand for two serve processes: each searches its own in-memory index, which must
  // follow every change the other commits - insert, replace, share, delete, purge.
  const std::string url = test_database();
  auto writer = postgres::open_postgres_backend(url);
  writer->put({{memory_of("old", "a", "kettle descaling schedule", 1000), {}, false}});
  auto reader = postgres::open_postgres_backend(url);  // loads "old" on open
  Filter filter;
  filter.now = 5000;
  EXPECT_EQ(ids_of(reader->lexical_search(filter, "kettle", 10)), std::vector<std::string>{"old"});

  writer->put({{memory_of("new", "a", "kettle on floor two", 1001), {}, false}});
  EXPECT_EQ(ids_of(reader->lexical_search(filter, "floor", 10)), std::vector<std::string>{"new"});
  writer->put({{memory_of("new", "a", "printer on floor two", 1001), {}, false}});
  EXPECT_EQ(ids_of(reader->lexical_search(filter, "kettle", 10)), std::vector<std::string>{"old"});
  EXPECT_EQ(ids_of(reader->lexical_search(filter, "printer", 10)), std::vector<std::string>{"new"});

  Filter shared = filter;
  shared.shared_only = true;
  EXPECT_TRUE(reader->lexical_search(shared, "printer", 10).empty());
  ASSERT_TRUE(writer->set_shared("new", true));
  EXPECT_EQ(ids_of(reader->lexical_search(shared, "printer", 10)), std::vector<std::string>{"new"});

  ASSERT_TRUE(writer->remove("old"));
  EXPECT_TRUE(reader->lexical_search(filter, "kettle", 10).empty());
  MemoryEntry expiring = memory_of("brief", "a", "printer toner order", 1002);
  expiring.expires_at = 2000;
  writer->put({{expiring, {}, false}});
  EXPECT_EQ(reader->lexical_search(filter, "toner", 10).size(), 0u) << "expired at 2000, searched at 5000";
  filter.now = 1500;
  EXPECT_EQ(ids_of(reader->lexical_search(filter, "toner", 10)), std::vector<std::string>{"brief"});
  EXPECT_EQ(writer->purge_expired(3000), 1u);
  EXPECT_TRUE(reader->lexical_search(filter, "toner", 10).empty());

  // Scores follow too: N and the average length include the other handle's memories.
  postgres::PostgresOptions in_sql;
  in_sql.lexical_in_memory = false;
  auto reference = postgres::open_postgres_backend(url, in_sql);
  const auto got = reader->lexical_search(filter, "printer floor", 10);
  const auto expected = reference->lexical_search(filter, "printer floor", 10);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NEAR(got[0].score, expected[0].score, 1e-9);
}

TEST(PostgresBackend, ConcurrentWritersChangesReachAnotherHandleWithoutGaps) {
  // Writers commit concurrently while the other handle keeps catching up mid-stream: change ids
  // drawn in one order and committed in another would let it skip one for good.
  const std::string url = test_database();
  auto writer = postgres::open_postgres_backend(url);
  auto reader = postgres::open_postgres_backend(url);
  constexpr size_t kThreads = 4, kEach = 60;
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = 0; i < kEach; ++i) {
        const std::string id = fmt::format("t{}-{:03}", t, i);
        writer->put({{memory_of(id, "a", "shared word " + id, 1000 + i), {}, false}});
      }
    });
  }
  Filter filter;
  filter.now = 5000;
  std::thread searcher([&] {
    while (!done) reader->lexical_search(filter, "word", 5);
  });
  for (auto& thread : threads) thread.join();
  done = true;
  searcher.join();
  EXPECT_EQ(reader->lexical_search(filter, "word", 1000).size(), kThreads * kEach);
}

TEST(PostgresBackend, SelectiveFilterThroughTheHnswIndexFindsEveryMatch) {
  // exact_threshold 1: every filtered search goes through the HNSW index with iterative scans;
  // 3000 vectors one at a time into the graph take a while on pgvector, fewer would not test much;
  // a second handle on the same database searches exactly, as the reference.
  const std::string url = test_database();
  postgres::PostgresOptions through_index;
  through_index.exact_threshold = 1;
  through_index.hnsw_threshold = 0;  // the index from the first vector on
  auto pg = postgres::open_postgres_backend(url, through_index);
  postgres::PostgresOptions exact_only;
  exact_only.exact_threshold = 1000000;
  auto exact = postgres::open_postgres_backend(url, exact_only);

  const int64_t set = pg->create_vector_set({"test-8d", "fingerprint-8d", 8}, VectorSetState::Active);
  for (size_t i = 0; i < 3000; ++i) {
    std::vector<float> values(8);
    for (size_t d = 0; d < 8; ++d) values[d] = static_cast<float>(std::sin(0.37 * static_cast<double>(i) + 1.3 * d));
    retrieval::l2_normalize(values.data(), values.size());
    // One memory in 300 belongs to the rare agent: 10 in all.
    const MemoryEntry entry = memory_of(fmt::format("m{:05}", i), i % 300 == 7 ? "rare" : "common", "text", 1000 + i);
    pg->put({{entry, {{set, values}}, false}});
  }
  std::vector<float> query(8, 0.0f);
  query[0] = 1.0f;
  Filter rare;
  rare.agent_id = "rare";
  rare.now = 1;
  const auto found = pg->dense_search(rare, set, query, 20);
  const auto reference = exact->dense_search(rare, set, query, 20);
  ASSERT_EQ(reference.size(), 10u);
  ASSERT_EQ(found.size(), 10u);
  for (size_t i = 0; i < found.size(); ++i) {
    EXPECT_EQ(found[i].id, reference[i].id) << i;
    EXPECT_NEAR(found[i].score, reference[i].score, 1e-6);
  }
  Filter common;
  common.agent_id = "common";
  common.now = 1;
  const auto approximate = pg->dense_search(common, set, query, 25);
  const auto truth = exact->dense_search(common, set, query, 25);
  ASSERT_EQ(approximate.size(), 25u);
  size_t hits = 0;
  for (const auto& candidate : approximate) {
    hits += std::any_of(truth.begin(), truth.end(), [&](const Candidate& c) { return c.id == candidate.id; });
  }
  EXPECT_GE(hits, 23u) << "recall@25 of the HNSW index against exact search";
}

TEST(PostgresBackend, ConnectionErrorsNameTheServerWithoutThePassword) {
  try {
    postgres::open_postgres_backend("postgresql://someone:secret-pass@127.0.0.1:1/nothing");
    FAIL() << "connected to port 1";
  } catch (const memembed::Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Network);
    const std::string message = e.what();
    EXPECT_NE(message.find("127.0.0.1:1"), std::string::npos) << message;
    EXPECT_EQ(message.find("secret-pass"), std::string::npos) << message;
  }
}

TEST(PostgresBackend, OnlyOneProcessHoldsTheReindexLock) {
  const std::string url = test_database();
  auto first = postgres::try_lock_reindex(url);
  ASSERT_TRUE(first);
  EXPECT_FALSE(postgres::try_lock_reindex(url));
  first.reset();
  EXPECT_TRUE(postgres::try_lock_reindex(url));
}

TEST(PostgresBackend, ProcessesAdoptingTheSameModelAtOnceShareOneActiveSet) {
  // Several servers opening one empty database at the same moment each make the model active.
  for (int round = 0; round < 5; ++round) {
    const std::string url = test_database();
    std::vector<std::unique_ptr<memory::MemoryBackend>> backends;
    for (int i = 0; i < 4; ++i) backends.push_back(postgres::open_postgres_backend(url));
    const memory::ModelIdentity model{"glove", "fingerprint-of-glove", 25};
    std::vector<int64_t> ids(backends.size(), -1);
    std::vector<std::thread> openers;
    for (size_t i = 0; i < backends.size(); ++i) {
      openers.emplace_back([&, i] {
        try {
          ids[i] = backends[i]->create_vector_set(model, memory::VectorSetState::Active);
        } catch (const std::exception& e) {
          ADD_FAILURE() << "backend " << i << ": " << e.what();
        }
      });
    }
    for (auto& opener : openers) opener.join();
    for (int64_t id : ids) EXPECT_EQ(id, ids[0]) << "round " << round;
    size_t active = 0;
    for (const auto& set : backends[0]->vector_sets()) active += set.state == memory::VectorSetState::Active;
    EXPECT_EQ(active, 1u);
  }
}

}  // namespace
}  // namespace memembed::testing
