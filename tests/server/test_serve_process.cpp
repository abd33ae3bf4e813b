// `memembed serve` as a process: graceful shutdown, kill -9 during a stream of writes, two
// processes on one PostgreSQL database, one process per SQLite data directory.
#include "serve_test_support.h"

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

namespace memembed::testing {
namespace {

namespace fs = std::filesystem;

// `writers` clients storing memories as fast as they can until finish(); every id the server
// acknowledged (201) is kept, with its writer.
class WriteStream {
 public:
  WriteStream(int port, int writers) {
    for (int w = 0; w < writers; ++w) {
      threads_.emplace_back([this, port, w] {
        Http http(port);
        for (int i = 0; !stop_; ++i) {
          const Reply reply = http.post("/memories", {{"agent_id", "writer-" + std::to_string(w)},
                                                       {"category", "EPISODIC"},
                                                       {"content", "event " + std::to_string(i) + " of writer " + std::to_string(w)}});
          if (reply.status == 201) {
            std::lock_guard<std::mutex> lock(mutex_);
            acknowledged_.insert(reply.body["id"].get<std::string>() + "|" + std::to_string(w));
          } else if (reply.status == 0) {
            return;  // the server is gone
          }
        }
      });
    }
  }
  size_t acknowledged() {
    std::lock_guard<std::mutex> lock(mutex_);
    return acknowledged_.size();
  }
  std::set<std::string> finish() {
    stop_ = true;
    for (auto& thread : threads_) thread.join();
    return acknowledged_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::set<std::string> acknowledged_;
  std::vector<std::thread> threads_;
};

class ServeProcessTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<ServeProcess> start(const std::vector<std::string>& store, const std::string& log_name) {
    auto server = std::make_unique<ServeProcess>(store, dir_ / log_name);
    EXPECT_TRUE(server->wait_ready()) << server->log();
    return server;
  }

  // Every acknowledged id is there after a restart.
  void expect_all_present(int port, const std::set<std::string>& acknowledged) {
    Http http(port);
    size_t missing = 0;
    for (const std::string& entry : acknowledged) {
      const auto bar = entry.find('|');
      const Reply reply = http.get("/memories/" + entry.substr(0, bar) + "?agent_id=writer-" + entry.substr(bar + 1));
      if (reply.status != 200) ++missing;
    }
    EXPECT_EQ(missing, 0u) << "of " << acknowledged.size() << " acknowledged writes";
  }

