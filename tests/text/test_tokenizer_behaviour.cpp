// Behaviour beyond the reference vectors: bad files and inputs, truncation edges, added-token
// flags, over-long words, T5 sentinels, concurrent use.
#include "fixture_support.h"

#include "memembed/error.h"
#include "memembed/text.h"

#include <fstream>
#include <random>
#include <thread>

namespace memembed::text {
namespace {

namespace fs = std::filesystem;
using memembed::testing::shared_dir;
using memembed::testing::TempDir;

template <typename F>
Error expect_error(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected a memembed::Error";
  return Error(ErrorKind::Internal, "no error");
}

// A tiny WordPiece tokenizer.json, so limits and flags can be set freely.
Json small_wordpiece(size_t max_chars) {
  Json vocab = Json::object();
  const char* tokens[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "##a", "b", "##b", "hello", ",", "[MASK]"};
  for (size_t i = 0; i < std::size(tokens); ++i) vocab[tokens[i]] = i;
  Json document = {
      {"version", "1.0"},
      {"added_tokens",
       Json::array({{{"id", 0}, {"content", "[PAD]"}, {"special", true}},
                    {{"id", 1}, {"content", "[UNK]"}, {"special", true}},
                    {{"id", 2}, {"content", "[CLS]"}, {"special", true}},
                    {{"id", 3}, {"content", "[SEP]"}, {"special", true}}})},
      {"normalizer", {{"type", "BertNormalizer"}, {"lowercase", true}}},
      {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
      {"post_processor", {{"type", "BertProcessing"}, {"sep", {"[SEP]", 3}}, {"cls", {"[CLS]", 2}}}},
      {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}},
      {"model",
       {{"type", "WordPiece"},
        {"unk_token", "[UNK]"},
        {"continuing_subword_prefix", "##"},
        {"max_input_chars_per_word", max_chars},
        {"vocab", vocab}}},
  };
  return document;
}

std::shared_ptr<const Tokenizer> load_json(const TempDir& dir, const Json& document) {
  dir.write("tokenizer.json", document.dump());
  return load_tokenizer(dir.path());
}

TEST(TokenizerFiles, MissingPathsAreNotFound) {
  const Error e = expect_error([] { load_tokenizer("/nonexistent/memembed/model"); });
  EXPECT_EQ(e.kind(), ErrorKind::NotFound);
  EXPECT_NE(std::string(e.what()).find("/nonexistent/memembed/model"), std::string::npos);

  TempDir empty;
  const Error none = expect_error([&] { load_tokenizer(empty.path()); });
  EXPECT_EQ(none.kind(), ErrorKind::NotFound);
  EXPECT_NE(std::string(none.what()).find("tokenizer.json"), std::string::npos);
  EXPECT_NE(std::string(none.what()).find("tokenizer.model"), std::string::npos);
}

TEST(TokenizerFiles, MalformedJsonNamesFileAndByte) {
  TempDir dir;
  const fs::path file = dir.write("tokenizer.json", "{\"model\": {\"type\": \"WordPiece\",, }");
  const Error e = expect_error([&] { load_tokenizer(dir.path()); });
  EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
  EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("byte 32"), std::string::npos) << e.what();
}

TEST(TokenizerFiles, UnknownModelTypeListsTheKnownOnes) {
  TempDir dir;
  Json document = small_wordpiece(100);
  document["model"]["type"] = "SuperPiece";
  const Error e = expect_error([&] { load_json(dir, document); });
  EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
  const std::string message = e.what();
  EXPECT_NE(message.find("SuperPiece"), std::string::npos) << message;
  EXPECT_NE(message.find("WordPiece, BPE"), std::string::npos) << message;
  EXPECT_NE(message.find("model.type"), std::string::npos) << message;
}

// Found by fuzz_tokenizer_json: a TemplateProcessing special token without "ids" read freed
// memory, one with non-integer ids escaped as a JSON type error, and a single vocabulary id of
// 2^31-1 allocated a 64 GiB table.
TEST(TokenizerFiles, CraftedIdsAreInvalidInputNotACrashOrAHugeTable) {
  TempDir dir;
  Json document = small_wordpiece(100);
  document["post_processor"] = {{"type", "TemplateProcessing"},
                                {"single", Json::array({{{"SpecialToken", {{"id", "[CLS]"}}}},
                                                        {{"Sequence", {{"id", "A"}}}}})},
                                {"pair", Json::array({{{"Sequence", {{"id", "A"}}}}, {{"Sequence", {{"id", "B"}}}}})},
                                {"special_tokens", {{"[CLS]", {{"id", "[CLS]"}}}}}};
  Error e = expect_error([&] { load_json(dir, document); });
  EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
  EXPECT_NE(std::string(e.what()).find("special_tokens[\"[CLS]\"].ids"), std::string::npos) << e.what();
  document["post_processor"]["special_tokens"]["[CLS]"]["ids"] = Json::array({"two"});
  e = expect_error([&] { load_json(dir, document); });
  EXPECT_NE(std::string(e.what()).find("token ids"), std::string::npos) << e.what();

  Json sparse = small_wordpiece(100);
  sparse["model"]["vocab"]["far"] = 2147483647;
  e = expect_error([&] { load_json(dir, sparse); });
  EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
  EXPECT_NE(std::string(e.what()).find("2147483647"), std::string::npos) << e.what();
  sparse["model"]["vocab"]["far"] = 4294967296 + 5;  // would wrap to id 5
  e = expect_error([&] { load_json(dir, sparse); });
  EXPECT_NE(std::string(e.what()).find("vocab[\"far\"]"), std::string::npos) << e.what();
}

TEST(TokenizerFiles, MissingVocabAndBrokenFieldsAreNamed) {
  TempDir dir;
  Json no_vocab = small_wordpiece(100);
  no_vocab["model"].erase("vocab");
  Error e = expect_error([&] { load_json(dir, no_vocab); });
  EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
  EXPECT_NE(std::string(e.what()).find("\"vocab\""), std::string::npos) << e.what();

  Json no_unk = small_wordpiece(100);
  no_unk["model"]["unk_token"] = "[NOPE]";
  e = expect_error([&] { load_json(dir, no_unk); });
  EXPECT_NE(std::string(e.what()).find("[NOPE]"), std::string::npos) << e.what();

  Json bad_flag = small_wordpiece(100);
  bad_flag["normalizer"]["lowercase"] = "yes";
  e = expect_error([&] { load_json(dir, bad_flag); });
  EXPECT_NE(std::string(e.what()).find("normalizer.lowercase must be a boolean"), std::string::npos) << e.what();

  Json bad_normalizer = small_wordpiece(100);
  bad_normalizer["normalizer"] = {{"type", "Sequence"}, {"normalizers", Json::array({{{"type", "Klingon"}}})}};
  e = expect_error([&] { load_json(dir, bad_normalizer); });
  EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
  EXPECT_NE(std::string(e.what()).find("normalizer.normalizers[0]"), std::string::npos) << e.what();

  Json bad_template = small_wordpiece(100);
  bad_template["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", Json::array({{{"SpecialToken", {{"id", "<nope>"}, {"type_id", 0}}}}})},
      {"pair", Json::array()}};
  e = expect_error([&] { load_json(dir, bad_template); });
  EXPECT_NE(std::string(e.what()).find("<nope>"), std::string::npos) << e.what();
}

