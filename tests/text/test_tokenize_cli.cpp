// `memembed tokenize` end to end: the binary's output equals the library's ids, in input order.
#include "cli_support.h"

#include "memembed/text.h"

namespace memembed::text {
namespace {

namespace fs = std::filesystem;
using memembed::testing::shared_dir;

#ifdef MEMEMBED_BINARY

class TokenizeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    MEMEMBED_REQUIRE_SHARED(shared_dir() / "tokenizers");
    MEMEMBED_REQUIRE_SHARED(shared_dir() / "fixtures");
    dir_ = scratch_.path();
  }

  fs::path write(const std::string& name, const std::string& content) { return scratch_.write(name, content); }

  // Runs the binary; returns its exit status and leaves stderr in stderr_.
  int run(const std::string& arguments) {
    const auto result = memembed::testing::run_memembed("--quiet tokenize " + arguments);
    stderr_ = result.err;
    return result.exit_code;
  }

  std::vector<Json> output(const fs::path& file) { return memembed::testing::read_jsonl(file); }

  memembed::testing::TempDir scratch_;
  fs::path dir_;
  std::string stderr_;
};

TEST_F(TokenizeCli, JsonlInputGivesLibraryIdsInOrder) {
  const std::vector<std::string> texts = {"Hello world!", "", "Unwanted running,  naïve café 東京",
                                          "an over-long text: " + std::string(200, 'w') + " and then many more words, "
                                          "enough of them to pass the sixteen-token limit"};
  std::string jsonl;
  for (const auto& t : texts) jsonl += Json{{"text", t}, {"id", "ignored"}}.dump() + "\n";
  const fs::path input = write("in.jsonl", jsonl);
  const fs::path out = dir_ / "out.jsonl";
  const fs::path model = shared_dir() / "fixtures" / "bert-tiny";
  ASSERT_EQ(run("--tokenizer '" + model.string() + "' --input '" + input.string() + "' --output '" +
                out.string() + "' --max-length 16"),
            0)
      << stderr_;
  const auto tokenizer = load_tokenizer(model);
  const auto lines = output(out);
  ASSERT_EQ(lines.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(lines[i].at("index").get<size_t>(), i);
    EXPECT_EQ(lines[i].at("ids").get<std::vector<TokenId>>(), tokenizer->encode(texts[i], {true, 16}).ids) << i;
  }
  EXPECT_EQ(lines[3].at("ids").size(), 16u);
}

// The binary links libtorch, whose libprotobuf would clash with SentencePiece's embedded copy if
// both shared the global symbol scope; this runs a SentencePiece model inside that process.
TEST_F(TokenizeCli, SentencePieceModelsWorkInsideTheBinary) {
  const fs::path input = write("in.txt", "Hello world\n\u00e9t\u00e9 \u6771\u4eac\n");
  const fs::path out = dir_ / "out.jsonl";
  const fs::path model = shared_dir() / "fixtures" / "gemma3-embed-tiny";
  ASSERT_EQ(run("--tokenizer '" + model.string() + "' --input '" + input.string() + "' --output '" +
                out.string() + "' --max-length 5"),
            0)
      << stderr_;
  const auto tokenizer = load_tokenizer(model);
  const auto lines = output(out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].at("ids").get<std::vector<TokenId>>(), tokenizer->encode("Hello world", {true, 5}).ids);
  EXPECT_EQ(lines[1].at("ids").size(), 5u);
  EXPECT_EQ(lines[1].at("ids").front().get<TokenId>(), 1);
  EXPECT_EQ(lines[1].at("ids").back().get<TokenId>(), 2);
}

TEST_F(TokenizeCli, PlainTextWithoutSpecialTokens) {
  const fs::path input = write("in.txt", "first line\nsecond  line\n");
  const fs::path out = dir_ / "out.jsonl";
  const fs::path model = shared_dir() / "tokenizers" / "gpt2" / "tokenizer.json";
  ASSERT_EQ(run("--tokenizer '" + model.string() + "' --no-special-tokens --input '" + input.string() +
                "' --output '" + out.string() + "'"),
            0)
      << stderr_;
  const auto tokenizer = load_tokenizer(model);
  const auto lines = output(out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1].at("ids").get<std::vector<TokenId>>(), tokenizer->encode("second  line", {false, 0}).ids);
}

TEST_F(TokenizeCli, BadInputLineIsNamedAndFails) {
  const fs::path input = write("in.jsonl", "{\"text\": \"ok\"}\n{\"txt\": \"typo\"}\n");
  const fs::path out = dir_ / "out.jsonl";
  const fs::path model = shared_dir() / "fixtures" / "bert-tiny";
  EXPECT_EQ(run("--tokenizer '" + model.string() + "' --input '" + input.string() + "' --output '" +
                out.string() + "'"),
            3);
  EXPECT_NE(stderr_.find("in.jsonl:2"), std::string::npos) << stderr_;
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(TokenizeCli, MissingTokenizerIsNotFound) {
  const fs::path input = write("in.txt", "x\n");
  EXPECT_EQ(run("--tokenizer '" + (dir_ / "nope").string() + "' --input '" + input.string() + "' --output '" +
                (dir_ / "out.jsonl").string() + "'"),
            4);
  EXPECT_NE(stderr_.find("nope"), std::string::npos) << stderr_;
}

#else
TEST(TokenizeCli, BinaryNotBuilt) { GTEST_SKIP() << "the memembed binary is not part of this build"; }
#endif

}  // namespace
}  // namespace memembed::text
