// libpq, the way the backend uses it: connections with parameterised statements in text format,
// results read by column, transactions, and a pool shared by many threads.
#pragma once

#include "memembed/error.h"

#include <libpq-fe.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace memembed::postgres {

// A statement PostgreSQL refused: an Io error carrying the SQLSTATE (e.g. "40P01" deadlock).
class PgError : public Error {
 public:
  PgError(std::string sqlstate, const std::string& message)
      : Error(ErrorKind::Io, "PostgreSQL: " + message + (sqlstate.empty() ? "" : " (SQLSTATE " + sqlstate + ")")),
        sqlstate_(std::move(sqlstate)) {}
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  std::string sqlstate_;
};

// NULL or a value in PostgreSQL's text format.
using Param = std::optional<std::string>;

class PgResult {
 public:
  explicit PgResult(PGresult* result) : result_(result, PQclear) {}
  int rows() const { return PQntuples(result_.get()); }
  bool is_null(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  std::string text(int row, int column) const { return PQgetvalue(result_.get(), row, column); }
  int64_t integer(int row, int column) const;
  double real(int row, int column) const;
  bool boolean(int row, int column) const { return text(row, column) == "t"; }
  PGresult* get() const { return result_.get(); }

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> result_;
};

class PgConnection {
 public:
  // Connects; Network error naming the server (without the password) when it cannot.
  explicit PgConnection(const std::string& url);
  // Runs one statement with $1.. parameters; Io error with PostgreSQL's message and SQLSTATE.
  PgResult run(const std::string& sql, const std::vector<Param>& params = {});
  // Runs several `;`-separated statements without parameters (schema scripts).
  void run_script(const std::string& sql);
  bool healthy() const { return PQstatus(conn_.get()) == CONNECTION_OK; }
  PGconn* handle() const { return conn_.get(); }

 private:
  std::unique_ptr<PGconn, void (*)(PGconn*)> conn_;
};

// BEGIN on construction; ROLLBACK unless commit() was called (an exception leaves nothing behind).
class PgTransaction {
 public:
  explicit PgTransaction(PgConnection& conn);
  ~PgTransaction();
  void commit();

 private:
  PgConnection& conn_;
  bool done_ = false;
};

// A fixed number of connections handed out one per call; callers wait while all are in use.
class PgPool {
 public:
  PgPool(std::string url, size_t size);

  class Lease {
   public:
    Lease(PgPool& pool, std::unique_ptr<PgConnection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    ~Lease();
    PgConnection& operator*() { return *conn_; }
    PgConnection* operator->() { return conn_.get(); }

   private:
    PgPool& pool_;
    std::unique_ptr<PgConnection> conn_;
  };
  Lease acquire();
  const std::string& url() const { return url_; }

 private:
  std::string url_;
  size_t size_;
  size_t open_ = 0;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<PgConnection>> idle_;
};

// PostgreSQL's text form of a text[] value (a parameter cast with ::text[]).
std::string array_literal(const std::vector<std::string>& values);

// The URL without its password, for messages.
std::string redact_url(const std::string& url);

}  // namespace memembed::postgres
