#include "sqlite_db.h"

#include "memembed/error.h"

namespace memembed::memory {

SqliteDb::SqliteDb(const std::filesystem::path& path, bool read_only) : path_(path) {
  const int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
                    SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw io_error("{}: cannot open the memory database: {}", path.string(), message);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, 10000);
}

SqliteDb::~SqliteDb() { sqlite3_close_v2(db_); }

void SqliteDb::exec(std::string_view sql) {
  char* message = nullptr;
  const std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string what = message ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    throw io_error("{}: {} (in: {})", path_.string(), what, text.substr(0, 120));
  }
}

void SqliteDb::fail(std::string_view what) const {
  const int code = sqlite3_extended_errcode(db_);
  const ErrorKind kind = (code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB
                             ? ErrorKind::InvalidInput
                             : ErrorKind::Io;
  throw make_error(kind, "{}: {}: {}", path_.string(), sqlite3_errmsg(db_), what);
}

Statement::Statement(SqliteDb& db, std::string_view sql) : db_(db), sql_(sql) {
  if (sqlite3_prepare_v3(db.handle(), sql_.data(), static_cast<int>(sql_.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt_, nullptr) != SQLITE_OK) {
    db.fail(sql_.substr(0, 160));
  }
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int index, int64_t value) {
  if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK) db_.fail(sql_);
  return *this;
}
Statement& Statement::bind(int index, double value) {
  if (sqlite3_bind_double(stmt_, index, value) != SQLITE_OK) db_.fail(sql_);
  return *this;
}
Statement& Statement::bind(int index, std::string_view text) {
  if (sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT) != SQLITE_OK) {
    db_.fail(sql_);
  }
  return *this;
}
Statement& Statement::bind_blob(int index, const void* data, size_t bytes) {
  if (sqlite3_bind_blob(stmt_, index, data, static_cast<int>(bytes), SQLITE_TRANSIENT) != SQLITE_OK) db_.fail(sql_);
  return *this;
}
Statement& Statement::bind_null(int index) {
  if (sqlite3_bind_null(stmt_, index) != SQLITE_OK) db_.fail(sql_);
  return *this;
}
Statement& Statement::bind(int index, const std::optional<int64_t>& value) {
  return value ? bind(index, *value) : bind_null(index);
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const std::string what = sql_.substr(0, 160);
  sqlite3_reset(stmt_);
  db_.fail(what);
}

void Statement::run() {
  while (step()) {
  }
  reset();
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t Statement::column_int(int column) const { return sqlite3_column_int64(stmt_, column); }
double Statement::column_double(int column) const { return sqlite3_column_double(stmt_, column); }
std::string Statement::column_text(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  return text ? std::string(text, static_cast<size_t>(sqlite3_column_bytes(stmt_, column))) : std::string();
}
bool Statement::column_is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
std::optional<int64_t> Statement::column_optional_int(int column) const {
  if (column_is_null(column)) return std::nullopt;
  return column_int(column);
}
const void* Statement::column_blob(int column) const { return sqlite3_column_blob(stmt_, column); }
size_t Statement::column_bytes(int column) const {
  return static_cast<size_t>(sqlite3_column_bytes(stmt_, column));
}

Transaction::Transaction(SqliteDb& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (!done_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace memembed::memory
