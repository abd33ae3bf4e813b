// The OpenAI-compatible client against the fake endpoint (fake_endpoint.h): batching, order,
// retries, timeouts, rate limit, encodings, dims checks and the API key.
#include "fake_endpoint.h"

#include "memembed/error.h"
#include "memembed/provider.h"

#include <openssl/evp.h>
#include <stdlib.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <set>

namespace memembed::testing {
namespace {

using provider::RemoteOptions;
using Clock = std::chrono::steady_clock;

RemoteOptions fast_options(const FakeEndpoint& endpoint, size_t dims = 4) {
  RemoteOptions options;
  options.base_url = endpoint.url();
  options.model = "fake-model";
  options.expected_dims = dims;
  options.backoff_initial_s = 0.01;
  options.backoff_max_s = 0.05;
  options.timeout_s = 5;
  return options;
}

std::vector<std::string> numbered_texts(size_t count) {
  std::vector<std::string> texts;
  for (size_t i = 0; i < count; ++i) texts.push_back(std::string(i + 1, static_cast<char>('a' + i % 26)));
  return texts;
}

// Row i must be the fake vector of text i.
void expect_rows_match(const embed::Embeddings& rows, const std::vector<std::string>& texts, size_t dims = 4) {
  ASSERT_EQ(rows.rows, texts.size());
  ASSERT_EQ(rows.dim, dims);
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<float> expected = fake_vector(texts[i], dims);
    EXPECT_EQ(std::vector<float>(rows.row(i), rows.row(i) + dims), expected) << "row " << i;
  }
}

// The Error `call` throws (a test failure when it throws none).
Error error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const Error& error) {
    return error;
  }
  ADD_FAILURE() << "no error";
  return Error(ErrorKind::Internal, "no error");
}

bool mentions(const Error& error, const std::string& text) {
  return std::string(error.what()).find(text) != std::string::npos;
}

std::string base64_of(const std::vector<float>& values) {
  std::string out(4 * ((values.size() * 4 + 2) / 3), '\0');
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(values.data()),
                  static_cast<int>(values.size() * 4));
  return out;
}

TEST(OpenAiClient, BatchesByCountAndTokensAndKeepsInputOrder) {
  FakeEndpoint endpoint;
  // Answers every batch in reverse: only `index` says which row is which.
  endpoint.set_behaviour([&](const FakeEndpoint::Call& call, httplib::Response& response) {
    endpoint.answer(call, response, /*reversed=*/true);
    return true;
  });
  RemoteOptions options = fast_options(endpoint);
  options.max_batch_texts = 3;
  options.max_batch_tokens = 1000;
  const auto client = provider::open_remote_provider(options);
  const auto texts = numbered_texts(10);
  expect_rows_match(client->embed(texts), texts);
  auto calls = endpoint.calls();
  ASSERT_EQ(calls.size(), 4u);  // 3 + 3 + 3 + 1
  for (const auto& call : calls) {
    EXPECT_EQ(call.body["model"], "fake-model");
    EXPECT_EQ(call.body["encoding_format"], "float");
    EXPECT_FALSE(call.body.contains("dimensions"));
  }

  // Token budget: texts of 30 bytes are 10 estimated tokens each, so 25 tokens hold two.
  FakeEndpoint second;
  options = fast_options(second);
  options.max_batch_tokens = 25;
  const std::vector<std::string> long_texts(5, std::string(30, 'x'));
  expect_rows_match(provider::open_remote_provider(options)->embed(long_texts), long_texts);
  calls = second.calls();
  ASSERT_EQ(calls.size(), 3u);
  // Requests run concurrently, so they arrive in any order: two batches of 2 and one of 1.
  std::multiset<size_t> batch_sizes;
  for (const auto& call : calls) batch_sizes.insert(call.body["input"].size());
  EXPECT_EQ(batch_sizes, (std::multiset<size_t>{1, 2, 2}));
}

TEST(OpenAiClient, SendsTheFinalTextWithThePrompt) {
  FakeEndpoint endpoint;
  const auto client = provider::open_remote_provider(fast_options(endpoint));
  client->embed({"  what did I eat? "}, "query: ");
  EXPECT_EQ(endpoint.calls().at(0).body["input"][0], "query:   what did I eat?");
  EXPECT_THROW(client->embed({"   "}, ""), Error);  // empty after stripping: named, never sent
  EXPECT_EQ(endpoint.calls().size(), 1u);
}

TEST(OpenAiClient, KeepsSeveralRequestsInFlight) {
  FakeEndpoint endpoint;
  endpoint.set_behaviour([](const FakeEndpoint::Call&, httplib::Response&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return false;
  });
  RemoteOptions options = fast_options(endpoint);
  options.max_batch_texts = 1;
  options.concurrency = 4;
  const auto texts = numbered_texts(8);
  expect_rows_match(provider::open_remote_provider(options)->embed(texts), texts);
  EXPECT_GE(endpoint.max_in_flight(), 2);
  EXPECT_LE(endpoint.max_in_flight(), 4);
}

