// Thin RAII over the SQLite C API: a connection and prepared statements whose errors become
// memembed::Error naming the database file and the statement.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace memembed::memory {

class SqliteDb;

class Statement {
 public:
  Statement(SqliteDb& db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, int64_t value);
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view text);
  Statement& bind_blob(int index, const void* data, size_t bytes);
  Statement& bind_null(int index);
  Statement& bind(int index, const std::optional<int64_t>& value);
  // Advances; false when done. Throws on error.
  bool step();
  void run();  // step() to completion, then reset()
  void reset();

  int64_t column_int(int column) const;
  double column_double(int column) const;
  std::string column_text(int column) const;
  bool column_is_null(int column) const;
  std::optional<int64_t> column_optional_int(int column) const;
  const void* column_blob(int column) const;
  size_t column_bytes(int column) const;

  sqlite3_stmt* handle() { return stmt_; }

 private:
  SqliteDb& db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

class SqliteDb {
 public:
  SqliteDb(const std::filesystem::path& path, bool read_only);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  void exec(std::string_view sql);
  [[noreturn]] void fail(std::string_view what) const;
  sqlite3* handle() { return db_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back when destroyed without commit() (an exception).
class Transaction {
 public:
  explicit Transaction(SqliteDb& db);
  ~Transaction();
  void commit();

 private:
  SqliteDb& db_;
  bool done_ = false;
};

}  // namespace memembed::memory
