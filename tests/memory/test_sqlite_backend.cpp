// The SQLite backend: the conformance suite plus what is particular to an embedded store.
#include "backend_conformance.h"
#include "fixture_support.h"
#include "memembed/error.h"

#include <sqlite3.h>
#include <unistd.h>

namespace memembed::testing {

using namespace memembed::memory;

INSTANTIATE_TEST_SUITE_P(Sqlite, BackendConformance,
                         ::testing::Values(BackendUnderTest{
                             "sqlite", [](const std::filesystem::path& dir) { return open_sqlite_backend(dir); }}),
                         backend_name);

TEST(SqliteBackend, ASecondOpenOfTheSameDirectoryIsRefused) {
  const TempDir dir_temp;
  const auto dir = dir_temp.path();
  auto first = open_sqlite_backend(dir);
  try {
    open_sqlite_backend(dir);
    FAIL() << "second open succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("in use by another process (pid " + std::to_string(::getpid())),
              std::string::npos)
        << e.what();
  }
  first.reset();
  EXPECT_NO_THROW(open_sqlite_backend(dir));  // released on close
}

TEST(SqliteBackend, UsesWalWithFullSync) {
  const TempDir dir_temp;
  const auto dir = dir_temp.path();
  open_sqlite_backend(dir).reset();
  EXPECT_TRUE(std::filesystem::exists(dir / "memories.db"));
  // journal_mode is persistent in the file: a fresh connection sees WAL.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "memories.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, nullptr);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "wal");
  sqlite3_finalize(s);
  sqlite3_close(db);
}

TEST(SqliteBackend, ANonDatabaseFileIsAClearError) {
  const TempDir dir_temp;
  const auto dir = dir_temp.path();
  write_file(dir / "memories.db", std::string(4096, 'x'));
  try {
    open_sqlite_backend(dir);
    FAIL() << "opened garbage";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("memories.db"), std::string::npos) << e.what();
  }
}

}  // namespace memembed::testing