TEST(OpenAiClient, HonoursRetryAfterOn429) {
  FakeEndpoint endpoint;
  endpoint.set_behaviour([](const FakeEndpoint::Call& call, httplib::Response& response) {
    if (call.attempt > 0) return false;
    response.status = 429;
    response.set_header("Retry-After", "1");
    response.set_content(R"({"error": {"message": "slow down"}})", "application/json");
    return true;
  });
  const auto start = Clock::now();
  const auto texts = numbered_texts(2);
  expect_rows_match(provider::open_remote_provider(fast_options(endpoint))->embed(texts), texts);
  EXPECT_EQ(endpoint.calls().size(), 2u);
  // The backoff alone would have waited at most 0.05 s.
  EXPECT_GE(std::chrono::duration<double>(Clock::now() - start).count(), 0.95);
}

TEST(OpenAiClient, RefusesARetryAfterBeyondTheLimit) {
  FakeEndpoint endpoint;
  endpoint.set_behaviour([](const FakeEndpoint::Call&, httplib::Response& response) {
    response.status = 429;
    response.set_header("Retry-After", "3600");
    return true;
  });
  const Error error = error_of([&] { provider::open_remote_provider(fast_options(endpoint))->embed({"a"}); });
  EXPECT_EQ(error.kind(), ErrorKind::Network);
  EXPECT_TRUE(mentions(error, "3600")) << error.what();
  EXPECT_EQ(endpoint.calls().size(), 1u);
}

TEST(OpenAiClient, RetriesServerErrorsWithBackoffThenGivesUp) {
  FakeEndpoint endpoint;
  endpoint.set_behaviour([](const FakeEndpoint::Call& call, httplib::Response& response) {
    if (call.attempt >= 2) return false;
    response.status = call.attempt == 0 ? 500 : 503;
    return true;
  });
  const auto texts = numbered_texts(3);
  expect_rows_match(provider::open_remote_provider(fast_options(endpoint))->embed(texts), texts);
  EXPECT_EQ(endpoint.calls().size(), 3u);

  FakeEndpoint broken;
  broken.set_behaviour([](const FakeEndpoint::Call&, httplib::Response& response) {
    response.status = 500;
    response.set_content(R"({"error": "CUDA out of memory"})", "application/json");
    return true;
  });
  RemoteOptions options = fast_options(broken);
  options.max_retries = 2;
  const Error error = error_of([&] { provider::open_remote_provider(options)->embed({"a"}); });
  EXPECT_EQ(error.kind(), ErrorKind::Network);
  EXPECT_TRUE(mentions(error, "gave up after 3 attempts")) << error.what();
  EXPECT_TRUE(mentions(error, "CUDA out of memory")) << error.what();
  EXPECT_TRUE(mentions(error, broken.url())) << error.what();
  EXPECT_EQ(broken.calls().size(), 3u);
}

TEST(OpenAiClient, ClientErrorsAreNotRetried) {
  FakeEndpoint endpoint;
  endpoint.set_behaviour([](const FakeEndpoint::Call&, httplib::Response& response) {
    response.status = 400;
    response.set_content(R"({"error": {"message": "input is too long"}})", "application/json");
    return true;
  });
  const Error error = error_of([&] { provider::open_remote_provider(fast_options(endpoint))->embed({"a"}); });
  EXPECT_EQ(error.kind(), ErrorKind::InvalidInput);
  EXPECT_TRUE(mentions(error, "input is too long")) << error.what();
  EXPECT_EQ(endpoint.calls().size(), 1u);
}

TEST(OpenAiClient, AStalledRequestTimesOutAndIsRetried) {
  FakeEndpoint endpoint;
  endpoint.set_behaviour([](const FakeEndpoint::Call& call, httplib::Response&) {
    if (call.attempt == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    return false;
  });
  RemoteOptions options = fast_options(endpoint);
  options.timeout_s = 0.3;
  const auto start = Clock::now();
  const auto texts = numbered_texts(2);
  expect_rows_match(provider::open_remote_provider(options)->embed(texts), texts);
  EXPECT_EQ(endpoint.calls().size(), 2u);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 1.4);  // did not wait for the stall
}

TEST(OpenAiClient, WrongDimsAreAnErrorNamingBothSizes) {
  FakeEndpoint endpoint(3);
  const Error error = error_of([&] { provider::open_remote_provider(fast_options(endpoint, 8))->embed({"a"}); });
  EXPECT_EQ(error.kind(), ErrorKind::InvalidInput);
  EXPECT_TRUE(mentions(error, "3-dimensional")) << error.what();
  EXPECT_TRUE(mentions(error, "expects 8")) << error.what();
  // Without expected dims the first (probe) answer sets them.
  RemoteOptions options = fast_options(endpoint, 0);
  const auto client = provider::open_remote_provider(options);
  EXPECT_EQ(client->dimension(), 3u);
  EXPECT_EQ(client->fingerprint(), "openai:" + endpoint.url() + "#fake-model:dim3");
}

