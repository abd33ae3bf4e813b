// Fine-tuning as a job of `memembed serve` (/admin/memory/fine-tune), through a real HTTP client
// against the real server process, which runs the real `memembed tune run` child on
// static-glove-25d: a whole run, deploy through the store's model switch with searches answering
// throughout, rollback to the kept vector set, kill -9 of the server mid-training then resume, and
// every refusal (501, 400 paths and fields, 409, gated-out checkpoint, deleting the active one).
#include "serve_test_support.h"

#include <fmt/format.h>

#include <atomic>
#include <set>
#include <thread>

namespace memembed::testing {
namespace {

namespace fs = std::filesystem;

const std::string kToken = "fine-tune-admin-token-0123456789";
const std::string kBase = "/admin/memory/fine-tune";

std::string glove() { return fixture_dir("static-glove-25d").string(); }

// Short notes on many topics: distinct sentences for inverse-cloze queries and a held-out set.
std::vector<std::string> notes(size_t count) {
  const char* topics[] = {"billing", "travel", "kitchen", "garden", "music", "football", "hospital", "school",
                          "weather", "library", "airport", "bakery", "river", "museum", "harbour", "forest",
                          "theatre", "railway", "market", "castle", "village", "mountain", "bridge"};
  const char* verbs[] = {"changed", "reviewed", "planned", "cancelled", "fixed", "visited", "moved", "painted",
                         "cleaned", "sold", "bought"};
  const char* things[] = {"budget", "roof", "schedule", "engine", "menu", "contract", "garage", "piano",
                          "window", "ticket", "report", "bicycle", "camera"};
  const char* people[] = {"alice", "bob", "carol", "dave", "erin", "frank", "grace"};
  std::vector<std::string> out;
  for (size_t i = 0; i < count; ++i) {
    out.push_back(fmt::format("{} {} the {} {} near the {}. Later {} wrote about the {} and the {}.", people[i % 7],
                              verbs[i % 11], topics[i % 23], things[i % 13], topics[(i * 7 + 3) % 23],
                              people[(i / 7) % 7], things[(i * 5 + 1) % 13], topics[(i * 11 + 5) % 23]));
  }
  return out;
}

class FineTuneServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MEMEMBED_REQUIRE_SHARED(fixture_dir("static-glove-25d"));
    token_ = dir_.write("admin.token", kToken + "\n");
    fs::create_directories(root());
  }

  fs::path root() const { return dir_ / "root"; }

  Http& start(bool fine_tune = true) {
    std::vector<std::string> arguments = {"--data", (dir_ / "data").string(), "--admin-token-file", token_.string()};
    arguments.insert(arguments.end(), model_arguments_.begin(), model_arguments_.end());
    if (fine_tune) arguments.insert(arguments.end(), {"--fine-tune-root", root().string()});
    http_.reset();
    server_.reset();
    server_ = std::make_unique<ServeProcess>(arguments, dir_ / fmt::format("serve{}.log", ++starts_));
    EXPECT_TRUE(server_->wait_ready()) << server_->log();
    http_ = std::make_unique<Http>(server_->port());
    http_->bearer(kToken);
    return *http_;
  }

  void store_notes(Http& http, size_t count) {
    for (const std::string& text : notes(count)) {
      const Reply reply = http.post("/memories", {{"agent_id", "ops"}, {"category", "SEMANTIC"}, {"content", text}});
      ASSERT_EQ(reply.status, 201) << reply.text;
    }
  }

  // Polls the status until the run leaves `running`; every status seen is passed to `seen`.
  Json wait_for_run(Http& http, const std::function<void(const Json&)>& seen = {}) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
    for (;;) {
      const Reply status = http.get(kBase + "/status");
      EXPECT_EQ(status.status, 200) << status.text;
      if (seen) seen(status.body);
      if (status.body.value("state", "") != "running") return status.body;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "the run did not finish: " << status.text;
        return status.body;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
    }
  }

  Json wait_for_reindex(Http& http) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
    for (;;) {
      const Reply status = http.get("/admin/memory/reindex");
      const std::string state = status.body.value("state", "");
      if (state != "loading_model" && state != "embedding") return status.body;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "the reindex did not finish: " << status.text;
        return status.body;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  std::vector<float> embedding(Http& http, const std::string& text) {
    const Reply reply = http.post("/v1/embeddings", {{"input", text}});
    EXPECT_EQ(reply.status, 200) << reply.text;
    return reply.body["data"][0]["embedding"].get<std::vector<float>>();
  }

  static int64_t active_set(const Json& embedder) {
    for (const Json& set : embedder["vector_sets"]) {
      if (set["state"] == "active") return set["id"].get<int64_t>();
    }
    return -1;
  }

  TempDir dir_;
  fs::path token_;
  std::vector<std::string> model_arguments_ = {"--model", glove()};
  int starts_ = 0;
  std::unique_ptr<ServeProcess> server_;
  std::unique_ptr<Http> http_;
};

