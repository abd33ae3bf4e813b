// The server's parts on their own: API keys and the admin token, dynamic batching, metrics text.
#include "auth.h"
#include "concurrency_limit.h"
#include "embedding_batcher.h"
#include "metrics.h"

#include "fixture_support.h"
#include "memembed/error.h"

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

namespace memembed::testing {
namespace {

namespace fs = std::filesystem;
using namespace memembed::server;

TEST(ServerAuth, BearerTokensAreParsedStrictly) {
  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("bearer   abc  "), "abc");
  EXPECT_EQ(bearer_token("Basic abc"), std::nullopt);
  EXPECT_EQ(bearer_token("Bearer "), std::nullopt);
  EXPECT_EQ(bearer_token(""), std::nullopt);
}

TEST(ServerAuth, ApiKeysFileMapsKeysToAgentsAndNamesBadLines) {
  const TempDir dir;
  const ApiKeys keys = ApiKeys::load(
      dir.write("ok.txt", "# comment\n\nalice  key-for-alice-0000000001\nbob key-for-bob-00000000002\n"));
  EXPECT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys.agent_for("key-for-alice-0000000001"), "alice");
  EXPECT_EQ(keys.agent_for("key-for-bob-00000000002"), "bob");
  EXPECT_EQ(keys.agent_for("key-for-bob-00000000003"), std::nullopt);
  EXPECT_EQ(keys.agent_for(""), std::nullopt);

