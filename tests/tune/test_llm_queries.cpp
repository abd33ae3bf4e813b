// LLM query generation against a local fake OpenAI-compatible endpoint (a cpp-httplib server on
// 127.0.0.1; no real LLM can run here — the test double stands in for one). Checked: the request
// (model, prompt with the chunk, bearer key), retries on 429/503 with Retry-After, the rate limit,
// the on-disk cache, a 400 failing at once with the status named, and the answer parsing.
#include "llm_queries.h"

#include "fixture_support.h"
#include "memembed/error.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

using namespace memembed;
using memembed::testing::TempDir;
using memembed::testing::write_file;
namespace fs = std::filesystem;

namespace {

class FakeChatEndpoint {
 public:
  FakeChatEndpoint() {
    server_.Post("/v1/chat/completions", [this](const httplib::Request& request, httplib::Response& response) {
      const int call = ++calls_;
      last_body_ = request.body;
      last_authorization_ = request.get_header_value("Authorization");
      if (call <= failures_before_success_) {
        response.status = call == 1 ? 429 : 503;
        response.set_header("Retry-After", "0");
        response.set_content("busy", "text/plain");
        return;
      }
      if (reject_) {
        response.status = 400;
        response.set_content(R"({"error": "bad model"})", "application/json");
        return;
      }
      const Json answer = {{"choices", {{{"message", {{"role", "assistant"}, {"content", "1. When is the billing run?\n2) \"Who approves hotel bookings?\"\n- When is the billing run?\n\n"}}}}}}};
      response.set_content(answer.dump(), "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeChatEndpoint() {
    server_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<int> calls_{0};
  int failures_before_success_ = 0;
  bool reject_ = false;
  std::string last_body_;
  std::string last_authorization_;
};

tune::LlmOptions options_for(const FakeChatEndpoint& endpoint, const fs::path& cache) {
  tune::LlmOptions options;
  options.url = endpoint.url();
  options.model = "test-model";
  options.api_key_env = "MEMEMBED_TEST_LLM_KEY";
  options.queries_per_chunk = 2;
  options.requests_per_second = 50;
  options.initial_backoff_seconds = 0.01;
  options.cache_dir = cache;
  return options;
}

TEST(LlmQueries, RetriesThenCachesTheAnswer) {
  FakeChatEndpoint endpoint;
  endpoint.failures_before_success_ = 2;
  ::setenv("MEMEMBED_TEST_LLM_KEY", "secret-key", 1);
  const TempDir cache_temp;
  const fs::path cache = cache_temp.path();
  tune::LlmQueryWriter writer(options_for(endpoint, cache));
  const auto queries = writer.queries("Hotel bookings need approval from a manager.");
  EXPECT_EQ(queries, (std::vector<std::string>{"When is the billing run?", "Who approves hotel bookings?"}));
  EXPECT_EQ(endpoint.calls_.load(), 3);
  EXPECT_EQ(endpoint.last_authorization_, "Bearer secret-key");
  const Json request = Json::parse(endpoint.last_body_);
  EXPECT_EQ(request["model"], "test-model");
  EXPECT_NE(request["messages"][0]["content"].get<std::string>().find("Hotel bookings need approval"), std::string::npos);

  tune::LlmQueryWriter again(options_for(endpoint, cache));
  EXPECT_EQ(again.queries("Hotel bookings need approval from a manager."), queries);
  EXPECT_EQ(endpoint.calls_.load(), 3);  // answered from the cache
  EXPECT_EQ(again.cache_hits(), 1u);
}

TEST(LlmQueries, RateLimitSpacesRequests) {
  FakeChatEndpoint endpoint;
  auto options = options_for(endpoint, "");
  options.requests_per_second = 10;
  tune::LlmQueryWriter writer(options);
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) writer.queries("chunk " + std::to_string(i));
  // Four requests at 10/s: the last starts no earlier than 0.3 s after the first.
  EXPECT_GE(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), 0.29);
}

TEST(LlmQueries, ClientErrorsFailAtOnceNamingTheStatus) {
  FakeChatEndpoint endpoint;
  endpoint.reject_ = true;
  tune::LlmQueryWriter writer(options_for(endpoint, ""));
  try {
    writer.queries("anything");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Network);
    EXPECT_NE(std::string(e.what()).find("HTTP 400"), std::string::npos) << e.what();
  }
  EXPECT_EQ(endpoint.calls_.load(), 1);
}

TEST(LlmQueries, PromptFileMustHaveTheChunkPlaceholder) {
  FakeChatEndpoint endpoint;
  const TempDir dir_temp;
  const fs::path dir = dir_temp.path();
  write_file(dir / "prompt.txt", "Write queries.");
  auto options = options_for(endpoint, "");
  options.prompt_file = dir / "prompt.txt";
  EXPECT_THROW(tune::LlmQueryWriter{options}, Error);
}

TEST(LlmQueries, AnswerLinesLoseNumberingBulletsAndDuplicates) {
  EXPECT_EQ(tune::parse_query_lines("1. a b\n* c d\n- a b\n  \n3) \"e f\"\ng", 10),
            (std::vector<std::string>{"a b", "c d", "e f", "g"}));
  EXPECT_EQ(tune::parse_query_lines("x\ny\nz", 2), (std::vector<std::string>{"x", "y"}));
}

}  // namespace
