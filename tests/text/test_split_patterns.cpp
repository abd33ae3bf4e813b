// The hand-written GPT-2 / Llama-3 / Qwen2 scanners against the regex engine running the same
// patterns, plus the engine's own semantics (look-ahead, case folding, nested classes).
#include "regex_engine.h"
#include "split_pattern.h"
#include "unicode.h"

#include "memembed/error.h"

#include <gtest/gtest.h>

#include <random>

namespace memembed::text {
namespace {

std::vector<std::string> split(const SplitPattern& pattern, std::string_view text) {
  Matches matches;
  pattern.find_all(text, matches);
  std::vector<std::string> out;
  for (const auto& [begin, end] : matches) out.emplace_back(text.substr(begin, end - begin));
  return out;
}

std::vector<std::string> regex_split(std::string_view regex, std::string_view text) {
  return split(*make_engine_pattern(regex), text);
}

using Pieces = std::vector<std::string>;

const char* const kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

TEST(Gpt2Pattern, SplitsLikeGpt2) {
  const auto scanner = make_regex_pattern(kGpt2Pattern);
  EXPECT_EQ(split(*scanner, "Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(split(*scanner, "  Hello"), (Pieces{" ", " Hello"}));
  EXPECT_EQ(split(*scanner, "I'm fine, they'RE"), (Pieces{"I", "'m", " fine", ",", " they", "'", "RE"}));
  EXPECT_EQ(split(*scanner, "a   b  "), (Pieces{"a", "  ", " b", "  "}));
  EXPECT_EQ(split(*scanner, "x\n\n y"), (Pieces{"x", "\n\n", " y"}));
  EXPECT_EQ(split(*scanner, "123abc 45"), (Pieces{"123", "abc", " 45"}));
  EXPECT_EQ(split(*scanner, "\t\n"), (Pieces{"\t\n"}));
  EXPECT_EQ(split(*scanner, "!!! ??"), (Pieces{"!!!", " ??"}));
}

TEST(Llama3Pattern, SplitsLikeLlama3) {
  const auto scanner = make_regex_pattern(kLlama3);
  EXPECT_EQ(split(*scanner, "12345 apples"), (Pieces{"123", "45", " apples"}));
  EXPECT_EQ(split(*scanner, "I'M (ok)\n\nyes"), (Pieces{"I", "'M", " (", "ok", ")\n\n", "yes"}));
  EXPECT_EQ(split(*scanner, "a \n\n b"), (Pieces{"a", " \n\n", " b"}));
  EXPECT_EQ(split(*scanner, "\tword"), (Pieces{"\tword"}));
  const auto qwen = make_regex_pattern(kQwen2);
  EXPECT_EQ(split(*qwen, "2024"), (Pieces{"2", "0", "2", "4"}));
}

// Random strings over characters that exercise every branch of the patterns.
std::string random_text(std::mt19937& rng) {
  static const char* const kAlphabet[] = {
      " ", " ", " ", "\t", "\n", "\r", "\xC2\xA0" /* NBSP */, "\xE3\x80\x80" /* ideographic space */,
      "a", "Z", "s", "t", "r", "e", "v", "l", "m", "d", "S", "L", "'", "'", "\xC5\xBF" /* long s */,
      "1", "9", "\xD9\xA3" /* Arabic-Indic 3 */, "\xC2\xBD" /* No */, "!", ".", "(", "_", "-",
      "\xC3\xA9", "\xE6\x97\xA5", "\xF0\x9F\xA6\x99" /* llama emoji */, "\xCC\x81" /* combining acute */,
      "\xE2\x80\x8D" /* ZWJ */, "\x01", "\xE1\x9E\x80" /* Khmer */};
  std::uniform_int_distribution<size_t> length(0, 24);
  std::uniform_int_distribution<size_t> pick(0, std::size(kAlphabet) - 1);
  std::string text;
  for (size_t n = length(rng); n > 0; --n) text += kAlphabet[pick(rng)];
  return text;
}

TEST(SplitPatterns, ScannersAgreeWithTheRegexEngine) {
  std::mt19937 rng(20250220);
  for (const char* pattern : {kGpt2Pattern, kLlama3, kQwen2}) {
    const auto scanner = make_regex_pattern(pattern);
    const auto engine = make_engine_pattern(pattern);
    for (int i = 0; i < 20000; ++i) {
      const std::string text = random_text(rng);
      ASSERT_EQ(split(*scanner, text), split(*engine, text)) << "pattern " << pattern << " text \"" << text << "\"";
    }
  }
}

TEST(Regex, LookAheadAndBacktracking) {
  EXPECT_EQ(regex_split(R"(\s+(?!\S))", "a   b"), (Pieces{"  "}));
  EXPECT_EQ(regex_split(R"(\s+(?=b))", "a   b"), (Pieces{"   "}));
  EXPECT_EQ(regex_split(R"(a+?b)", "aaab"), (Pieces{"aaab"}));
  EXPECT_EQ(regex_split(R"((ab)+c)", "ababcab"), (Pieces{"ababc"}));
  EXPECT_EQ(regex_split(R"(x{2,3})", "xxxxxxx"), (Pieces{"xxx", "xxx"}));
  EXPECT_EQ(regex_split(R"(^a|b$)", "aab"), (Pieces{"a", "b"}));
}

TEST(Regex, CaseInsensitiveGroupsAndClasses) {
  EXPECT_EQ(regex_split(R"((?i:'re)|x)", "'RE'Re x X"), (Pieces{"'RE", "'Re", "x"}));
  EXPECT_EQ(regex_split(R"((?i)[a-c]+)", "xAbCz"), (Pieces{"AbC"}));
  // A nested class inside a negated class (Bloom's pattern uses this form).
  EXPECT_EQ(regex_split(R"( ?[^(\s|[.,!?])]+)", "hi, you there!"), (Pieces{"hi", " you", " there"}));
  EXPECT_EQ(regex_split(R"(\p{Lu}\p{Ll}+)", "Hello World"), (Pieces{"Hello", "World"}));
  EXPECT_EQ(regex_split(R"(\d+)", "a1\xD9\xA3"), (Pieces{"1\xD9\xA3"}));
  EXPECT_EQ(regex_split(R"([\x{4E00}-\x{9FFF}]+)", "ab\xE6\x97\xA5\xE6\x9C\xAC"), (Pieces{"\xE6\x97\xA5\xE6\x9C\xAC"}));
}

TEST(Regex, RefusesWhatItCannotRun) {
  auto kind_of = [](const char* pattern) {
    try {
      Regex regex(pattern);
    } catch (const Error& e) {
      return e.kind();
    }
    return ErrorKind::Internal;
  };
  EXPECT_EQ(kind_of(R"((?<=a)b)"), ErrorKind::Unsupported);
  EXPECT_EQ(kind_of(R"(\p{Han}+)"), ErrorKind::Unsupported);
  EXPECT_EQ(kind_of(R"((a)\1)"), ErrorKind::Unsupported);
  EXPECT_EQ(kind_of(R"((ab)"), ErrorKind::InvalidInput);
  EXPECT_EQ(kind_of(R"([abc)"), ErrorKind::InvalidInput);
  EXPECT_EQ(kind_of(R"(*a)"), ErrorKind::InvalidInput);
}

TEST(Unicode, LossyDecodingReplacesMaximalSubparts) {
  std::string out;
  unicode::append_utf8_lossy(out, "a\xF0\x9F\xA6");  // a truncated 4-byte sequence: one U+FFFD
  EXPECT_EQ(out, "a\xEF\xBF\xBD");
  out.clear();
  unicode::append_utf8_lossy(out, "\xC0\x80x\xED\xA0\x80");  // overlong and surrogate: per byte
  EXPECT_EQ(out, "\xEF\xBF\xBD\xEF\xBF\xBDx\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(unicode::find_invalid_utf8("ok\xE2\x82"), 2u);
  EXPECT_EQ(unicode::find_invalid_utf8("ok \xE2\x82\xAC"), std::string_view::npos);
}

// Patterns come from untrusted tokenizer.json files: catastrophic backtracking and unbounded
// recursion end in an error naming the pattern, never a hang or a stack overflow.
TEST(RegexEngine, CatastrophicBacktrackingIsBoundedAndNamesThePattern) {
  const std::string pattern = "(a|a)*b";
  const Regex regex(pattern);
  std::vector<std::pair<size_t, size_t>> matches;
  try {
    regex.find_all(std::string(64, 'a'), matches);
    FAIL() << "an exponential match ran to completion";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput) << e.what();
    EXPECT_NE(std::string(e.what()).find(pattern), std::string::npos) << e.what();
  }
}

TEST(RegexEngine, DeepRepetitionOfAGroupIsBoundedNotAStackOverflow) {
  const Regex regex("(?:ab)+");
  std::vector<std::pair<size_t, size_t>> matches;
  std::string text;
  for (int i = 0; i < 1000000; ++i) text += "ab";
  EXPECT_THROW(regex.find_all(text, matches), Error);
  // Ordinary repetitions stay well within the bounds.
  matches.clear();
  regex.find_all("ab abab ababab", matches);
  EXPECT_EQ(matches.size(), 3u);
}

}  // namespace
}  // namespace memembed::text
