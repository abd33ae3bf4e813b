// The server's start-up and its reindex job over HTTP, with the server in this process so the test
// can hold the loader (store and model) and the reindex's model load at a gate: while starting,
// /health answers and every route that needs the store or the model answers 503; a second reindex
// while one runs is 409, in the same server and (PostgreSQL) in another server on the database;
// with a store operation held at a gate inside the model, queued ones are shed (load shedding).
// Both backends; the store, the model and the HTTP client are the real ones.
#include "serve_test_support.h"

#include "memembed/postgres.h"
#include "memembed/server.h"

#include <atomic>
#include <condition_variable>
#include <mutex>

namespace memembed::testing {
namespace {

namespace fs = std::filesystem;

// Holds whoever calls wait() until open().
class Gate {
 public:
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    reached_ = true;
    changed_.notify_all();
    changed_.wait(lock, [this] { return open_; });
  }
  void open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  bool wait_reached() {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(60), [this] { return reached_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool reached_ = false;
  bool open_ = false;
};

// The real model, except that the next document embedding after arm() waits at `gate`: a store
// operation then holds its place of --store-concurrency for as long as the test wants.
class HeldEmbedder : public memory::Embedder {
 public:
  HeldEmbedder(std::shared_ptr<const memory::Embedder> model, Gate& gate) : model_(std::move(model)), gate_(gate) {}
  void arm() { armed_ = true; }
  memory::ModelIdentity identity() const override { return model_->identity(); }
  embed::Embeddings embed_documents(const std::vector<std::string>& texts) const override {
    if (armed_.exchange(false)) gate_.wait();
    return model_->embed_documents(texts);
  }
  embed::Embeddings embed_queries(const std::vector<std::string>& texts,
                                  std::optional<memory::Category> category) const override {
    return model_->embed_queries(texts, category);
  }

 private:
  std::shared_ptr<const memory::Embedder> model_;
  Gate& gate_;
  mutable std::atomic<bool> armed_{false};
};

constexpr const char* kAdminToken = "admin-token-0123456789abcdef";

class ServerLifecycleTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    MEMEMBED_REQUIRE_SHARED(fixture_dir("bert-tiny-cls"));
    if (GetParam() == "postgres") database_ = test_database();
    admin_token_ = dir_.write("admin.token", std::string(kAdminToken) + "\n");
  }

  // What `memembed serve` builds, on this test's database; `load_model` (reindex) waits at `gate`.
  server::ServiceParts parts(Gate* reindex_gate = nullptr) const {
    server::ServiceParts parts;
    parts.embedder = memory::load_model_embedder(bert_tiny());
    parts.embedder_info = {{"provider", "local"}, {"model", bert_tiny()}};
    parts.load_model = [reindex_gate](const std::string& model) {
      if (reindex_gate) reindex_gate->wait();
      return memory::load_model_embedder(model);
    };
    if (database_.empty()) {
      const fs::path data = dir_ / "data";
      parts.open_backend = [data] { return memory::open_sqlite_backend(data); };
    } else {
      const std::string url = database_;
      parts.open_backend = [url] { return postgres::open_postgres_backend(url); };
      parts.lock_reindex = [url] { return postgres::try_lock_reindex(url); };
    }
    return parts;
  }

  server::ServeOptions options() const {
    server::ServeOptions options;
    options.port = 0;
    options.http_threads = 8;
    options.admin_token_file = admin_token_;
    return options;
  }

  static void wait_ready(Http& http) {
    EXPECT_EQ(poll_until(http, "/ready", [](const Reply& reply) { return reply.status == 200; }).status, 200);
  }