TEST(TokenizerFiles, BpeMergeOutsideTheVocabulary) {
  TempDir dir;
  Json document = {{"model",
                    {{"type", "BPE"},
                     {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}}},
                     {"merges", Json::array({"a b", "ab c"})}}}};
  const Error e = expect_error([&] { load_json(dir, document); });
  EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
  EXPECT_NE(std::string(e.what()).find("merge #1"), std::string::npos) << e.what();

  // Merges as [left, right] pairs, and no pre-tokenizer at all.
  document["model"]["merges"] = Json::array({Json::array({"a", "b"})});
  const auto tokenizer = load_json(dir, document);
  EXPECT_EQ(tokenizer->encode("abba", {false, 0}).ids, (std::vector<TokenId>{2, 1, 0}));
}

TEST(TokenizerFiles, CorruptSentencePieceModel) {
  TempDir dir;
  dir.write("tokenizer.model", "this is not a protobuf");
  const Error e = expect_error([&] { load_tokenizer(dir.path()); });
  EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
  EXPECT_NE(std::string(e.what()).find("tokenizer.model"), std::string::npos) << e.what();
}

TEST(TokenizerFiles, MalformedTokenizerConfigIsNamed) {
  TempDir dir;
  load_json(dir, small_wordpiece(100));
  dir.write("tokenizer_config.json", "{\"padding_side\": \"middle\"}");
  Error e = expect_error([&] { load_tokenizer(dir.path()); });
  EXPECT_NE(std::string(e.what()).find("padding_side"), std::string::npos) << e.what();
  dir.write("tokenizer_config.json", "{\"padding_side\": ");
  e = expect_error([&] { load_tokenizer(dir.path()); });
  EXPECT_NE(std::string(e.what()).find("tokenizer_config.json"), std::string::npos) << e.what();
}

