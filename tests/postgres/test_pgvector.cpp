// The PostgreSQL the backend runs on: pgvector loads, and an HNSW index answers a selective
// filtered query with every matching row once iterative index scans are on (pgvector 0.8).
#include "postgres_support.h"

#include <cmath>
#include <string>
#include <vector>

namespace memembed::testing {
namespace {

using Connection = std::unique_ptr<PGconn, void (*)(PGconn*)>;
using Result = std::unique_ptr<PGresult, void (*)(PGresult*)>;

Result run(PGconn* conn, const std::string& sql) {
  Result result(PQexec(conn, sql.c_str()), PQclear);
  const auto status = PQresultStatus(result.get());
  EXPECT_TRUE(status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) << sql << ": " << PQerrorMessage(conn);
  return result;
}

std::vector<std::string> column(const Result& result) {
  std::vector<std::string> values;
  for (int row = 0; row < PQntuples(result.get()); ++row) values.emplace_back(PQgetvalue(result.get(), row, 0));
  return values;
}

class PgvectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conn_.reset(PQconnectdb(test_database().c_str()));
    ASSERT_EQ(PQstatus(conn_.get()), CONNECTION_OK) << PQerrorMessage(conn_.get());
    run(conn_.get(), "SET client_min_messages = warning");
  }
  Connection conn_{nullptr, PQfinish};
};

TEST_F(PgvectorTest, ExtensionIsVersionZeroEight) {
  run(conn_.get(), "CREATE EXTENSION vector");
  const auto version = column(run(conn_.get(), "SELECT extversion FROM pg_extension WHERE extname = 'vector'"));
  ASSERT_EQ(version.size(), 1u);
  EXPECT_EQ(version[0], "0.8.0");
  const auto distance = column(run(conn_.get(), "SELECT '[1,0,0]'::vector <=> '[0,1,0]'::vector"));
  EXPECT_EQ(distance[0], "1");
}

TEST_F(PgvectorTest, HnswFilteredSearchReturnsEveryMatchWithIterativeScan) {
  // 4000 rows in 8 dims, 1 in 200 belongs to the agent searched for (20 rows): the index's first
  // ef_search candidates hold few of them, so without iterative scans the query under-fetches.
  run(conn_.get(), "CREATE EXTENSION vector");
  run(conn_.get(), "CREATE TABLE items (id int PRIMARY KEY, agent text NOT NULL, embedding vector(8) NOT NULL)");
  run(conn_.get(),
      "INSERT INTO items SELECT i, CASE WHEN i % 200 = 0 THEN 'rare' ELSE 'common' END, "
      "ARRAY(SELECT sin(i * 0.37 + d * 1.3) FROM generate_series(1, 8) d)::real[]::vector "
      "FROM generate_series(1, 4000) i");
  run(conn_.get(), "CREATE INDEX ON items USING hnsw (embedding vector_cosine_ops)");
  run(conn_.get(), "ANALYZE items");
  run(conn_.get(), "SET enable_seqscan = off");
  const std::string query =
      "SELECT id FROM items WHERE agent = 'rare' ORDER BY embedding <=> '[1,0,0,0,0,0,0,1]' LIMIT 20";

  const auto plan = column(run(conn_.get(), "EXPLAIN " + query));
  std::string plan_text;
  for (const auto& line : plan) plan_text += line + "\n";
  EXPECT_NE(plan_text.find("Index Scan using items_embedding_idx"), std::string::npos) << plan_text;

  const auto under_fetched = column(run(conn_.get(), query));
  EXPECT_LT(under_fetched.size(), 20u) << "the filter no longer under-fetches without iterative scans";

  run(conn_.get(), "SET hnsw.iterative_scan = relaxed_order");
  const auto all = column(run(conn_.get(), query));
  EXPECT_EQ(all.size(), 20u);
}

}  // namespace
}  // namespace memembed::testing