  TempDir dir_;
  std::string database_;
  fs::path admin_token_;
};

TEST_P(ServerLifecycleTest, WhileStartingHealthAnswersAndEveryStoreOrModelRouteIs503) {
  Gate loading;
  server::Server server(options(), [&] {
    loading.wait();
    return parts();
  });
  Http http(server.start());
  ASSERT_TRUE(loading.wait_reached());

  EXPECT_EQ(http.get("/health").body["status"], "ok");
  const Reply ready = http.get("/ready");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.body["status"], "starting");
  const Reply metrics = http.get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.text.find("memembed_ready 0"), std::string::npos) << metrics.text;

  const Json memory = {{"agent_id", "a"}, {"category", "SEMANTIC"}, {"content", "x"}};
  const std::vector<std::pair<std::string, Reply>> replies = {
      {"POST /memories", http.post("/memories", memory)},
      {"POST /memories/search", http.post("/memories/search", {{"agent_id", "a"}, {"text", "x"}})},
      {"GET /memories/{id}", http.get("/memories/m1?agent_id=a")},
      {"PATCH /memories/{id}", http.patch("/memories/m1", {{"agent_id", "a"}, {"content", "y"}})},
      {"DELETE /memories/{id}", http.del("/memories/m1?agent_id=a")},
      {"GET /memories/count", http.get("/memories/count?agent_id=a")},
      {"POST /shared/publish", http.post("/shared/publish", {{"agent_id", "a"}, {"memory_id", "m1"}})},
      {"POST /shared/search", http.post("/shared/search", {{"text", "x"}})},
      {"DELETE /shared/{id}", http.del("/shared/m1?agent_id=a")},
      {"POST /v1/embeddings", http.post("/v1/embeddings", {{"input", "x"}, {"model", "m"}})},
      {"GET /v1/models", http.get("/v1/models")},
  };
  http.bearer(kAdminToken);
  std::vector<std::pair<std::string, Reply>> admin = {
      {"GET /admin/memory/embedder", http.get("/admin/memory/embedder")},
      {"POST /admin/memory/reindex", http.post("/admin/memory/reindex", {{"model", bert_tiny()}})},
      {"GET /admin/memory/reindex", http.get("/admin/memory/reindex")},
  };
  for (const auto& [route, reply] : replies) {
    EXPECT_EQ(reply.status, 503) << route << ": " << reply.text;
    EXPECT_EQ(error_code(reply), "starting") << route;
    EXPECT_EQ(reply.headers.count("Retry-After"), 1u) << route;
  }
  for (const auto& [route, reply] : admin) {
    EXPECT_EQ(reply.status, 503) << route << ": " << reply.text;
    EXPECT_EQ(error_code(reply), "starting") << route;
  }

  loading.open();
  wait_ready(http);
  http.bearer("");
  EXPECT_EQ(http.post("/memories", memory).status, 201);
  EXPECT_EQ(http.get("/memories/count?agent_id=a").body["count"], 1);
  server.stop();
  server.wait();
}

TEST_P(ServerLifecycleTest, ASecondReindexWhileOneRunsIsAConflict) {
  Gate model_load;
  server::Server server(options(), [&] { return parts(&model_load); });
  Http http(server.start());
  wait_ready(http);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(http.post("/memories", {{"agent_id", "a"}, {"category", "SEMANTIC"}, {"content", "note " + std::to_string(i)}})
                  .status,
              201);
  }
  http.bearer(kAdminToken);
  const Json target = {{"model", fixture_dir("bert-tiny-cls").string()}};
  const Reply started = http.post("/admin/memory/reindex", target);
  ASSERT_EQ(started.status, 202) << started.text;
  ASSERT_TRUE(model_load.wait_reached());  // the job is running, held while it loads the model

  const Reply again = http.post("/admin/memory/reindex", target);
  EXPECT_EQ(again.status, 409) << again.text;
  EXPECT_EQ(error_code(again), "conflict");
  EXPECT_NE(again.body["error"].value("message", "").find("already running"), std::string::npos) << again.text;
  EXPECT_EQ(http.get("/admin/memory/reindex").body["state"], "loading_model");
  EXPECT_NE(http.get("/metrics").text.find("memembed_reindex_running 1"), std::string::npos);

  if (GetParam() == "postgres") {
    // Another server on the same database: the advisory lock makes its reindex a conflict too.
    server::Server other(options(), [&] { return parts(); });
    Http other_http(other.start());
    wait_ready(other_http);
    other_http.bearer(kAdminToken);
    const Reply elsewhere = other_http.post("/admin/memory/reindex", target);
    EXPECT_EQ(elsewhere.status, 409) << elsewhere.text;
    EXPECT_NE(elsewhere.body["error"].value("message", "").find("another memembed process"), std::string::npos)
        << elsewhere.text;
    EXPECT_EQ(other_http.get("/admin/memory/reindex").body["state"], "idle");
    other.stop();
    other.wait();
  }

  model_load.open();
  const Reply done = wait_for_reindex(http);
  EXPECT_EQ(done.body["state"], "completed") << done.text;
  EXPECT_EQ(done.body["switched"], true);
  EXPECT_EQ(done.body["done"], 5);
  // Once it has finished, a new reindex may start.
  const Reply back = http.post("/admin/memory/reindex", {{"model", bert_tiny()}});
  EXPECT_EQ(back.status, 202) << back.text;
  EXPECT_EQ(wait_for_reindex(http).body["state"], "completed");
  server.stop();
  server.wait();
}

