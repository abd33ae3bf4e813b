// Tests of `memembed serve` over HTTP, run against both backends: the embedded SQLite store
// (--data) and PostgreSQL + pgvector (--database, a fresh database in the test cluster).
#pragma once

#include "postgres_support.h"
#include "serve_process.h"

#include "memembed/json_io.h"

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace memembed::testing {

struct Reply {
  int status = 0;  // 0: no response (connection failed)
  Json body;
  std::string text;
  httplib::Headers headers;
};

class Http {
 public:
  explicit Http(int port) : client_("127.0.0.1", port) {
    client_.set_read_timeout(60, 0);
    client_.set_keep_alive(true);
  }
  void bearer(const std::string& token) { token_ = token; }

  Reply get(const std::string& path) { return reply(client_.Get(path.c_str(), headers())); }
  Reply del(const std::string& path) { return reply(client_.Delete(path.c_str(), headers())); }
  Reply post(const std::string& path, const Json& body) { return post_raw(path, body.dump()); }
  Reply post_raw(const std::string& path, const std::string& body) {
    return reply(client_.Post(path.c_str(), headers(), body, "application/json"));
  }
  Reply patch(const std::string& path, const Json& body) {
    return reply(client_.Patch(path.c_str(), headers(), body.dump(), "application/json"));
  }

 private:
  httplib::Headers headers() const {
    if (token_.empty()) return {};
    return {{"Authorization", "Bearer " + token_}};
  }
  static Reply reply(const httplib::Result& result) {
    Reply out;
    if (!result) return out;
    out.status = result->status;
    out.text = result->body;
    out.headers = result->headers;
    out.body = Json::parse(result->body, nullptr, false);
    return out;
  }
  httplib::Client client_;
  std::string token_;
};

// The store argument for `backend` ("sqlite" or "postgres"): a data directory under `dir`, or a
// fresh database.
inline std::vector<std::string> store_arguments(const std::string& backend, const std::filesystem::path& dir) {
  if (backend == "postgres") return {"--database", test_database()};
  return {"--data", (dir / "data").string()};
}

inline std::string bert_tiny() { return fixture_dir("bert-tiny").string(); }

// Polls GET `path` (up to a minute) until `done(reply)`; the last reply.
template <typename Done>
Reply poll_until(Http& http, const std::string& path, Done done) {
  Reply reply;
  for (int i = 0; i < 600; ++i) {
    reply = http.get(path);
    if (done(reply)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return reply;
}

// GET /admin/memory/reindex once the job has ended (completed, interrupted or failed).
inline Reply wait_for_reindex(Http& admin) {
  return poll_until(admin, "/admin/memory/reindex", [](const Reply& reply) {
    const std::string state = reply.body.is_object() ? reply.body.value("state", "") : "";
    return state != "loading_model" && state != "embedding";
  });
}

inline std::string error_code(const Reply& reply) {
  if (!reply.body.is_object() || !reply.body.contains("error")) return "(no error body: " + reply.text + ")";
  return reply.body["error"].value("code", "(no code)");
}

}  // namespace memembed::testing
