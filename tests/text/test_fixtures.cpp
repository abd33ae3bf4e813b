// The model fixtures' expected token ids: every case's input_text, special tokens on, truncated
// to max_seq_length (64) with special tokens kept.
#include "fixture_support.h"

#include "memembed/text.h"

namespace memembed::text {
namespace {

using memembed::testing::shared_dir;

struct FixtureExpectation {
  const char* name;
  PaddingSide padding_side;
  TokenId pad_token_id;
};

class FixtureTokens : public ::testing::TestWithParam<FixtureExpectation> {};

TEST_P(FixtureTokens, MatchExpectedJson) {
  MEMEMBED_REQUIRE_SHARED(shared_dir() / "fixtures");
  const auto directory = shared_dir() / "fixtures" / GetParam().name;
  const auto tokenizer = load_tokenizer(directory);
  EXPECT_EQ(tokenizer->padding_side(), GetParam().padding_side);
  EXPECT_EQ(tokenizer->pad_token_id(), GetParam().pad_token_id);

  const Json expected = read_json_file(directory / "expected.json");
  const size_t max_length = expected.at("max_seq_length").get<size_t>();
  ASSERT_EQ(max_length, 64u);
  size_t truncated_cases = 0;
  for (const Json& c : expected.at("cases")) {
    const std::string id = c.at("id").get<std::string>();
    const Encoding encoding = tokenizer->encode(c.at("input_text").get<std::string>(), {true, max_length});
    EXPECT_EQ(encoding.ids, c.at("token_ids").get<std::vector<TokenId>>()) << id;
    EXPECT_EQ(encoding.truncated, c.at("truncated").get<bool>()) << id;
    EXPECT_EQ(encoding.num_tokens_untruncated, c.at("num_tokens_untruncated").get<size_t>()) << id;
    truncated_cases += encoding.truncated;
  }
  EXPECT_GE(truncated_cases, 4u);  // the fixtures hold four over-long texts, with and without prompt
}

INSTANTIATE_TEST_SUITE_P(
    Models, FixtureTokens,
    ::testing::Values(FixtureExpectation{"bert-tiny", PaddingSide::Right, 0},
                      FixtureExpectation{"bert-tiny-cls", PaddingSide::Right, 0},
                      FixtureExpectation{"bert-tiny-f16", PaddingSide::Right, 0},
                      FixtureExpectation{"gemma3-embed-tiny", PaddingSide::Right, 0},
                      FixtureExpectation{"qwen3-embed-tiny", PaddingSide::Left, 50256}),
    [](const auto& info) {
      std::string name = info.param.name;
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name;
    });

}  // namespace
}  // namespace memembed::text
