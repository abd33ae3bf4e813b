// The Encoder end to end (text -> tokenizer -> model -> embedding) against every fixture's
// reference, and the invariants batching must keep.
#include "fixture_support.h"
#include "memembed/embed.h"
#include "memembed/error.h"
#include "memembed/json_io.h"
#include "memembed/log.h"
#include "memembed/model.h"
#include "sentencepiece_support.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/InferenceMode.h>
#include <spdlog/sinks/ostream_sink.h>

#include <cmath>
#include <sstream>
#include <thread>

using namespace memembed;
using memembed::testing::fixture_dir;
using memembed::testing::max_abs_diff;

namespace {

class FixtureEncoder : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = fixture_dir(GetParam());
    MEMEMBED_REQUIRE_SHARED(dir_);
    MEMEMBED_REQUIRE_TOKENIZER_LOADS(dir_);
    expected_ = read_json_file(dir_ / "expected.json");
  }
  std::filesystem::path dir_;
  Json expected_;
};

TEST_P(FixtureEncoder, EveryCaseFromTextMatchesTheReference) {
  model::set_compute_threads(2);
  const embed::Encoder encoder(dir_);
  const double tolerance = expected_["tolerance"]["embedding_max_abs_diff"].get<double>();
  // All cases of one prompt in a single call: they are batched together, mixed lengths included.
  std::map<std::string, std::vector<const Json*>> by_prompt;
  for (const auto& item : expected_["cases"]) {
    by_prompt[item["prompt_name"].is_null() ? "" : item["prompt_name"].get<std::string>()].push_back(&item);
  }
  for (const auto& [prompt_name, cases] : by_prompt) {
    std::vector<std::string> texts;
    for (const Json* item : cases) texts.push_back((*item)["text"].get<std::string>());
    const std::string prompt = prompt_name.empty() ? "" : encoder.prompt(prompt_name);
    embed::EncodeStats stats;
    const embed::Embeddings embeddings = encoder.encode(texts, prompt, &stats);
    ASSERT_EQ(embeddings.rows, texts.size());
    size_t truncated = 0;
    for (size_t i = 0; i < cases.size(); ++i) {
      const auto reference = (*cases[i])["embedding"].get<std::vector<double>>();
      EXPECT_LE(max_abs_diff(embeddings.row(i), reference), tolerance) << (*cases[i])["id"];
      truncated += (*cases[i])["truncated"].get<bool>() ? 1 : 0;
    }
    EXPECT_EQ(stats.truncated_texts, truncated) << "prompt " << prompt_name;
  }
}