  TempDir dir_;
};

TEST_P(ServeProcessTest, KillDashNineDuringWritesLosesNoAcknowledgedWrite) {
  const std::vector<std::string> store = store_arguments(GetParam(), dir_.path());
  auto server = start(store, "first.log");
  WriteStream stream(server->port(), 4);
  for (int i = 0; i < 2000 && stream.acknowledged() < 150; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  server->signal(SIGKILL);  // mid-stream: requests are in flight
  EXPECT_EQ(server->wait_exit(), 128 + SIGKILL);
  const std::set<std::string> acknowledged = stream.finish();
  ASSERT_GE(acknowledged.size(), 150u);

  auto restarted = start(store, "second.log");
  expect_all_present(restarted->port(), acknowledged);
}

TEST_P(ServeProcessTest, SigtermFinishesInFlightRequestsAndExitsCleanly) {
  const std::vector<std::string> store = store_arguments(GetParam(), dir_.path());
  auto server = start(store, "first.log");
  WriteStream stream(server->port(), 4);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  server->signal(SIGTERM);
  EXPECT_EQ(server->wait_exit(), 0) << server->log();
  const std::set<std::string> acknowledged = stream.finish();
  const std::string log = server->log();
  EXPECT_NE(log.find("\"event\":\"stopping\""), std::string::npos);
  EXPECT_NE(log.find("\"event\":\"stopped\""), std::string::npos);
  ASSERT_FALSE(acknowledged.empty());

  auto restarted = start(store, "second.log");
  expect_all_present(restarted->port(), acknowledged);
}

INSTANTIATE_TEST_SUITE_P(Backends, ServeProcessTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

TEST(ServeSharedDatabase, TwoProcessesOnOnePostgresDatabaseSeeEachOthersWrites) {
  const TempDir dir;
  const std::vector<std::string> store = {"--database", test_database()};
  ServeProcess first(store, dir / "first.log");
  ServeProcess second(store, dir / "second.log");
  ASSERT_TRUE(first.wait_ready()) << first.log();
  ASSERT_TRUE(second.wait_ready()) << second.log();
  Http a(first.port()), b(second.port());

  const Reply stored = a.post("/memories", {{"agent_id", "ops"}, {"category", "PROCEDURAL"},
                                             {"content", "Restart the ingest worker with systemctl restart ingest"}});
  ASSERT_EQ(stored.status, 201) << stored.text;
  const std::string id = stored.body["id"];
  EXPECT_EQ(b.get("/memories/" + id + "?agent_id=ops").body["content"],
            "Restart the ingest worker with systemctl restart ingest");
  const Reply found = b.post("/memories/search", {{"agent_id", "ops"}, {"text", "how do I restart ingest"}});
  ASSERT_EQ(found.body["results"].size(), 1u) << found.text;
  EXPECT_EQ(found.body["results"][0]["id"], id);
  EXPECT_EQ(b.get("/memories/count?agent_id=ops").body["count"], 1);
  // And back: the second process deletes, the first no longer finds it.
  EXPECT_EQ(b.del("/memories/" + id + "?agent_id=ops").status, 204);
  EXPECT_EQ(a.get("/memories/" + id + "?agent_id=ops").status, 404);
}

// The active vector set as GET /admin/memory/embedder reports it.
Json active_set(Http& admin) {
  const Reply embedder = admin.get("/admin/memory/embedder");
  for (const Json& set : embedder.body.value("vector_sets", Json::array())) {
    if (set["state"] == "active") return set;
  }
  return Json();
}

TEST(ServeSharedDatabase, AReindexInOneProcessSwitchesTheOthersOrTheyRefuseClearly) {
  MEMEMBED_REQUIRE_SHARED(fixture_dir("bert-tiny-f16"));
  const TempDir dir;
  const fs::path token = dir.write("admin.token", "admin-token-0123456789abcdef\n");
  const std::vector<std::string> arguments = {"--database", test_database(), "--model", bert_tiny(),
                                              "--admin-token-file", token.string()};
  ServeProcess first(arguments, dir / "first.log");
  ServeProcess second(arguments, dir / "second.log");
  ASSERT_TRUE(first.wait_ready()) << first.log();
  ASSERT_TRUE(second.wait_ready()) << second.log();
  Http a(first.port()), b(second.port());
  a.bearer("admin-token-0123456789abcdef");
  b.bearer("admin-token-0123456789abcdef");
  const auto store = [](Http& http, const std::string& content) {
    return http.post("/memories", {{"agent_id", "ops"}, {"category", "PROCEDURAL"}, {"content", content}}).status;
  };
  ASSERT_EQ(store(b, "Rotate the TLS certificates before they expire"), 201);
  ASSERT_EQ(store(b, "The ingest worker restarts with systemctl"), 201);

  // The first process switches the database to another model; the second follows on its own.
  const std::string cls = fixture_dir("bert-tiny-cls").string();
  ASSERT_EQ(a.post("/admin/memory/reindex", {{"model", cls}}).status, 202);
  const Reply done = wait_for_reindex(a);
  ASSERT_EQ(done.body["state"], "completed") << done.text;
  const std::string new_fingerprint = a.get("/admin/memory/embedder").body["fingerprint"];
  const Reply followed = poll_until(b, "/admin/memory/embedder", [&](const Reply& r) {
    return r.body.is_object() && r.body.value("fingerprint", "") == new_fingerprint;
  });
  ASSERT_EQ(followed.body["fingerprint"], new_fingerprint) << second.log();
  // Logged once the sweep after the switch is done, a moment after the new model serves.
  for (int i = 0; i < 100 && second.log().find("model_followed") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(second.log().find("model_followed"), std::string::npos) << second.log();
  // What the second process writes now has its vector in the new active set, and it finds it.
  ASSERT_EQ(store(b, "Backups of the staging database run nightly"), 201);
  const Json active = active_set(a);
  EXPECT_EQ(active["fingerprint"], new_fingerprint);
  EXPECT_EQ(active["vectors"], 3) << active.dump();
  const Reply found = b.post("/memories/search", {{"agent_id", "ops"}, {"text", "staging backups"}});
  ASSERT_EQ(found.status, 200) << found.text;
  EXPECT_NE(found.text.find("Backups of the staging database run nightly"), std::string::npos) << found.text;

  // A model the second process cannot load (the folder is gone by the time it looks): it refuses
  // with an error naming the model instead of serving with the wrong one, until switched back.
  const fs::path vanishing = dir / "vanishing-model";
  fs::copy(fixture_dir("bert-tiny-f16"), vanishing, fs::copy_options::recursive);
  second.signal(SIGSTOP);
  ASSERT_EQ(a.post("/admin/memory/reindex", {{"model", vanishing.string()}}).status, 202);
  const Reply switched = wait_for_reindex(a);
  ASSERT_EQ(switched.body["state"], "completed") << switched.text;
  fs::remove_all(vanishing);
  second.signal(SIGCONT);
  const Reply refused_ready = poll_until(b, "/ready", [](const Reply& r) {
    return r.body.is_object() && r.body.value("status", "") == "model_mismatch";
  });
  EXPECT_EQ(refused_ready.status, 503);
  EXPECT_EQ(refused_ready.body["status"], "model_mismatch") << refused_ready.text << second.log();
  const Reply refused = b.post("/memories/search", {{"agent_id", "ops"}, {"text", "certificates"}});
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(error_code(refused), "model_mismatch");
  const std::string message = refused.body["error"].value("message", "");
  EXPECT_NE(message.find("vanishing-model"), std::string::npos) << message;
  EXPECT_NE(message.find("restart"), std::string::npos) << message;

  ASSERT_EQ(a.post("/admin/memory/reindex", {{"model", cls}}).status, 202);
  const Reply back = poll_until(b, "/ready", [](const Reply& r) { return r.status == 200; });
  EXPECT_EQ(back.status, 200) << back.text;
  EXPECT_EQ(b.get("/memories/count?agent_id=ops").body["count"], 3);
}

TEST(ServeStartup, RefusesNonLoopbackWithoutApiKeysAndASecondProcessOnOneDataDirectory) {
  const TempDir dir;
  ServeProcess open_to_all({"--data", (dir / "data").string(), "--host", "0.0.0.0"}, dir / "open.log");
  EXPECT_EQ(open_to_all.wait_exit(), 3);
  EXPECT_NE(open_to_all.log().find("--api-keys-file"), std::string::npos) << open_to_all.log();

  ServeProcess first({"--data", (dir / "data").string()}, dir / "first.log");
  ASSERT_TRUE(first.wait_ready()) << first.log();
  ServeProcess second({"--data", (dir / "data").string()}, dir / "second.log");
  EXPECT_NE(second.wait_exit(), 0);
  EXPECT_NE(second.log().find("start_failed"), std::string::npos) << second.log();
  EXPECT_EQ(Http(first.port()).get("/ready").status, 200);  // the first one is unaffected
}

}  // namespace
}  // namespace memembed::testing