TEST_F(FineTuneServeTest, DisabledByDefault) {
  Http& http = start(false);
  for (const Reply& reply : {http.post(kBase, {{"source", "store"}}), http.get(kBase + "/status"),
                             http.get(kBase + "/checkpoints"), http.post(kBase + "/cancel", Json::object())}) {
    EXPECT_EQ(reply.status, 501) << reply.text;
    EXPECT_EQ(error_code(reply), "fine_tune_disabled");
  }
  Http anonymous(server_->port());
  EXPECT_EQ(anonymous.get(kBase + "/status").status, 401);  // the admin token comes first
}

TEST_F(FineTuneServeTest, PathsOutsideTheRootAndInvalidFieldsAre400) {
  fs::create_directories(root() / "docs");
  dir_.write("root/docs/a.md", "The billing team planned the budget on monday.\n");
  fs::create_directories(dir_ / "outside");
  fs::create_symlink(dir_ / "outside", root() / "escape");
  Http& http = start();
  const std::vector<std::pair<Json, std::string>> refused = {
      {{{"source_dir", "../outside"}}, "source_dir"},
      {{{"source_dir", (dir_ / "outside").string()}}, "source_dir"},
      {{{"source_dir", "escape"}}, "symbolic link"},
      {{{"source_dir", "escape/inner"}}, "symbolic link"},
      {{{"source_dir", "https://example.com/docs"}}, "URL"},
      {{{"source_dir", "docs"}, {"output_dir", "/tmp"}}, "output_dir"},
      {{{"source_dir", "docs"}, {"base_model", glove()}}, "base_model"},
  };
  for (const auto& [body, mentions] : refused) {
    const Reply reply = http.post(kBase, body);
    EXPECT_EQ(reply.status, 400) << body.dump() << ": " << reply.text;
    EXPECT_EQ(error_code(reply), "invalid_path") << reply.text;
    EXPECT_NE(reply.text.find(mentions), std::string::npos) << reply.text;
  }
  const std::vector<std::pair<Json, std::string>> invalid = {
      {{{"source_dir", "docs"}, {"epochs", 0}}, "epochs"},
      {{{"source_dir", "docs"}, {"learning_rate", "fast"}}, "learning_rate"},
      {{{"source_dir", "docs"}, {"batch_size", 1}}, "batch_size"},
      {{{"source_dir", "docs"}, {"validation_split", 0.9}}, "validation_split"},
      {{{"source_dir", "docs"}, {"top_k", -1}}, "top_k"},
      {{{"source_dir", "docs"}, {"epoch", 1}}, "epoch"},
      {{{"source", "web"}}, "source"},
      {Json::object(), "source_dir"},
  };
  for (const auto& [body, field] : invalid) {
    const Reply reply = http.post(kBase, body);
    EXPECT_EQ(reply.status, 400) << body.dump() << ": " << reply.text;
    EXPECT_NE(reply.text.find(field), std::string::npos) << reply.text;
  }
  EXPECT_EQ(http.post(kBase + "/preflight", {{"source_dir", "../outside"}}).status, 400);
  EXPECT_EQ(http.get(kBase + "/runs").body["runs"].size(), 0u);  // nothing was started
  EXPECT_EQ(http.post(kBase + "/resume/no-such-run", Json::object()).status, 404);
  EXPECT_EQ(http.post(kBase + "/cancel", Json::object()).status, 409);  // nothing to cancel
}

