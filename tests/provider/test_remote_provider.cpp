// End to end against a real endpoint: a `memembed serve` process on loopback serving the
// static-glove-25d fixture through its OpenAI-compatible /v1/embeddings. Through it, eval, the
// memory store and a second `memembed serve` must give what the local engine gives.
#include "server/serve_process.h"

#include "memembed/error.h"
#include "memembed/eval.h"
#include "memembed/memory.h"
#include "memembed/provider.h"

#include <httplib.h>

#include <cmath>

namespace memembed::testing {
namespace {

namespace fs = std::filesystem;

fs::path glove() { return fixture_dir("static-glove-25d"); }
fs::path small_task() { return shared_dir() / "lmeb" / "Procedural" / "ReMe" / "bfcl_qwen3_8b" / "task_query"; }

void normalise(std::vector<float>& row) {
  double norm = 0;
  for (float v : row) norm += static_cast<double>(v) * v;
  for (float& v : row) v = static_cast<float>(v / std::sqrt(norm));
}

class RemoteProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MEMEMBED_REQUIRE_SHARED(glove());
    MEMEMBED_REQUIRE_SHARED(small_task());
    server_ = std::make_unique<ServeProcess>(
        std::vector<std::string>{"--data", (dir_ / "served").string(), "--model", glove().string()}, dir_ / "serve.log");
    ASSERT_TRUE(server_->wait_ready()) << server_->log();
    address_ = "openai:http://127.0.0.1:" + std::to_string(server_->port()) + "/v1#static-glove-25d";
  }

  eval::EvalResult evaluate(const std::string& model, const std::string& out) {
    eval::EvalOptions options;
    options.tasks = small_task();
    options.model = model;
    options.out = dir_ / out;
    options.cache_dir = dir_ / "cache";
    options.threads = 1;
    options.remote.expected_dims = 25;  // no probe: a rerun needs the endpoint only for what is not cached
    return eval::run_evaluation(options);
  }

  TempDir dir_;
  std::unique_ptr<ServeProcess> server_;
  std::string address_;
};

TEST_F(RemoteProviderTest, VectorsMatchTheLocalEngine) {
  const auto local = provider::open_local_provider(glove().string());
  const auto remote = provider::open_provider(address_);
  EXPECT_EQ(remote->dimension(), 25u);
  EXPECT_EQ(remote->model_name(), address_);
  const std::vector<std::string> texts = {"the cat sat on the mat", "  stock prices fell sharply ", "a", "music"};
  for (const std::string& prompt : {std::string(), std::string("query: ")}) {
    const embed::Embeddings a = local->embed(texts, prompt);
    const embed::Embeddings b = remote->embed(texts, prompt);
    ASSERT_EQ(b.rows, texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      std::vector<float> expected(a.row(i), a.row(i) + a.dim);
      normalise(expected);  // the server sends unit vectors
      for (size_t d = 0; d < a.dim; ++d) EXPECT_NEAR(b.row(i)[d], expected[d], 1e-6) << "text " << i << " dim " << d;
    }
  }
}

TEST_F(RemoteProviderTest, EvalThroughTheEndpointGivesTheLocalNdcgAndItsCacheSavesARerun) {
  const eval::EvalResult local = evaluate(glove().string(), "local");
  const eval::EvalResult remote = evaluate(address_, "remote");
  ASSERT_EQ(local.subsets.size(), 1u);
  ASSERT_EQ(remote.subsets.size(), 1u);
  EXPECT_GT(local.subsets[0].main_score, 0.0);
  EXPECT_NEAR(remote.subsets[0].main_score, local.subsets[0].main_score, 1e-9);
  EXPECT_EQ(remote.model_name, address_);

  // With the endpoint gone, a rerun takes every vector from the cache.
  server_->signal(SIGTERM);
  ASSERT_EQ(server_->wait_exit(), 0) << server_->log();
  const eval::EvalResult again = evaluate(address_, "again");
  ASSERT_EQ(again.subsets.size(), 1u);
  EXPECT_DOUBLE_EQ(again.subsets[0].main_score, remote.subsets[0].main_score);
}

TEST_F(RemoteProviderTest, TheMemoryStoreWorksOnTheEndpoint) {
  const std::vector<std::string> contents = {"The user's cat is called Miso", "Deploys happen on Tuesdays",
                                             "The user prefers green tea", "The database password rotates monthly"};
  std::vector<std::string> ranked[2];
  const std::shared_ptr<const memory::Embedder> embedders[2] = {memory::load_model_embedder(glove().string()),
                                                                memory::load_model_embedder(address_)};
  for (int k = 0; k < 2; ++k) {
    memory::StoreOptions options;
    options.embedder = embedders[k];
    options.ranking.fusion_weight = 1.0;  // dense only: the ranking is the embedder's
    memory::MemoryStore store(memory::open_sqlite_backend(dir_ / ("store" + std::to_string(k))), options);
    std::map<std::string, std::string> content_of;
    for (const std::string& content : contents) {
      memory::StoreRequest request;
      request.category = memory::Category::Semantic;
      request.content = content;
      content_of[store.store("agent", request)] = content;
    }
    memory::Query query;
    query.text = "what tea does the user drink";
    for (const auto& entry : store.retrieve("agent", query)) ranked[k].push_back(content_of[entry.id]);
  }
  ASSERT_EQ(ranked[1].size(), contents.size());
  EXPECT_EQ(ranked[1], ranked[0]);

  // The store made on the endpoint names both models when opened with the local one.
  memory::StoreOptions local;
  local.embedder = embedders[0];
  try {
    memory::MemoryStore store(memory::open_sqlite_backend(dir_ / "store1"), local);
    FAIL() << "opened with another model";
  } catch (const Error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find(address_), std::string::npos) << message;
    EXPECT_NE(message.find("static-glove-25d"), std::string::npos) << message;
  }
}

TEST_F(RemoteProviderTest, ServeRunsOnTheEndpoint) {
  ServeProcess front({"--data", (dir_ / "front").string(), "--model", address_}, dir_ / "front.log");
  ASSERT_TRUE(front.wait_ready()) << front.log();
  httplib::Client client("127.0.0.1", front.port());
  for (const char* content : {"The user's cat is called Miso", "Deploys happen on Tuesdays"}) {
    const auto stored = client.Post("/memories",
                                     Json{{"agent_id", "a"}, {"category", "SEMANTIC"}, {"content", content}}.dump(),
                                     "application/json");
    ASSERT_TRUE(stored);
    ASSERT_EQ(stored->status, 201) << stored->body;
  }
  const auto found = client.Post("/memories/search", Json{{"agent_id", "a"}, {"text", "deploys happen on tuesdays"}}.dump(),
                                 "application/json");
  ASSERT_TRUE(found);
  ASSERT_EQ(found->status, 200) << found->body;
  const Json results = Json::parse(found->body)["results"];
  ASSERT_FALSE(results.empty());
  EXPECT_EQ(results[0]["content"], "Deploys happen on Tuesdays");
  const auto info = client.Get("/v1/models");
  ASSERT_TRUE(info);
  EXPECT_NE(info->body.find("static-glove-25d"), std::string::npos) << info->body;
}

}  // namespace
}  // namespace memembed::testing
