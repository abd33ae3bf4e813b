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
  void SetUp() override { dir_ = temp_.path(); }

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

  TempDir temp_;  // outlives the members declared after it
  fs::path dir_;
};

TEST_P(ServeProcessTest, KillDashNineDuringWritesLosesNoAcknowledgedWrite) {
  const std::vector<std::string> store = store_arguments(GetParam(), dir_);
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
  const std::vector<std::string> store = store_arguments(GetParam(), dir_);
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
  const TempDir dir_temp;
  const fs::path dir = dir_temp.path();
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

TEST(ServeStartup, RefusesNonLoopbackWithoutApiKeysAndASecondProcessOnOneDataDirectory) {
  const TempDir dir_temp;
  const fs::path dir = dir_temp.path();
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
