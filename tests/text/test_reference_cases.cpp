// Every case in shared/tokenizers/*/cases.jsonl: the ids Hugging Face produces, and the decoded
// text where the case gives one.
#include "fixture_support.h"

#include "memembed/text.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace memembed::text {
namespace {

using memembed::testing::read_jsonl;
using memembed::testing::shared_dir;

class ReferenceCases : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferenceCases, IdsAndDecodingMatchHuggingFace) {
  MEMEMBED_REQUIRE_SHARED(shared_dir() / "tokenizers");
  const auto directory = shared_dir() / "tokenizers" / GetParam();
  const auto tokenizer = load_tokenizer(directory);
  const auto cases = read_jsonl(directory / "cases.jsonl");
  ASSERT_GT(cases.size(), 10u);
  size_t decoded_checked = 0;
  for (const Json& c : cases) {
    const std::string id = c.at("id").get<std::string>();
    EncodeOptions options;
    options.add_special_tokens = c.at("add_special_tokens").get<bool>();
    const auto expected = c.at("ids").get<std::vector<TokenId>>();
    const std::string text = c.at("text").get<std::string>();
    Encoding encoding = c.contains("text_pair")
                            ? tokenizer->encode_pair(text, c.at("text_pair").get<std::string>(), options)
                            : tokenizer->encode(text, options);
    EXPECT_EQ(encoding.ids, expected) << id << ": " << text;
    EXPECT_FALSE(encoding.truncated) << id;
    EXPECT_EQ(encoding.num_tokens_untruncated, expected.size()) << id;
    if (c.contains("decoded")) {
      EXPECT_EQ(tokenizer->decode(expected, false), c.at("decoded").get<std::string>()) << id;
      ++decoded_checked;
    }
    if (c.contains("decoded_skip_special_tokens")) {
      EXPECT_EQ(tokenizer->decode(expected, true), c.at("decoded_skip_special_tokens").get<std::string>())
          << id;
    }
  }
  RecordProperty("cases", static_cast<int>(cases.size()));
  RecordProperty("decoded", static_cast<int>(decoded_checked));
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, ReferenceCases,
                         ::testing::Values("bert-base-uncased", "bert-base-cased", "gpt2", "gpt-neox-20b",
                                           "llama2", "t5"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

TEST(ReferenceCases, Gpt2DecodeCases) {
  MEMEMBED_REQUIRE_SHARED(shared_dir() / "tokenizers");
  const auto directory = shared_dir() / "tokenizers" / "gpt2";
  const auto tokenizer = load_tokenizer(directory);
  const auto cases = read_jsonl(directory / "decode_cases.jsonl");
  ASSERT_GE(cases.size(), 5u);
  for (const Json& c : cases) {
    const auto ids = c.at("ids").get<std::vector<TokenId>>();
    EXPECT_EQ(tokenizer->decode(ids, c.at("skip_special_tokens").get<bool>()), c.at("decoded").get<std::string>())
        << c.at("id").get<std::string>();
  }
}

}  // namespace
}  // namespace memembed::text
