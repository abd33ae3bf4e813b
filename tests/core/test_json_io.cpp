#include "memembed/error.h"
#include "memembed/json_io.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace memembed;

namespace {
fs::path write_temp(const std::string& name, const std::string& content) {
  fs::path path = fs::temp_directory_path() / ("memembed_core_" + name);
  std::ofstream(path, std::ios::binary) << content;
  return path;
}
}  // namespace

TEST(StripUnicodeWhitespace, MatchesPythonStrip) {
  EXPECT_EQ(strip_unicode_whitespace("  a b \t\n"), "a b");
  EXPECT_EQ(strip_unicode_whitespace("\xC2\xA0x\xE3\x80\x80"), "x");          // NBSP, ideographic
  EXPECT_EQ(strip_unicode_whitespace("\xE2\x80\x8Bx\xE2\x80\x8B"), "\xE2\x80\x8Bx\xE2\x80\x8B");  // ZWSP kept
  EXPECT_EQ(strip_unicode_whitespace("\x1Cx\x1F"), "x");
  EXPECT_EQ(strip_unicode_whitespace("   "), "");
  EXPECT_EQ(strip_unicode_whitespace(""), "");
}

TEST(Utf8, RejectsMalformedSequences) {
  EXPECT_TRUE(is_valid_utf8("plain \xC3\xA9 \xF0\x9F\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xC3"));              // truncated
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xFF"));
}

TEST(Jsonl, ReportsFileAndLineOfMalformedLine) {
  const fs::path path = write_temp("bad.jsonl", "{\"text\": \"a\"}\n\n{\"text\": oops}\n");
  size_t seen = 0;
  try {
    for_each_jsonl(path, [&](const Json&, size_t) { ++seen; });
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:3"), std::string::npos) << e.what();
  }
  EXPECT_EQ(seen, 1u);
}

// nlohmann reports such a number as out_of_range, not parse_error (found by fuzz_lmeb_files and
// fuzz_embedder_config: it escaped as an uncaught exception).
TEST(Json, NumberBeyondDoubleRangeIsInvalidInputNamingTheFile) {
  const fs::path file = write_temp("huge.json", "{\"max_seq_length\": 999E999}");
  try {
    read_json_file(file);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("huge.json"), std::string::npos) << e.what();
  }
  const fs::path lines = write_temp("huge.jsonl", "{\"a\": 1}\n{\"a\": -1e400}\n");
  try {
    for_each_jsonl(lines, [](const Json&, size_t) {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("huge.jsonl:2"), std::string::npos) << e.what();
  }
}

TEST(Json, MissingFileIsNotFound) {
  try {
    read_json_file("/nonexistent/memembed.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
  }
}

TEST(Json, RequireStringNamesFieldAndPlace) {
  const Json object = Json::parse(R"({"id": 3})");
  try {
    require_string(object, "id", "queries.jsonl:7");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("queries.jsonl:7: field \"id\" must be a string"),
              std::string::npos)
        << e.what();
  }
}

TEST(Json, WriteIsAtomicAndRoundTrips) {
  const fs::path path = fs::temp_directory_path() / "memembed_core_out" / "x.json";
  write_json_file(path, Json{{"a", 1}});
  EXPECT_EQ(read_json_file(path)["a"], 1);
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));
}

TEST(ReadTexts, JsonlTakesTheTextFieldAndNamesBadLines) {
  const fs::path good = write_temp("texts.jsonl", "{\"text\": \"a\"}\n\n{\"text\": \"\", \"id\": 2}\n");
  EXPECT_EQ(read_texts(good), (std::vector<std::string>{"a", ""}));
  const fs::path missing = write_temp("missing.jsonl", "{\"text\": \"a\"}\n{\"body\": \"b\"}\n");
  try {
    read_texts(missing);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.jsonl:2: missing field \"text\""), std::string::npos) << e.what();
  }
}

TEST(ReadTexts, PlainTextIsOneTextPerLineAndRejectsInvalidUtf8) {
  EXPECT_EQ(read_texts(write_temp("texts.txt", "first\r\n\nthird\n")),
            (std::vector<std::string>{"first", "", "third"}));
  try {
    read_texts(write_temp("bad.txt", "ok\nbad \xC3\x28\n"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.txt:2: not valid UTF-8"), std::string::npos) << e.what();
  }
}