TEST(TokenizerInput, InvalidUtf8IsRefusedByEveryKind) {
  MEMEMBED_REQUIRE_SHARED(shared_dir() / "tokenizers");
  for (const char* name : {"bert-base-uncased", "gpt2", "llama2"}) {
    const auto tokenizer = load_tokenizer(shared_dir() / "tokenizers" / name);
    const Error e = expect_error([&] { tokenizer->encode("ok \xE2\x82 broken"); });
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput) << name;
    EXPECT_NE(std::string(e.what()).find("byte 3"), std::string::npos) << e.what();
  }
}

TEST(TokenizerInput, EmptyTextGivesOnlySpecialTokens) {
  MEMEMBED_REQUIRE_SHARED(shared_dir() / "tokenizers");
  MEMEMBED_REQUIRE_SHARED(shared_dir() / "fixtures");
  EXPECT_EQ(load_tokenizer(shared_dir() / "tokenizers" / "bert-base-uncased")->encode("").ids,
            (std::vector<TokenId>{101, 102}));
  EXPECT_EQ(load_tokenizer(shared_dir() / "tokenizers" / "gpt2")->encode("").ids, std::vector<TokenId>{});
  EXPECT_EQ(load_tokenizer(shared_dir() / "tokenizers" / "t5")->encode("").ids, std::vector<TokenId>{1});
  EXPECT_EQ(load_tokenizer(shared_dir() / "fixtures" / "qwen3-embed-tiny")->encode("").ids,
            std::vector<TokenId>{50256});
}

TEST(TokenizerInput, OverlongWordsBecomeUnknown) {
  TempDir dir;
  const auto tokenizer = load_json(dir, small_wordpiece(5));
  // "aaaaa" is 5 characters: split into pieces; 6 characters exceed the limit.
  EXPECT_EQ(tokenizer->encode("aaaaa", {false, 0}).ids, (std::vector<TokenId>{4, 5, 5, 5, 5}));
  EXPECT_EQ(tokenizer->encode("aaaaaa", {false, 0}).ids, (std::vector<TokenId>{1}));
  EXPECT_EQ(tokenizer->encode("ab aaaaaaaaaa, hello", {false, 0}).ids, (std::vector<TokenId>{4, 7, 1, 9, 8}));
  // An unmatchable remainder makes the whole word unknown, not just its tail.
  EXPECT_EQ(tokenizer->encode("abc", {false, 0}).ids, (std::vector<TokenId>{1}));

  MEMEMBED_REQUIRE_SHARED(shared_dir() / "tokenizers");
  const auto bert = load_tokenizer(shared_dir() / "tokenizers" / "bert-base-uncased");
  EXPECT_EQ(bert->encode(std::string(101, 'a'), {false, 0}).ids, (std::vector<TokenId>{100}));
  EXPECT_NE(bert->encode(std::string(100, 'a'), {false, 0}).ids, (std::vector<TokenId>{100}));
}

TEST(Truncation, KeepsSpecialTokensAndCutsContentFromTheEnd) {
  TempDir dir;
  const auto tokenizer = load_json(dir, small_wordpiece(100));
  const std::string text = "hello a b a b";  // 5 content tokens
  Encoding full = tokenizer->encode(text, {true, 0});
  ASSERT_EQ(full.ids, (std::vector<TokenId>{2, 8, 4, 6, 4, 6, 3}));
  EXPECT_FALSE(full.truncated);
  EXPECT_EQ(full.num_tokens_untruncated, 7u);

  Encoding exact = tokenizer->encode(text, {true, 7});
  EXPECT_EQ(exact.ids, full.ids);
  EXPECT_FALSE(exact.truncated);

  Encoding cut = tokenizer->encode(text, {true, 6});
  EXPECT_EQ(cut.ids, (std::vector<TokenId>{2, 8, 4, 6, 4, 3}));
  EXPECT_TRUE(cut.truncated);
  EXPECT_EQ(cut.num_tokens_untruncated, 7u);

  Encoding only_specials = tokenizer->encode(text, {true, 2});
  EXPECT_EQ(only_specials.ids, (std::vector<TokenId>{2, 3}));
  EXPECT_TRUE(only_specials.truncated);

  Encoding plain = tokenizer->encode(text, {false, 3});
  EXPECT_EQ(plain.ids, (std::vector<TokenId>{8, 4, 6}));
  EXPECT_TRUE(plain.truncated);
  EXPECT_EQ(plain.num_tokens_untruncated, 5u);

  const Error e = expect_error([&] { tokenizer->encode(text, {true, 1}); });
  EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
  // Short texts are not affected by a limit they cannot reach.
  EXPECT_EQ(tokenizer->encode("a", {true, 1000}).ids, (std::vector<TokenId>{2, 4, 3}));
}