TEST_F(FineTuneServeTest, WholeRunThenDeployWhileSearchingThenRollback) {
  Http& http = start();
  store_notes(http, 240);
  EXPECT_EQ(http.get(kBase + "/status").body["stage"], "idle");

  const Json request = {{"source", "store"}, {"max_steps", 150}, {"batch_size", 16}, {"validation_split", 0.25}};
  const Reply preflight = http.post(kBase + "/preflight", request);
  ASSERT_EQ(preflight.status, 200) << preflight.text;
  EXPECT_TRUE(preflight.body["can_proceed"].get<bool>()) << preflight.text;
  std::set<std::string> checks;
  for (const Json& item : preflight.body["checks"]) checks.insert(item["name"].get<std::string>());
  EXPECT_EQ(checks, (std::set<std::string>{"documents", "base_model", "disk_space", "memory"}));
  EXPECT_LE(preflight.body["recommended_batch_size"].get<size_t>(), 16u);

  const Reply started = http.post(kBase, request);
  ASSERT_EQ(started.status, 202) << started.text;
  const std::string run_id = started.body["run_id"];
  EXPECT_TRUE(started.body.contains("stage") && started.body.contains("progress"));
  EXPECT_EQ(http.post(kBase, request).status, 409);  // one run at a time

  const std::vector<std::string> order = {"generating_data", "mining_negatives", "training", "evaluating",
                                          "deploying", "complete"};
  std::vector<std::string> seen_stages;
  double last_progress = 0;
  bool saw_training_progress = false;
  const Json done = wait_for_run(http, [&](const Json& status) {
    const std::string stage = status["stage"];
    if (seen_stages.empty() || seen_stages.back() != stage) seen_stages.push_back(stage);
    const double progress = status["progress"].get<double>();
    EXPECT_GE(progress, last_progress - 1e-9) << status.dump();
    EXPECT_LE(progress, 1.0);
    last_progress = progress;
    if (stage == "training" && status.contains("step") && status["loss"].is_number()) saw_training_progress = true;
  });
  ASSERT_EQ(done["state"], "complete") << done.dump();
  EXPECT_EQ(done["stage"], "complete");
  EXPECT_EQ(done["progress"], 1.0);
  EXPECT_EQ(done["stages_completed"], Json(std::vector<std::string>(order.begin(), order.end() - 1)));
  // The stages polled came in pipeline order (fast ones may fall between two polls).
  size_t position = 0;
  for (const std::string& stage : seen_stages) {
    const auto at = std::find(order.begin() + static_cast<std::ptrdiff_t>(position), order.end(), stage);
    ASSERT_NE(at, order.end()) << "stage " << stage << " out of order";
    position = static_cast<size_t>(at - order.begin());
  }
  EXPECT_EQ(done["total_steps"], 150);
  EXPECT_TRUE(done["gate"].is_object());
  (void)saw_training_progress;  // reported when the poll caught training; not guaranteed on a fast machine

  const Reply runs = http.get(kBase + "/runs");
  ASSERT_EQ(runs.body["runs"].size(), 1u);
  EXPECT_EQ(runs.body["runs"][0]["settings"]["store_memories"], 240);

  const Reply listed = http.get(kBase + "/checkpoints");
  ASSERT_EQ(listed.body["checkpoints"].size(), 1u) << listed.text << runs.text;
  const Json checkpoint = listed.body["checkpoints"][0];
  EXPECT_EQ(checkpoint["id"], run_id);
  EXPECT_FALSE(checkpoint["is_active"].get<bool>());
  EXPECT_TRUE(fs::exists(fs::path(checkpoint["model_path"].get<std::string>()) / "modules.json"));
  EXPECT_GT(checkpoint["size_bytes"].get<size_t>(), 0u);
  EXPECT_TRUE(checkpoint["eval"]["tuned"]["ndcg_at_10"].is_number());
  ASSERT_TRUE(checkpoint["gate_passed"].get<bool>()) << checkpoint.dump();

  const std::vector<float> base_vector = embedding(http, "the billing plan");
  const Json before = http.get("/admin/memory/embedder").body;
  const int64_t base_set = active_set(before);

  // Searches keep answering while the memories are re-embedded with the tuned model.
  std::atomic<bool> searching{true};
  std::atomic<int> answered{0}, failed{0};
  std::thread searcher([&] {
    Http client(server_->port());
    while (searching) {
      const Reply reply = client.post("/memories/search", {{"agent_id", "ops"}, {"text", "billing budget"}, {"limit", 5}});
      if (reply.status == 200 && reply.body["results"].size() == 5) ++answered;
      else ++failed;
    }
  });
  const Reply deploy = http.post(kBase + "/checkpoints/" + run_id + "/deploy", Json::object());
  ASSERT_EQ(deploy.status, 202) << deploy.text;
  const Json reindex = wait_for_reindex(http);
  searching = false;
  searcher.join();
  EXPECT_EQ(reindex["state"], "completed") << reindex.dump();
  EXPECT_TRUE(reindex["switched"].get<bool>());
  EXPECT_EQ(failed, 0);
  EXPECT_GT(answered, 0);

  const Json after = http.get("/admin/memory/embedder").body;
  EXPECT_TRUE(after["fine_tune"]["enabled"].get<bool>()) << after.dump();
  EXPECT_EQ(after["fine_tune"]["checkpoint_id"], run_id);
  EXPECT_EQ(after["fine_tune"]["checkpoint_path"], checkpoint["model_path"]);
  EXPECT_NE(after["fingerprint"], before["fingerprint"]);
  EXPECT_NE(active_set(after), base_set);
  EXPECT_NE(embedding(http, "the billing plan"), base_vector);  // queries use the tuned model
  EXPECT_EQ(http.post("/memories/search", {{"agent_id", "ops"}, {"text", "billing budget"}}).status, 200);
  EXPECT_TRUE(http.get(kBase + "/checkpoints").body["checkpoints"][0]["is_active"].get<bool>());

  // The active checkpoint cannot be deleted, nor deployed twice.
  const Reply delete_active = http.del(kBase + "/checkpoints/" + run_id);
  EXPECT_EQ(delete_active.status, 409) << delete_active.text;
  EXPECT_EQ(http.post(kBase + "/checkpoints/" + run_id + "/deploy", Json::object()).status, 409);

  // A memory written under the tuned model, then rollback: the base model's kept vector set serves
  // again (same set, no new one) and the base vectors come back.
  store_notes(http, 1);
  const Reply rollback = http.post(kBase + "/checkpoints/" + run_id + "/rollback", Json::object());
  ASSERT_EQ(rollback.status, 202) << rollback.text;
  EXPECT_EQ(wait_for_reindex(http)["state"], "completed");
  const Json rolled = http.get("/admin/memory/embedder").body;
  EXPECT_FALSE(rolled["fine_tune"]["enabled"].get<bool>()) << rolled.dump();
  EXPECT_EQ(active_set(rolled), base_set);
  EXPECT_EQ(rolled["vector_sets"].size(), 2u);
  EXPECT_EQ(rolled["fingerprint"], before["fingerprint"]);
  EXPECT_EQ(embedding(http, "the billing plan"), base_vector);
  EXPECT_EQ(http.post(kBase + "/checkpoints/" + run_id + "/rollback", Json::object()).status, 409);  // not active

  const Reply deleted = http.del(kBase + "/checkpoints/" + run_id);
  EXPECT_EQ(deleted.status, 204) << deleted.text;
  EXPECT_EQ(http.get(kBase + "/checkpoints").body["checkpoints"].size(), 0u);
  EXPECT_FALSE(fs::exists(checkpoint["model_path"].get<std::string>()));
  EXPECT_EQ(http.post(kBase + "/resume/" + run_id, Json::object()).status, 409);
}

