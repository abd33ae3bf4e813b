// POST /v1/embeddings as OpenAI clients call it, checked against `memembed embed` on the same model.
#include "serve_test_support.h"

#include "cli_support.h"

#include <openssl/evp.h>

#include <cmath>
#include <cstring>
#include <thread>

namespace memembed::testing {
namespace {

namespace fs = std::filesystem;

std::vector<float> as_floats(const Json& values) { return values.get<std::vector<float>>(); }

std::vector<float> unit(std::vector<float> values, size_t dims) {
  values.resize(dims);
  double norm = 0;
  for (float v : values) norm += static_cast<double>(v) * v;
  for (float& v : values) v = static_cast<float>(v / std::sqrt(norm));
  return values;
}

float max_difference(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

class ServeEmbeddingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MEMEMBED_REQUIRE_SHARED(fixture_dir("bert-tiny"));
    dir_ = temp_.path();
    server_ = std::make_unique<ServeProcess>(
        std::vector<std::string>{"--data", (dir_ / "data").string(), "--model", bert_tiny()}, dir_ / "serve.log");
    ASSERT_TRUE(server_->wait_ready()) << server_->log();
    http_ = std::make_unique<Http>(server_->port());
  }

  // What `memembed embed` makes of `texts` on the same model with its document prompt (the server
  // embeds /v1/embeddings inputs as documents): the reference.
  std::vector<std::vector<float>> reference(const std::vector<std::string>& texts) {
    const fs::path input = dir_ / "texts.jsonl";
    std::ofstream out(input);
    for (const auto& text : texts) out << Json{{"text", text}}.dump() << "\n";
    out.close();
    const fs::path output = dir_ / "embeddings.jsonl";
    const CommandResult result =
        run_memembed("embed --model " + bert_tiny() + " --prompt-name document --input " + input.string() + " --output " + output.string());
    EXPECT_EQ(result.exit_code, 0) << result.err;
    std::vector<std::vector<float>> vectors;
    for_each_jsonl(output, [&](const Json& line, size_t) { vectors.push_back(as_floats(line["embedding"])); });
    return vectors;
  }

  TempDir temp_;  // outlives the members declared after it
  fs::path dir_;
  std::unique_ptr<ServeProcess> server_;
  std::unique_ptr<Http> http_;
};

TEST_F(ServeEmbeddingsTest, FloatArrayInputMatchesTheEncoderInOrder) {
  const std::vector<std::string> texts = {"The cat sat on the mat.", "Deploy with scripts/deploy.sh",
                                          "A much longer sentence about agents remembering what users told them."};
  const Reply reply = http_->post("/v1/embeddings", {{"input", texts}, {"model", "bert-tiny"}});
  ASSERT_EQ(reply.status, 200) << reply.text;
  EXPECT_EQ(reply.body["object"], "list");
  EXPECT_FALSE(reply.body["model"].get<std::string>().empty());
  ASSERT_EQ(reply.body["data"].size(), texts.size());
  const auto expected = reference(texts);
  for (size_t i = 0; i < texts.size(); ++i) {
    const Json& item = reply.body["data"][i];
    EXPECT_EQ(item["object"], "embedding");
    EXPECT_EQ(item["index"], i);
    const auto got = as_floats(item["embedding"]);
    ASSERT_EQ(got.size(), 32u);
    EXPECT_LT(max_difference(got, unit(expected[i], 32)), 1e-5) << texts[i];
  }
  // bert-tiny's WordPiece: [CLS] + tokens + [SEP] per input.
  EXPECT_GT(reply.body["usage"]["prompt_tokens"].get<int>(), 3 * 2);
  EXPECT_EQ(reply.body["usage"]["prompt_tokens"], reply.body["usage"]["total_tokens"]);
  const Reply single = http_->post("/v1/embeddings", {{"input", "hello world"}, {"model", "bert-tiny"}});
  EXPECT_EQ(single.body["usage"]["prompt_tokens"], 4);
}

TEST_F(ServeEmbeddingsTest, Base64AndMatryoshkaDimensions) {
  const std::string text = "Embeddings as little-endian float32 in base64";
  const auto floats = as_floats(http_->post("/v1/embeddings", {{"input", text}}).body["data"][0]["embedding"]);
  const Reply encoded = http_->post("/v1/embeddings", {{"input", text}, {"encoding_format", "base64"}});
  ASSERT_EQ(encoded.status, 200) << encoded.text;
  const std::string b64 = encoded.body["data"][0]["embedding"];
  std::string bytes(b64.size(), '\0');
  const int decoded = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()),
                                      reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
  ASSERT_GE(decoded, 32 * 4);  // EVP_DecodeBlock counts the padding as bytes too
  std::vector<float> values(32);
  std::memcpy(values.data(), bytes.data(), 32 * sizeof(float));
  EXPECT_EQ(values, floats);

  const Reply truncated = http_->post("/v1/embeddings", {{"input", text}, {"dimensions", 16}});
  ASSERT_EQ(truncated.status, 200) << truncated.text;
  EXPECT_LT(max_difference(as_floats(truncated.body["data"][0]["embedding"]), unit(floats, 16)), 1e-6);
}

TEST_F(ServeEmbeddingsTest, BadRequestsAreJsonErrors) {
  const auto code = [&](const Json& body) {
    const Reply reply = http_->post("/v1/embeddings", body);
    EXPECT_EQ(reply.status, 400) << reply.text;
    return error_code(reply);
  };
  EXPECT_EQ(code({{"model", "m"}}), "invalid_request");
  EXPECT_EQ(code({{"input", Json::array()}}), "invalid_request");
  EXPECT_EQ(code({{"input", {"ok", ""}}}), "invalid_request");
  EXPECT_EQ(code({{"input", {1, 2, 3}}}), "invalid_request");
  EXPECT_EQ(code({{"input", "x"}, {"dimensions", 0}}), "invalid_request");
  EXPECT_EQ(code({{"input", "x"}, {"dimensions", 33}}), "invalid_request");
  EXPECT_EQ(code({{"input", "x"}, {"encoding_format", "int8"}}), "invalid_request");
  EXPECT_EQ(code({{"input", "x"}, {"temperature", 1}}), "unknown_field");
  EXPECT_EQ(http_->get("/v1/models").body["data"].size(), 1u);
}

TEST_F(ServeEmbeddingsTest, ConcurrentRequestsEachGetTheirOwnVectors) {
  // Many clients at once: dynamic batching merges their texts into shared model calls, and every
  // caller must still get exactly the vectors of its own texts.
  std::vector<std::string> texts;
  for (int i = 0; i < 24; ++i) texts.push_back("request " + std::to_string(i) + " asks about topic " + std::to_string(i * 7));
  const auto expected = reference(texts);
  std::vector<std::vector<float>> got(texts.size());
  std::vector<std::thread> clients;
  for (size_t i = 0; i < texts.size(); ++i) {
    clients.emplace_back([&, i] {
      Http http(server_->port());
      const Reply reply = http.post("/v1/embeddings", {{"input", texts[i]}});
      if (reply.status == 200) got[i] = as_floats(reply.body["data"][0]["embedding"]);
    });
  }
  for (auto& client : clients) client.join();
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_EQ(got[i].size(), 32u) << i;
    EXPECT_LT(max_difference(got[i], unit(expected[i], 32)), 1e-5) << texts[i];
  }
  const std::string metrics = http_->get("/metrics").text;
  EXPECT_NE(metrics.find("memembed_encoder_batch_requests_count"), std::string::npos);
}

}  // namespace
}  // namespace memembed::testing
