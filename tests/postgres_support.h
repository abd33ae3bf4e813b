// A PostgreSQL database for a test: a fresh, empty database with pgvector available, in the
// throw-away cluster of the test run.
//
// .ci/run starts one cluster (scripts/test-postgres.sh) and exports MEMEMBED_TEST_DATABASE_URL;
// without it (a developer running one test binary) the first test_database() call starts a private
// cluster on a free loopback port in 18552-18599 with the same script and stops it when the test
// binary exits. PostgreSQL is installed by scripts/setup.sh, so a missing server fails the test
// rather than skipping it.
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

namespace memembed::testing {

// Runs `command` through the shell and returns its stdout; throws when it exits non-zero.
inline std::string shell_output(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  if (!pipe) throw std::runtime_error("cannot run: " + command);
  std::string out;
  char buffer[512];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe.get())) > 0) out.append(buffer, n);
  const int status = ::pclose(pipe.release());
  if (status != 0) throw std::runtime_error("failed (" + std::to_string(status) + "): " + command);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// A cluster this process started; stopped (and its directory removed) at exit.
class PrivateCluster {
 public:
  PrivateCluster() {
    const std::string script = std::string(MEMEMBED_SOURCE_DIR) + "/scripts/test-postgres.sh";
    std::string last_error;
    for (int attempt = 0; attempt < 48; ++attempt) {
      const int port = 18552 + static_cast<int>((::getpid() + attempt) % 48);
      dir_ = std::filesystem::temp_directory_path() /
             ("memembed-pg-" + std::to_string(::getpid()) + "-" + std::to_string(port));
      try {
        url_ = shell_output(script + " start " + dir_.string() + " " + std::to_string(port) + " 2>/dev/null");
        return;
      } catch (const std::exception& e) {
        last_error = e.what();
        std::system((script + " stop " + dir_.string()).c_str());
      }
    }
    throw std::runtime_error("could not start a test PostgreSQL cluster: " + last_error);
  }
  ~PrivateCluster() {
    const std::string script = std::string(MEMEMBED_SOURCE_DIR) + "/scripts/test-postgres.sh";
    std::system((script + " stop " + dir_.string()).c_str());
  }
  const std::string& url() const { return url_; }

 private:
  std::filesystem::path dir_;
  std::string url_;
};

// The URL of the test cluster's maintenance database (`postgres`).
inline const std::string& test_cluster_url() {
  static const std::string url = [] {
    if (const char* env = std::getenv("MEMEMBED_TEST_DATABASE_URL"); env && *env) return std::string(env);
    static PrivateCluster cluster;
    return cluster.url();
  }();
  return url;
}

// Runs one SQL statement on `url`; throws with PostgreSQL's message when it fails.
inline void execute_sql(const std::string& url, const std::string& sql) {
  std::unique_ptr<PGconn, void (*)(PGconn*)> conn(PQconnectdb(url.c_str()), PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    throw std::runtime_error("cannot connect to " + url + ": " + PQerrorMessage(conn.get()));
  }
  std::unique_ptr<PGresult, void (*)(PGresult*)> result(PQexec(conn.get(), sql.c_str()), PQclear);
  const auto status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw std::runtime_error(sql + ": " + PQerrorMessage(conn.get()));
  }
}

// A new empty database (named after the test and process, so tests in parallel never share one)
// and its URL. The database is left behind for inspection; the cluster is throw-away.
inline std::string test_database() {
  static std::atomic<int> counter{0};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = "t" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  if (info) {
    for (char c : std::string(info->name())) {
      if (name.size() >= 60) break;
      name += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
    }
  }
  const std::string& cluster = test_cluster_url();
  execute_sql(cluster, "CREATE DATABASE " + name);
  const auto slash = cluster.rfind('/');
  return cluster.substr(0, slash + 1) + name;
}

}  // namespace memembed::testing