TEST(OpenAiClient, MalformedAnswersAreErrors) {
  FakeEndpoint endpoint;
  int mode = 0;
  endpoint.set_behaviour([&](const FakeEndpoint::Call& call, httplib::Response& response) {
    Json data = Json::array();
    if (mode == 0) {  // a repeated index
      data = Json::array({{{"index", 0}, {"embedding", {1, 2, 3, 4}}}, {{"index", 0}, {"embedding", {1, 2, 3, 4}}}});
    } else if (mode == 1) {  // one row missing
      data = Json::array({{{"index", 0}, {"embedding", {1, 2, 3, 4}}}});
    } else {
      response.set_content("<html>proxy error</html>", "text/html");
      return true;
    }
    response.set_content(Json{{"data", data}}.dump(), "application/json");
    return true;
  });
  const auto client = provider::open_remote_provider(fast_options(endpoint));
  for (mode = 0; mode < 3; ++mode) EXPECT_THROW(client->embed({"a", "b"}), Error) << "mode " << mode;
}

TEST(OpenAiClient, ReadsBase64AndPassesDimensionsThrough) {
  FakeEndpoint endpoint;
  endpoint.set_behaviour([](const FakeEndpoint::Call& call, httplib::Response& response) {
    Json data = Json::array();
    const size_t dims = call.body["dimensions"].get<size_t>();
    for (size_t i = 0; i < call.body["input"].size(); ++i) {
      data.push_back({{"index", i}, {"embedding", base64_of(fake_vector(call.body["input"][i], dims))}});
    }
    response.set_content(Json{{"data", data}}.dump(), "application/json");
    return true;
  });
  RemoteOptions options = fast_options(endpoint, 0);
  options.encoding_format = "base64";
  options.dimensions = 6;
  const auto client = provider::open_remote_provider(options);
  EXPECT_EQ(client->dimension(), 6u);
  EXPECT_TRUE(endpoint.calls().empty());  // dimensions told the size: no probe
  const auto texts = numbered_texts(5);
  expect_rows_match(client->embed(texts), texts, 6);
  EXPECT_EQ(endpoint.calls().at(0).body["encoding_format"], "base64");
  EXPECT_EQ(endpoint.calls().at(0).body["dimensions"], 6);
}

TEST(OpenAiClient, SendsTheKeyFromTheEnvironmentAndNeverShowsIt) {
  FakeEndpoint endpoint;
  endpoint.set_behaviour([](const FakeEndpoint::Call& call, httplib::Response& response) {
    if (call.authorization == "Bearer sk-test-123") return false;
    response.status = 401;
    response.set_content(R"({"error": {"message": "bad key"}})", "application/json");
    return true;
  });
  ::setenv("MEMEMBED_API_KEY", "sk-test-123", 1);
  EXPECT_NO_THROW(provider::open_remote_provider(fast_options(endpoint))->embed({"a"}));
  ::setenv("MEMEMBED_API_KEY", "sk-wrong-456", 1);
  const Error error = error_of([&] { provider::open_remote_provider(fast_options(endpoint))->embed({"a"}); });
  EXPECT_TRUE(mentions(error, "API key")) << error.what();
  EXPECT_FALSE(mentions(error, "sk-wrong-456")) << error.what();
  ::unsetenv("MEMEMBED_API_KEY");
}

TEST(OpenAiClient, LimitsTheRequestRate) {
  FakeEndpoint endpoint;
  RemoteOptions options = fast_options(endpoint);
  options.max_batch_texts = 1;
  options.concurrency = 4;
  options.requests_per_second = 20;
  const auto start = Clock::now();
  provider::open_remote_provider(options)->embed(numbered_texts(6));
  // Six starts 50 ms apart span at least 250 ms.
  EXPECT_GE(std::chrono::duration<double>(Clock::now() - start).count(), 0.24);
}

TEST(OpenAiClient, AddressesAndUnreachableEndpoints) {
  EXPECT_THROW(provider::open_provider("openai:http://127.0.0.1:1/v1"), Error);  // no #MODEL
  EXPECT_THROW(provider::open_provider("openai:ftp://host/v1#m"), Error);
  // Nothing listens on port 1: the error names the URL at once, without retries.
  const auto start = Clock::now();
  const Error error = error_of([&] { provider::open_provider("openai:http://127.0.0.1:1/v1#some-model"); });
  EXPECT_EQ(error.kind(), ErrorKind::Network);
  EXPECT_TRUE(mentions(error, "127.0.0.1:1/v1/embeddings")) << error.what();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 2.0);
}

TEST(OpenAiClient, ClientSettingsFromJson) {
  const auto options = provider::remote_options_from_json(
      Json{{"max_batch_texts", 8}, {"concurrency", 2}, {"encoding_format", "base64"}, {"timeout_s", 1.5}}, {}, "cfg");
  EXPECT_EQ(options.max_batch_texts, 8u);
  EXPECT_EQ(options.concurrency, 2u);
  EXPECT_EQ(options.encoding_format, "base64");
  EXPECT_DOUBLE_EQ(options.timeout_s, 1.5);
  EXPECT_THROW(provider::remote_options_from_json(Json{{"batch", 8}}, {}, "cfg"), Error);
  EXPECT_THROW(provider::remote_options_from_json(Json{{"concurrency", "two"}}, {}, "cfg"), Error);
}

}  // namespace
}  // namespace memembed::testing