TEST_F(FineTuneServeTest, GatedOutCheckpointIsRefusedUnlessForced) {
  const std::vector<std::string> texts = notes(120);
  for (size_t i = 0; i < texts.size(); ++i) dir_.write(fmt::format("root/docs/note{:03}.md", i), texts[i] + "\n");
  // Served from an embedder config: a deploy rewrites it, so a restart serves the deployed model.
  const fs::path config = dir_.write("embedder.json", Json{{"format", "memembed.embedder/1"},
                                                             {"provider", "local"},
                                                             {"model", "static-glove-25d"},
                                                             {"model_path", glove()},
                                                             {"dims", 25}}
                                                            .dump());
  const std::string original_config = read_file(config);
  model_arguments_ = {"--config", config.string()};
  Http& http = start();
  store_notes(http, 5);
  // A learning rate too small to change anything: the tuned model equals the base, the gate fails.
  const Reply started = http.post(kBase, {{"source_dir", "docs"}, {"output_dir", "experiments"}, {"max_steps", 3},
                                          {"batch_size", 8}, {"validation_split", 0.25}, {"learning_rate", 1e-9}});
  ASSERT_EQ(started.status, 202) << started.text;
  const std::string run_id = started.body["run_id"];
  const Json done = wait_for_run(http);
  ASSERT_EQ(done["state"], "complete") << done.dump();
  EXPECT_TRUE(fs::exists(root() / "experiments" / run_id / "model" / "modules.json"));

  const Json checkpoint = http.get(kBase + "/checkpoints").body["checkpoints"][0];
  ASSERT_FALSE(checkpoint["gate_passed"].get<bool>()) << checkpoint.dump();
  const Reply refused = http.post(kBase + "/checkpoints/" + run_id + "/deploy", Json::object());
  EXPECT_EQ(refused.status, 409) << refused.text;
  EXPECT_EQ(error_code(refused), "gate_failed");
  EXPECT_NE(refused.body["error"]["message"].get<std::string>().find("force"), std::string::npos);
  EXPECT_EQ(refused.body["gate_reason"], checkpoint["gate_reason"]);
  EXPECT_FALSE(http.get("/admin/memory/embedder").body["fine_tune"].value("enabled", false));

  const Reply forced = http.post(kBase + "/checkpoints/" + run_id + "/deploy", {{"force", true}});
  ASSERT_EQ(forced.status, 202) << forced.text;
  EXPECT_TRUE(forced.body["forced"].get<bool>());
  EXPECT_EQ(wait_for_reindex(http)["state"], "completed");
  EXPECT_EQ(http.get("/admin/memory/embedder").body["fine_tune"]["checkpoint_id"], run_id);
  const Json written = read_json_file(config);
  EXPECT_TRUE(written["fine_tune"]["enabled"].get<bool>()) << written.dump();
  EXPECT_EQ(written["fine_tune"]["checkpoint_path"], checkpoint["model_path"]);
  EXPECT_EQ(written["fine_tune"]["base_model"], fs::weakly_canonical(glove()).string());
  EXPECT_TRUE(fs::exists(config.string() + ".previous"));

  // Restarted on its config, the server opens the store with the deployed model; rollback then
  // restores the previous config.
  Http& again = start();
  EXPECT_EQ(again.get("/admin/memory/embedder").body["fine_tune"]["checkpoint_path"], checkpoint["model_path"]);
  EXPECT_TRUE(again.get(kBase + "/checkpoints").body["checkpoints"][0]["is_active"].get<bool>());
  ASSERT_EQ(again.post(kBase + "/checkpoints/" + run_id + "/rollback", Json::object()).status, 202);
  EXPECT_EQ(wait_for_reindex(again)["state"], "completed");
  EXPECT_EQ(read_file(config), original_config);
}