TEST(Truncation, PairsTruncateTheLongerSequenceFirst) {
  TempDir dir;
  const auto tokenizer = load_json(dir, small_wordpiece(100));
  // 2 + 6 content tokens, 3 specials, limit 9: the second keeps max(2, 6 - 2) = 4.
  Encoding pair = tokenizer->encode_pair("a b", "a b a b a b", {true, 9});
  EXPECT_EQ(pair.ids, (std::vector<TokenId>{2, 4, 6, 3, 4, 6, 4, 6, 3}));
  EXPECT_TRUE(pair.truncated);
  EXPECT_EQ(pair.num_tokens_untruncated, 11u);
  // Both long: each gets half of the 4 content slots.
  Encoding both = tokenizer->encode_pair("b a b a b", "a b a b a b", {true, 7});
  EXPECT_EQ(both.ids, (std::vector<TokenId>{2, 6, 4, 3, 4, 6, 3}));
}

TEST(Decoding, WordPieceJoinsPiecesAndSkipsSpecials) {
  TempDir dir;
  const auto tokenizer = load_json(dir, small_wordpiece(100));
  const std::vector<TokenId> ids = tokenizer->encode("hello , aab").ids;
  EXPECT_EQ(tokenizer->decode(ids, false), "[CLS] hello, aab [SEP]");
  EXPECT_EQ(tokenizer->decode(ids, true), "hello, aab");
  EXPECT_EQ(tokenizer->token_to_id("##b"), 7);
  EXPECT_EQ(tokenizer->id_to_token(8), "hello");
  EXPECT_FALSE(tokenizer->id_to_token(999).has_value());
  EXPECT_EQ(tokenizer->vocab_size(), 11u);
}

class Gpt2AddedTokens : public ::testing::Test {
 protected:
  void SetUp() override {
    MEMEMBED_REQUIRE_SHARED(shared_dir() / "tokenizers");
    base_ = read_json_file(shared_dir() / "tokenizers" / "gpt2" / "tokenizer.json");
    plain_ = load_tokenizer(shared_dir() / "tokenizers" / "gpt2");
  }
  std::shared_ptr<const Tokenizer> with_mask(bool single_word, bool lstrip, bool rstrip) {
    Json document = base_;
    document["added_tokens"].push_back({{"id", 50257}, {"content", "<mask>"}, {"single_word", single_word},
                                        {"lstrip", lstrip}, {"rstrip", rstrip}, {"normalized", false},
                                        {"special", true}});
    return load_json(dir_, document);
  }
  std::vector<TokenId> ids(const std::shared_ptr<const Tokenizer>& t, const std::string& text) {
    return t->encode(text, {false, 0}).ids;
  }
  std::vector<TokenId> plain(const std::string& text) { return ids(plain_, text); }
  static std::vector<TokenId> join(std::vector<TokenId> a, const std::vector<TokenId>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }

  TempDir dir_;
  Json base_;
  std::shared_ptr<const Tokenizer> plain_;
};

TEST_F(Gpt2AddedTokens, MatchedInTextWhateverAddSpecialTokensSays) {
  EXPECT_EQ(plain("a<|endoftext|>b"), join(join(plain("a"), {50256}), plain("b")));
  EXPECT_EQ(plain_->decode(plain("a<|endoftext|>b"), true), "ab");
}

TEST_F(Gpt2AddedTokens, StripFlagsEatNeighbouringWhitespace) {
  const auto none = with_mask(false, false, false);
  const auto left = with_mask(false, true, false);
  const auto right = with_mask(false, false, true);
  EXPECT_EQ(ids(none, "I saw a <mask> here"), join(join(plain("I saw a "), {50257}), plain(" here")));
  EXPECT_EQ(ids(left, "I saw a <mask> here"), join(join(plain("I saw a"), {50257}), plain(" here")));
  EXPECT_EQ(ids(right, "I saw a <mask>   here"), join(join(plain("I saw a "), {50257}), plain("here")));
}

TEST_F(Gpt2AddedTokens, SingleWordTokensNeedWordBoundaries) {
  const auto single = with_mask(true, false, false);
  EXPECT_EQ(ids(single, "x <mask> y"), join(join(plain("x "), {50257}), plain(" y")));
  EXPECT_EQ(ids(single, "x<mask> y"), plain("x<mask> y"));
  EXPECT_EQ(ids(single, "x <mask>y"), plain("x <mask>y"));
}