TEST_P(FixtureEncoder, BatchingDoesNotChangeResults) {
  std::vector<std::string> texts;
  for (const auto& item : expected_["cases"]) {
    if (item["prompt_name"].is_null()) texts.push_back(item["text"].get<std::string>());
  }
  embed::EncoderOptions one_at_a_time;
  one_at_a_time.max_batch_size = 1;
  embed::EncoderOptions packed;
  packed.max_batch_size = 64;
  packed.max_batch_tokens = 100000;
  const auto model = std::shared_ptr<const model::SentenceTransformer>(model::SentenceTransformer::load(dir_));
  const embed::Embeddings alone = embed::Encoder(model, one_at_a_time).encode(texts);
  embed::EncodeStats stats;
  const embed::Embeddings batched = embed::Encoder(model, packed).encode(texts, "", &stats);
  EXPECT_EQ(stats.batches, 1u);
  for (size_t i = 0; i < texts.size(); ++i) {
    double worst = 0;
    for (size_t d = 0; d < alone.dim; ++d) worst = std::max(worst, static_cast<double>(std::abs(alone.row(i)[d] - batched.row(i)[d])));
    EXPECT_LE(worst, 1e-5) << "text " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureEncoder,
                         ::testing::Values("bert-tiny", "bert-tiny-cls", "bert-tiny-f16", "gemma3-embed-tiny",
                                           "qwen3-embed-tiny"));

class Encoder : public ::testing::Test {
 protected:
  void SetUp() override {
    MEMEMBED_REQUIRE_SHARED(fixture_dir("bert-tiny"));
    encoder_ = std::make_unique<embed::Encoder>(fixture_dir("bert-tiny"));
  }
  std::unique_ptr<embed::Encoder> encoder_;
};

TEST_F(Encoder, InvalidUtf8IsRefusedWithTheTextIndex) {
  try {
    encoder_->encode({"fine", "bad \xC3\x28"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("text 1 is not valid UTF-8"), std::string::npos) << e.what();
  }
}

TEST_F(Encoder, UnknownPromptNameListsTheKnownOnes) {
  try {
    encoder_->prompt("search");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("document, query"), std::string::npos) << e.what();
  }
}

TEST_F(Encoder, EmptyInputsGiveEmptyOrValidOutputs) {
  EXPECT_EQ(encoder_->encode({}).rows, 0u);
  const embed::Embeddings one = encoder_->encode({""});
  ASSERT_EQ(one.rows, 1u);
  double norm = 0;
  for (size_t d = 0; d < one.dim; ++d) norm += one.row(0)[d] * one.row(0)[d];
  EXPECT_NEAR(norm, 1.0, 1e-5);
}

TEST_F(Encoder, OverlongTextIsTruncatedToTheModelLimit) {
  std::string long_text;
  for (int i = 0; i < 300; ++i) long_text += "memory ";
  embed::EncodeStats stats;
  encoder_->encode({long_text, "short"}, "", &stats);
  EXPECT_EQ(stats.truncated_texts, 1u);
  EXPECT_EQ(stats.tokens, 64u + 3u);  // 64 (limit) + [CLS] short [SEP]
}

TEST_F(Encoder, TruncateDimKeepsLeadingDimensionsRenormalised) {
  embed::EncoderOptions options;
  options.truncate_dim = 8;
  const embed::Encoder truncated(fixture_dir("bert-tiny"), options);
  EXPECT_EQ(truncated.dimension(), 8u);
  const embed::Embeddings full = encoder_->encode({"matryoshka"});
  const embed::Embeddings small = truncated.encode({"matryoshka"});
  ASSERT_EQ(small.dim, 8u);
  double norm = 0;
  for (size_t d = 0; d < 8; ++d) norm += full.row(0)[d] * full.row(0)[d];
  for (size_t d = 0; d < 8; ++d) EXPECT_NEAR(small.row(0)[d], full.row(0)[d] / std::sqrt(norm), 1e-6);
  options.truncate_dim = 33;
  EXPECT_THROW(embed::Encoder(fixture_dir("bert-tiny"), options), Error);
}

TEST_F(Encoder, BatchesStayWithinTheTokenBudgetWithLittlePadding) {
  embed::EncoderOptions options;
  options.max_batch_tokens = 256;
  const embed::Encoder budgeted(fixture_dir("bert-tiny"), options);
  const std::vector<std::string> texts = embed::synthetic_workload(200, 7);
  embed::EncodeStats stats;
  budgeted.encode(texts, "", &stats);
  EXPECT_GT(stats.batches, 10u);
  EXPECT_LT(static_cast<double>(stats.padded_tokens - stats.tokens) / static_cast<double>(stats.padded_tokens), 0.10);
}

TEST(StaticModelEncoder, TextsMatchTheReferenceWithoutSpecialTokens) {
  const auto dir = fixture_dir("static-glove-25d");
  MEMEMBED_REQUIRE_SHARED(dir);
  const Json expected = read_json_file(dir / "expected.json");
  embed::EncoderOptions options;
  model::set_compute_threads(2);
  const embed::Encoder encoder(dir, options);
  std::vector<std::string> texts;
  for (const auto& item : expected["cases"]) texts.push_back(item["text"].get<std::string>());
  const embed::Embeddings embeddings = encoder.encode(texts, "");
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_LE(max_abs_diff(embeddings.row(i), expected["cases"][i]["embedding"].get<std::vector<double>>()), 1e-5)
        << expected["cases"][i]["id"];
  }
}