TEST_F(FineTuneServeTest, KillNineMidTrainingThenResumeCompletesFromTheCheckpoint) {
  const std::vector<std::string> texts = notes(200);
  for (size_t i = 0; i < texts.size(); ++i) dir_.write(fmt::format("root/docs/note{:03}.md", i), texts[i] + "\n");
  Http& http = start();
  const Reply started =
      http.post(kBase, {{"source_dir", "docs"}, {"max_steps", 400}, {"batch_size", 32}, {"learning_rate", 1e-3}});
  ASSERT_EQ(started.status, 202) << started.text;
  const std::string run_id = started.body["run_id"];
  const fs::path run_dir = started.body["run_dir"].get<std::string>();

  // Wait until training has made some steps, then kill the server outright.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  Json status;
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    status = http.get(kBase + "/status").body;
    ASSERT_EQ(status["state"], "running") << status.dump();
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << status.dump();
  } while (!(status["stage"] == "training" && status.value("step", 0) >= 3));
  server_->signal(SIGKILL);
  server_->wait_exit();

  // The restarted server shows the run where it stopped; resume continues from the checkpoint the
  // training process wrote when it lost its server.
  Http& again = start();
  const Json interrupted = again.get(kBase + "/status").body;
  EXPECT_EQ(interrupted["run_id"], run_id);
  EXPECT_EQ(interrupted["state"], "interrupted") << interrupted.dump();
  EXPECT_EQ(interrupted["stage"], "training");
  EXPECT_TRUE(interrupted["resumable"].get<bool>());
  ASSERT_TRUE(fs::exists(run_dir / "train" / "checkpoint" / "state.json"));
  const size_t checkpoint_step = read_json_file(run_dir / "train" / "checkpoint" / "state.json")["step"];
  EXPECT_GE(checkpoint_step, 3u);
  EXPECT_LT(checkpoint_step, 400u);

  const Reply resumed = again.post(kBase + "/resume/" + run_id, Json::object());
  ASSERT_EQ(resumed.status, 202) << resumed.text;
  // Cancel, then resume once more: cancelling also checkpoints.
  const Reply cancelled = again.post(kBase + "/cancel", Json::object());
  EXPECT_EQ(cancelled.status, 202) << cancelled.text;
  EXPECT_EQ(wait_for_run(again)["state"], "cancelled");
  ASSERT_EQ(again.post(kBase + "/resume/" + run_id, Json::object()).status, 202);
  const Json done = wait_for_run(again);
  ASSERT_EQ(done["state"], "complete") << done.dump();
  const Json training = read_json_file(run_dir / "train" / "train.json")["result"];
  EXPECT_EQ(training["steps"], 400);
  EXPECT_GE(training["resumed_from"].get<size_t>(), checkpoint_step);
  // One log line per step, each step once: nothing was trained twice or skipped.
  EXPECT_EQ(read_jsonl(run_dir / "train" / "log.jsonl").size(), 400u);
  EXPECT_EQ(again.post(kBase + "/resume/" + run_id, Json::object()).status, 409);  // complete
}

}  // namespace
}  // namespace memembed::testing