TEST(SentencePiece, T5SentinelsAndSpecialTokensInText) {
  MEMEMBED_REQUIRE_SHARED(shared_dir() / "tokenizers");
  const auto t5 = load_tokenizer(shared_dir() / "tokenizers" / "t5");
  EXPECT_EQ(t5->token_to_id("<extra_id_0>"), 32099);
  EXPECT_EQ(t5->token_to_id("<extra_id_99>"), 32000);
  EXPECT_EQ(t5->vocab_size(), 32100u);
  const auto hello = t5->encode("Hello", {false, 0}).ids;
  const auto with_sentinel = t5->encode("Hello <extra_id_0>", {false, 0}).ids;
  ASSERT_EQ(with_sentinel.size(), hello.size() + 1);
  EXPECT_EQ(with_sentinel.back(), 32099);
  EXPECT_EQ(t5->decode({32099, 1}, false), "<extra_id_0></s>");
  EXPECT_EQ(t5->pad_token_id(), 0);

  const auto llama = load_tokenizer(shared_dir() / "tokenizers" / "llama2");
  EXPECT_EQ(llama->encode("Hello", {true, 0}).ids.front(), 1);
  EXPECT_EQ(llama->encode("Hello", {true, 1}).ids, std::vector<TokenId>{1});
  EXPECT_EQ(llama->decode(llama->encode("Hello world").ids, true), "Hello world");
  EXPECT_FALSE(llama->token_to_id("definitely not a piece").has_value());
}

TEST(SentencePiece, ModelFileNamedDirectlyUsesItsSideFiles) {
  MEMEMBED_REQUIRE_SHARED(shared_dir() / "tokenizers");
  const auto by_file = load_tokenizer(shared_dir() / "tokenizers" / "t5" / "spiece.model");
  const auto by_dir = load_tokenizer(shared_dir() / "tokenizers" / "t5");
  EXPECT_EQ(by_file->encode("A test.").ids, by_dir->encode("A test.").ids);
}

TEST(Concurrency, SharedTokenizerGivesTheSameIdsOnEveryThread) {
  MEMEMBED_REQUIRE_SHARED(shared_dir() / "fixtures");
  const auto tokenizer = load_tokenizer(shared_dir() / "fixtures" / "qwen3-embed-tiny");
  std::vector<std::string> texts;
  std::mt19937 rng(7);
  const char* words[] = {"memory", " agent", " recall", "ing", " 2024", "!", " 東京", " naïve", "\n", "  "};
  for (int i = 0; i < 200; ++i) {
    std::string text;
    for (int w = 0; w < 30; ++w) text += words[rng() % std::size(words)];
    texts.push_back(text);
  }
  std::vector<std::vector<TokenId>> expected;
  for (const auto& text : texts) expected.push_back(tokenizer->encode(text).ids);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (size_t i = 0; i < texts.size(); ++i) {
          if (tokenizer->encode(texts[(i + t * 37) % texts.size()]).ids != expected[(i + t * 37) % texts.size()]) {
            ++mismatches[t];
          }
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches, (std::vector<int>{0, 0, 0, 0}));
}


// all_special_ids as Hugging Face lists them: what sentence-transformers checks to decide whether
// a prompt's last token is part of the prompt.
TEST(SpecialTokens, IsSpecialMatchesAllSpecialIds) {
  MEMEMBED_REQUIRE_SHARED(shared_dir() / "tokenizers");
  MEMEMBED_REQUIRE_SHARED(shared_dir() / "fixtures");
  const auto bert = load_tokenizer(shared_dir() / "tokenizers" / "bert-base-uncased");
  for (const char* token : {"[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]"}) {
    EXPECT_TRUE(bert->is_special(bert->token_to_id(token).value())) << token;
  }
  EXPECT_FALSE(bert->is_special(bert->token_to_id("hello").value()));
  const auto llama = load_tokenizer(shared_dir() / "tokenizers" / "llama2");
  EXPECT_TRUE(llama->is_special(1));   // <s>
  EXPECT_TRUE(llama->is_special(2));   // </s>
  EXPECT_FALSE(llama->is_special(llama->encode("Hello", {false, 0}).ids.back()));
  const auto qwen = load_tokenizer(shared_dir() / "fixtures" / "qwen3-embed-tiny");
  EXPECT_TRUE(qwen->is_special(50256));  // <|endoftext|>, appended to every input
  EXPECT_FALSE(qwen->is_special(qwen->encode("Query:", {false, 0}).ids.back()));
}

}  // namespace
}  // namespace memembed::text