TEST(SyntheticWorkload, IsReproducibleAndVaried) {
  const auto a = embed::synthetic_workload(100, 42);
  const auto b = embed::synthetic_workload(100, 42);
  const auto c = embed::synthetic_workload(100, 43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  size_t shortest = SIZE_MAX, longest = 0;
  for (const auto& text : a) {
    shortest = std::min(shortest, text.size());
    longest = std::max(longest, text.size());
  }
  EXPECT_LT(shortest, 100u);
  EXPECT_GT(longest, 300u);
}


// include_prompt = false: pooling skips the prompt's tokens. sentence-transformers counts the
// prompt's tokens and drops one only when the last of them is a special token (an appended EOS),
// so a tokenizer that appends nothing keeps every prompt token in the count.
class PromptExclusion : public ::testing::TestWithParam<bool> {};

TEST_P(PromptExclusion, PoolingSkipsExactlyThePromptTokens) {
  const bool appends_eos = GetParam();
  const auto source = fixture_dir("gemma3-embed-tiny");
  MEMEMBED_REQUIRE_SHARED(source);
  MEMEMBED_REQUIRE_TOKENIZER_LOADS(source);
  const memembed::testing::TempDir scratch;
  const auto dir = scratch / "model";
  std::filesystem::copy(source, dir, std::filesystem::copy_options::recursive);
  Json tokenizer_config = read_json_file(dir / "tokenizer_config.json");
  tokenizer_config["add_eos_token"] = appends_eos;
  write_json_file(dir / "tokenizer_config.json", tokenizer_config);
  Json pooling = read_json_file(dir / "1_Pooling" / "config.json");
  pooling["include_prompt"] = false;
  write_json_file(dir / "1_Pooling" / "config.json", pooling);

  const embed::Encoder encoder(dir);
  const std::string prompt = encoder.prompt("query");
  const std::string text = "The quick brown fox jumps over the lazy dog.";
  const embed::Embeddings embedded = encoder.encode({text}, prompt);

  // The reference: the transformer's token states, averaged over the tokens after the prompt,
  // then the remaining stages (Dense, Dense, Normalize).
  const auto& model = encoder.model();
  const auto ids = model.tokenizer().encode(strip_unicode_whitespace(prompt + text)).ids;
  const auto prompt_ids = model.tokenizer().encode(strip_unicode_whitespace(prompt)).ids;
  const size_t eos = model.tokenizer().token_to_id("</s>").value();
  ASSERT_EQ(prompt_ids.back() == static_cast<text::TokenId>(eos), appends_eos);
  const size_t prompt_tokens = prompt_ids.size() - (appends_eos ? 1 : 0);
  ASSERT_TRUE(std::equal(prompt_ids.begin(), prompt_ids.begin() + static_cast<long>(prompt_tokens), ids.begin()));
  c10::InferenceMode guard;
  model::Features features;
  features.input_ids = at::tensor(std::vector<int64_t>(ids.begin(), ids.end()), at::kLong).unsqueeze(0);
  features.attention_mask = at::ones_like(features.input_ids);
  model.modules()[0]->forward(features);
  features.sentence_embedding =
      features.token_embeddings.narrow(1, static_cast<int64_t>(prompt_tokens),
                                       static_cast<int64_t>(ids.size() - prompt_tokens)).mean(1);
  for (size_t stage = 2; stage < model.modules().size(); ++stage) model.modules()[stage]->forward(features);
  const at::Tensor reference = features.sentence_embedding.contiguous();
  ASSERT_EQ(static_cast<size_t>(reference.numel()), embedded.dim);
  std::vector<double> expected(reference.data_ptr<float>(), reference.data_ptr<float>() + reference.numel());
  EXPECT_LE(max_abs_diff(embedded.row(0), expected), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(WithAndWithoutAppendedEos, PromptExclusion, ::testing::Values(true, false));

// What a server needs: loading a model changes nothing process-wide (threads, allocator), and one
// Encoder serves many threads at once with the results of a single caller.
TEST(EncoderInAServer, LoadingChangesNoProcessWideSetting) {
  const auto dir = fixture_dir("bert-tiny");
  MEMEMBED_REQUIRE_SHARED(dir);
  model::set_compute_threads(1);
  c10::Allocator* const allocator = c10::GetCPUAllocator();
  embed::EncoderOptions options;
  options.max_batch_size = 3;
  const embed::Encoder encoder(dir, options);
  encoder.encode({"hello"});
  EXPECT_EQ(model::compute_threads(), 1);
  EXPECT_EQ(c10::GetCPUAllocator(), allocator);
}

TEST(EncoderInAServer, ManyThreadsEncodeAtOnceWithSingleThreadedResults) {
  const auto dir = fixture_dir("qwen3-embed-tiny");
  MEMEMBED_REQUIRE_SHARED(dir);
  model::set_compute_threads(2);
  // Every thread's warnings land in one captured log: the truncation warning comes once.
  auto captured = std::make_shared<std::ostringstream>();
  auto previous = memembed::logger();
  memembed::set_logger(std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(*captured)));
  const embed::Encoder encoder(dir);
  const Json expected = read_json_file(dir / "expected.json");
  std::vector<std::string> texts;
  for (const auto& item : expected["cases"]) texts.push_back(item["text"].get<std::string>());
  ASSERT_GT(texts.size(), 20u);
  const std::string prompt = encoder.prompt("query");
  const embed::Embeddings alone = encoder.encode(texts, prompt);

  constexpr int kThreads = 8;
  std::vector<embed::Embeddings> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) results[static_cast<size_t>(t)] = encoder.encode(texts, prompt);
    });
  }
  for (auto& thread : threads) thread.join();
  memembed::set_logger(previous);
  for (const auto& result : results) {
    ASSERT_EQ(result.values.size(), alone.values.size());
    double worst = 0;
    for (size_t i = 0; i < alone.values.size(); ++i) {
      worst = std::max(worst, static_cast<double>(std::abs(result.values[i] - alone.values[i])));
    }
    EXPECT_LE(worst, 1e-6);
  }
  const std::string log = captured->str();
  const size_t first = log.find("truncated");
  ASSERT_NE(first, std::string::npos) << "the fixture has texts longer than 64 tokens";
  EXPECT_EQ(log.find("truncated", first + 1), std::string::npos) << log;
}

