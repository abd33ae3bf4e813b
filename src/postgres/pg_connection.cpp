#include "pg_connection.h"

#include "memembed/error.h"

#include <regex>

namespace memembed::postgres {

std::string redact_url(const std::string& url) {
  static const std::regex password(R"(^(postgres(?:ql)?://[^:/@]*):[^@]*@)");
  std::string out = std::regex_replace(url, password, "$1:***@");
  static const std::regex keyword(R"((password\s*=\s*)\S+)");
  return std::regex_replace(out, keyword, "$1***");
}

int64_t PgResult::integer(int row, int column) const { return std::stoll(text(row, column)); }
double PgResult::real(int row, int column) const { return std::stod(text(row, column)); }

PgConnection::PgConnection(const std::string& url) : conn_(PQconnectdb(url.c_str()), PQfinish) {
  if (PQstatus(conn_.get()) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn_.get());
    while (!message.empty() && message.back() == '\n') message.pop_back();
    throw make_error(ErrorKind::Network, "cannot connect to PostgreSQL at {}: {}", redact_url(url), message);
  }
  run("SET client_min_messages = warning");
}

namespace {

void check(PGconn* conn, const PgResult& result) {
  const ExecStatusType status = PQresultStatus(result.get());
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return;
  const char* state = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
  std::string message = PQerrorMessage(conn);
  while (!message.empty() && message.back() == '\n') message.pop_back();
  throw PgError(state ? state : "", message);
}

}  // namespace

void PgConnection::run_script(const std::string& sql) { check(conn_.get(), PgResult(PQexec(conn_.get(), sql.c_str()))); }

PgResult PgConnection::run(const std::string& sql, const std::vector<Param>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const Param& param : params) values.push_back(param ? param->c_str() : nullptr);
  PgResult result(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                               nullptr, nullptr, 0));
  check(conn_.get(), result);
  return result;
}

PgTransaction::PgTransaction(PgConnection& conn) : conn_(conn) { conn_.run("BEGIN"); }

PgTransaction::~PgTransaction() {
  if (done_) return;
  try {
    conn_.run("ROLLBACK");
  } catch (...) {
    // The connection is broken; the pool replaces it.
  }
}

void PgTransaction::commit() {
  conn_.run("COMMIT");
  done_ = true;
}

PgPool::PgPool(std::string url, size_t size) : url_(std::move(url)), size_(std::max<size_t>(1, size)) {}

PgPool::Lease PgPool::acquire() {
  std::unique_lock<std::mutex> lock(mutex_);
  available_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
  if (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    return Lease(*this, std::move(conn));
  }
  ++open_;
  lock.unlock();
  try {
    return Lease(*this, std::make_unique<PgConnection>(url_));
  } catch (...) {
    lock.lock();
    --open_;
    available_.notify_one();
    throw;
  }
}

PgPool::Lease::~Lease() {
  if (!conn_) return;  // moved from
  std::lock_guard<std::mutex> lock(pool_.mutex_);
  if (conn_->healthy() && PQtransactionStatus(conn_->handle()) == PQTRANS_IDLE) {
    pool_.idle_.push_back(std::move(conn_));
  } else {
    --pool_.open_;  // broken or stuck in a transaction: drop it, a new one is opened on demand
  }
  pool_.available_.notify_one();
}

std::string array_literal(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

}  // namespace memembed::postgres