  const auto error_of = [&](const std::string& content) {
    try {
      ApiKeys::load(dir.write("bad.txt", content));
    } catch (const memembed::Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(error_of("alice\n").find("bad.txt:1"), std::string::npos);
  EXPECT_NE(error_of("# c\nalice key-for-alice-0000000001 extra\n").find("bad.txt:2"), std::string::npos);
  EXPECT_NE(error_of("alice short\n").find("at least 16"), std::string::npos);
  EXPECT_NE(error_of("a same-key-000000000001\nb same-key-000000000001\n").find("already the key of agent \"a\""),
            std::string::npos);
  EXPECT_NE(error_of("# nothing\n").find("no \"agent_id key\" lines"), std::string::npos);
}

TEST(ServerAuth, AdminTokenIgnoresSurroundingWhitespaceOnly) {
  const TempDir dir;
  const AdminToken token = AdminToken::load(dir.write("token", "  admin-token-0123456789\n"));
  EXPECT_TRUE(token.matches("admin-token-0123456789"));
  EXPECT_FALSE(token.matches("admin-token-012345678"));
  EXPECT_FALSE(token.matches("admin-token-01234567890"));
  EXPECT_THROW(AdminToken::load(dir.write("short", "tiny\n")), memembed::Error);
}

TEST(ServerMetrics, PrometheusTextHasCumulativeBucketsAndEscapedLabels) {
  Metrics metrics;
  metrics.observe_request("/memories", "POST", 201, 0.002);
  metrics.observe_request("/memories", "POST", 201, 0.2);
  metrics.observe_encoder_batch(7, 3);
  const std::string text = metrics.render({{"memembed_memories", "Memories.", 42, ""},
                                           {"memembed_vector_set_vectors", "Vectors.", 5, "model=\"a\\\"b\""}});
  EXPECT_NE(text.find("# TYPE memembed_http_requests_total counter"), std::string::npos);
  EXPECT_NE(text.find("memembed_http_requests_total{route=\"/memories\",method=\"POST\",status=\"201\"} 2"), std::string::npos);
  EXPECT_NE(text.find("memembed_http_request_duration_seconds_bucket{route=\"/memories\",le=\"0.001\"} 0"), std::string::npos);
  EXPECT_NE(text.find("memembed_http_request_duration_seconds_bucket{route=\"/memories\",le=\"0.0025\"} 1"), std::string::npos);
  EXPECT_NE(text.find("memembed_http_request_duration_seconds_bucket{route=\"/memories\",le=\"+Inf\"} 2"), std::string::npos);
  EXPECT_NE(text.find("memembed_http_request_duration_seconds_count{route=\"/memories\"} 2"), std::string::npos);
  EXPECT_NE(text.find("memembed_encoder_batch_texts_bucket{le=\"8\"} 1"), std::string::npos);
  EXPECT_NE(text.find("memembed_encoder_batch_requests_sum 3"), std::string::npos);
  EXPECT_NE(text.find("# TYPE memembed_memories gauge\nmemembed_memories 42\n"), std::string::npos);
  EXPECT_EQ(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

// The real bert-tiny model behind a gate: the first model call waits until the other callers have
// queued, so the test sees exactly what the batcher merges.
class GatedModel : public memory::Embedder {
 public:
  explicit GatedModel(std::shared_ptr<const memory::Embedder> model) : model_(std::move(model)) {}
  memory::ModelIdentity identity() const override { return model_->identity(); }
  embed::Embeddings embed_documents(const std::vector<std::string>& texts) const override {
    pass_gate();
    calls.push_back(texts.size());
    return model_->embed_documents(texts);
  }
  embed::Embeddings embed_queries(const std::vector<std::string>& texts,
                                  std::optional<memory::Category> category) const override {
    pass_gate();
    calls.push_back(texts.size());
    return model_->embed_queries(texts, category);
  }
  void open() const { gate = true; }
  void wait_entered() const {
    while (!entered) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  mutable std::atomic<bool> gate{false};
  mutable std::atomic<bool> entered{false};  // a model call is waiting at the gate
  mutable std::vector<size_t> calls;  // texts per model call (the batcher's one worker writes it)

 private:
  void pass_gate() const {
    entered = true;
    while (!gate) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::shared_ptr<const memory::Embedder> model_;
};

TEST(ServerBatching, ConcurrentCallsShareModelCallsAndGetTheirOwnRows) {
  MEMEMBED_REQUIRE_SHARED(fixture_dir("bert-tiny"));
  const auto model = memory::load_model_embedder(fixture_dir("bert-tiny").string());
  auto gated = std::make_shared<GatedModel>(model);
  Metrics metrics;
  BatchingEmbedder batcher(gated, 64, metrics);

  std::vector<std::vector<std::string>> inputs;
  for (int i = 0; i < 9; ++i) inputs.push_back({"first text of caller " + std::to_string(i), "second " + std::to_string(i)});
  std::vector<embed::Embeddings> results(inputs.size());
  std::vector<std::thread> callers;
  callers.emplace_back([&] { results[0] = batcher.embed_documents(inputs[0]); });
  gated->wait_entered();  // caller 0 is inside the model call
  for (size_t i = 1; i < inputs.size(); ++i) {
    callers.emplace_back([&, i] { results[i] = batcher.embed_documents(inputs[i]); });
  }
  while (batcher.queued_texts() < 16) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  gated->open();
  for (auto& caller : callers) caller.join();

  // Caller 0 alone, then the eight that queued meanwhile in one call.
  ASSERT_EQ(gated->calls.size(), 2u);
  EXPECT_EQ(gated->calls[0], 2u);
  EXPECT_EQ(gated->calls[1], 16u);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const embed::Embeddings alone = model->embed_documents(inputs[i]);
    ASSERT_EQ(results[i].rows, 2u);
    EXPECT_LT(max_abs_diff(results[i].values.data(), std::vector<double>(alone.values.begin(), alone.values.end())), 1e-5)
        << "caller " << i;
  }
  EXPECT_NE(metrics.render({}).find("memembed_encoder_batch_requests_sum 9"), std::string::npos);
}

TEST(ServerBatching, ABadCallFailsAloneInAMergedBatch) {
  MEMEMBED_REQUIRE_SHARED(fixture_dir("bert-tiny"));
  auto gated = std::make_shared<GatedModel>(memory::load_model_embedder(fixture_dir("bert-tiny").string()));
  Metrics metrics;
  BatchingEmbedder batcher(gated, 64, metrics);
  std::thread first([&] { batcher.embed_documents({"holds the gate"}); });
  gated->wait_entered();
  std::exception_ptr bad_error;
  embed::Embeddings good;
  std::thread bad([&] {
    try {
      batcher.embed_documents({std::string("\xff\xfe not UTF-8")});
    } catch (...) {
      bad_error = std::current_exception();
    }
  });
  std::thread fine([&] { good = batcher.embed_documents({"a valid text"}); });
  while (batcher.queued_texts() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  gated->open();
  first.join();
  bad.join();
  fine.join();
  EXPECT_TRUE(bad_error);
  EXPECT_EQ(good.rows, 1u);
}

TEST(ServerConcurrencyLimit, AtMostLimitRunAndWaitersAreAdmittedInArrivalOrder) {
  ConcurrencyLimit limit(2);
  std::vector<ConcurrencyLimit::Slot> held;
  held.push_back(limit.acquire());
  held.push_back(limit.acquire());
  std::mutex mutex;
  std::vector<int> admitted;
  std::vector<std::thread> waiters;
  for (int i = 0; i < 4; ++i) {
    waiters.emplace_back([&, i] {
      ConcurrencyLimit::Slot slot = limit.acquire();
      std::lock_guard<std::mutex> lock(mutex);
      admitted.push_back(i);
    });
    // The next waiter arrives only once this one queues: the arrival order is 0, 1, 2, 3.
    while (limit.waiting() < static_cast<size_t>(i + 1)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(admitted.empty());  // both places are held
  held.pop_back();                // one place frees: the waiters pass one after another
  for (auto& waiter : waiters) waiter.join();
  EXPECT_EQ(admitted, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(limit.waiting(), 0u);
}

TEST(ServerConcurrencyLimit, AWaiterLeavesTheQueueAtItsDeadlineOrWhenAbandonedAndTheOthersKeepTheirTurn) {
  using Clock = ConcurrencyLimit::Clock;
  ConcurrencyLimit limit(1);
  std::optional<ConcurrencyLimit::Slot> held = limit.acquire();
  const auto never = [] { return false; };

  const auto started = Clock::now();
  EXPECT_FALSE(limit.acquire(started + std::chrono::milliseconds(150), never));
  EXPECT_GE(Clock::now() - started, std::chrono::milliseconds(150));
  EXPECT_EQ(limit.waiting(), 0u);

  std::atomic<bool> client_left{false};
  std::atomic<int> outcome{0};  // 1: shed, 2: admitted
  std::thread abandoned([&] {
    outcome = limit.acquire(Clock::time_point::max(), [&] { return client_left.load(); }) ? 2 : 1;
  });
  std::atomic<bool> patient_admitted{false};
  std::thread patient([&] { patient_admitted = limit.acquire(Clock::time_point::max(), never).has_value(); });
  while (limit.waiting() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  client_left = true;
  abandoned.join();  // within one abandon check
  EXPECT_EQ(outcome, 1);
  EXPECT_EQ(limit.waiting(), 1u);
  held.reset();  // the place goes to the waiter still there
  patient.join();
  EXPECT_TRUE(patient_admitted);
  EXPECT_TRUE(limit.acquire(Clock::now(), never).has_value());  // free: no wait at all
}

}  // namespace
}  // namespace memembed::testing