TEST_P(ServerLifecycleTest, QueuedStoreOperationsPastTheQueueTimeoutOrWhoseClientLeftAreNotRun) {
  Gate held;
  std::shared_ptr<HeldEmbedder> model;
  server::ServeOptions shedding = options();
  shedding.store_concurrency = 1;
  shedding.queue_timeout = std::chrono::milliseconds(1500);
  server::Server server(shedding, [&] {
    server::ServiceParts served = parts();
    model = std::make_shared<HeldEmbedder>(served.embedder, held);
    served.embedder = model;
    return served;
  });
  const int port = server.start();
  Http http(port);
  wait_ready(http);
  const Json note = {{"agent_id", "a"}, {"category", "SEMANTIC"}, {"content", "the first note"}};
  model->arm();
  Reply first;
  std::thread holder([&] { first = Http(port).post("/memories", note); });
  ASSERT_TRUE(held.wait_reached());  // the one store place is taken until the gate opens

  const Reply late = http.post("/memories/search", {{"agent_id", "a"}, {"text", "note"}});
  EXPECT_EQ(late.status, 503) << late.text;
  EXPECT_EQ(error_code(late), "overloaded");
  EXPECT_EQ(late.headers.count("Retry-After"), 1u);
  EXPECT_NE(late.body["error"].value("message", "").find("--store-concurrency"), std::string::npos) << late.text;

  {
    // A client that gives up while its write is queued, and closes the connection.
    httplib::Client leaving("127.0.0.1", port);
    leaving.set_read_timeout(0, 200000);
    const Json gone_note = {{"agent_id", "a"}, {"category", "SEMANTIC"}, {"content", "never stored"}};
    EXPECT_FALSE(leaving.Post("/memories", gone_note.dump(), "application/json"));
  }
  const Reply shed = poll_until(http, "/metrics", [](const Reply& reply) {
    return reply.text.find("memembed_store_shed_total{reason=\"client_gone\"} 1") != std::string::npos;
  });
  EXPECT_NE(shed.text.find("memembed_store_shed_total{reason=\"client_gone\"} 1"), std::string::npos) << shed.text;
  EXPECT_NE(shed.text.find("memembed_store_shed_total{reason=\"queue_timeout\"} 1"), std::string::npos);
  EXPECT_NE(shed.text.find("memembed_store_waiting 0"), std::string::npos);

  held.open();
  holder.join();
  EXPECT_EQ(first.status, 201) << first.text;
  // Only the first note was stored: the abandoned write never ran, even once the place was free.
  EXPECT_EQ(http.get("/memories/count?agent_id=a").body["count"], 1);
  const Reply found = http.post("/memories/search", {{"agent_id", "a"}, {"text", "stored"}});
  EXPECT_EQ(found.status, 200);
  for (const Json& result : found.body["results"]) EXPECT_NE(result["content"], "never stored");
  server.stop();
  server.wait();
}

INSTANTIATE_TEST_SUITE_P(Backends, ServerLifecycleTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace memembed::testing