TEST(EncoderPrompts, SelectedAsSentenceTransformersDoes) {
  const auto source = fixture_dir("bert-tiny");
  MEMEMBED_REQUIRE_SHARED(source);
  const memembed::testing::TempDir scratch;
  const auto dir = scratch / "model";
  std::filesystem::copy(source, dir, std::filesystem::copy_options::recursive);
  {
    const embed::Encoder encoder(dir);
    EXPECT_EQ(encoder.select_prompt(std::nullopt, ""), "") << "no default_prompt_name: no prompt";
    EXPECT_EQ(encoder.select_prompt(std::nullopt, "query"), "query: ");
    EXPECT_EQ(encoder.select_prompt(std::string("x: "), ""), "x: ");
    EXPECT_THROW(encoder.select_prompt(std::string("x: "), "query"), Error);
    EXPECT_THROW(encoder.select_prompt(std::nullopt, "nope"), Error);
  }
  Json config = read_json_file(dir / "config_sentence_transformers.json");
  config["default_prompt_name"] = "document";
  write_json_file(dir / "config_sentence_transformers.json", config);
  const embed::Encoder encoder(dir);
  EXPECT_EQ(encoder.select_prompt(std::nullopt, ""), "passage: ");
  EXPECT_EQ(encoder.select_prompt(std::string(""), ""), "") << "an explicit empty prompt wins";
}

}  // namespace

namespace {

TEST(EncoderModelResolution, UnknownHubIdNamesThePullCommand) {
  const memembed::testing::TempDir cache;
  const memembed::testing::ScopedEnv cache_env("MEMEMBED_CACHE", cache.path().string());
  try {
    embed::Encoder encoder("someorg/some-model");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("memembed pull someorg/some-model"), std::string::npos) << e.what();
  }
}

}  // namespace
