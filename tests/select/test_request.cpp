#include "memembed/error.h"
#include "memembed/select.h"
#include "select_test_support.h"

#include <gtest/gtest.h>

using namespace memembed;
using namespace memembed::select;
using select_test::error_of;

TEST(Sizes, UnitsAndBareNumbers) {
  EXPECT_DOUBLE_EQ(parse_size("2", "--ram"), 2e9);
  EXPECT_DOUBLE_EQ(parse_size(" 1.5GB ", "--ram"), 1.5e9);
  EXPECT_DOUBLE_EQ(parse_size("512MB", "--ram"), 512e6);
  EXPECT_DOUBLE_EQ(parse_size("512m", "--ram"), 512e6);
  EXPECT_DOUBLE_EQ(parse_size("4GiB", "--vram"), 4.0 * 1024 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(parse_size("80 gb", "--vram"), 80e9);
}

TEST(Sizes, BadSizesNameTheFlag) {
  EXPECT_NE(error_of([] { parse_size("-1", "--ram"); }).find("--ram: must not be negative, got -1"), std::string::npos);
  EXPECT_NE(error_of([] { parse_size("lots", "--ram"); }).find("--ram: \"lots\" is not a size"), std::string::npos);
  EXPECT_NE(error_of([] { parse_size("2XB", "--vram"); }).find("--vram: unknown unit \"xb\""), std::string::npos);
  EXPECT_NE(error_of([] { parse_size("0", "--ram"); }).find("greater than zero"), std::string::npos);
}

TEST(ParamCounts, Suffixes) {
  EXPECT_DOUBLE_EQ(parse_param_count("300M", "--max-params"), 300e6);
  EXPECT_DOUBLE_EQ(parse_param_count("1.5B", "--max-params"), 1.5e9);
  EXPECT_DOUBLE_EQ(parse_param_count("7e9", "--max-params"), 7e9);
  EXPECT_NE(error_of([] { parse_param_count("4GB", "--max-params"); }).find("unknown suffix"), std::string::npos);
}

TEST(MemoryTypes, AcceptLmebCategoryAndShortNames) {
  EXPECT_EQ(parse_memory_type("episodic"), MemoryType::Episodic);
  EXPECT_EQ(parse_memory_type("Dialogue"), MemoryType::Dialogue);
  EXPECT_EQ(parse_memory_type("SOCIAL"), MemoryType::Dialogue);
  EXPECT_EQ(parse_memory_type("social"), MemoryType::Dialogue);
  EXPECT_EQ(parse_memory_type("sem"), MemoryType::Semantic);
  EXPECT_EQ(parse_memory_type(" procedural "), MemoryType::Procedural);
  const std::string message = error_of([] { parse_memory_type("working"); });
  EXPECT_NE(message.find("unknown memory type \"working\""), std::string::npos) << message;
  EXPECT_NE(message.find("dialogue (or social)"), std::string::npos) << message;
}

TEST(Priorities, LevelsAndDefaults) {
  const Priorities defaults;
  for (const MemoryType type : kMemoryTypes) EXPECT_EQ(defaults.weight(type), 1.0);
  const Priorities parsed = parse_priorities("episodic=high,procedural=high,semantic=medium,social=medium");
  EXPECT_EQ(parsed.weight(MemoryType::Episodic), 2.0);
  EXPECT_EQ(parsed.weight(MemoryType::Procedural), 2.0);
  EXPECT_EQ(parsed.weight(MemoryType::Semantic), 1.0);
  EXPECT_EQ(parsed.weight(MemoryType::Dialogue), 1.0);
  const Priorities partial = parse_priorities("dialogue=3, semantic=none");
  EXPECT_EQ(partial.weight(MemoryType::Dialogue), 3.0);
  EXPECT_EQ(partial.weight(MemoryType::Semantic), 0.0);
  EXPECT_EQ(partial.weight(MemoryType::Episodic), 1.0);
  EXPECT_EQ(parse_priorities("social=low").weight(MemoryType::Dialogue), 0.5);
}

TEST(Priorities, BadSpecsSayWhatIsWrong) {
  EXPECT_NE(error_of([] { parse_priorities("socal=high"); }).find("unknown memory type \"socal\""), std::string::npos);
  EXPECT_NE(error_of([] { parse_priorities("dialogue=extreme"); }).find("unknown level \"extreme\""),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_priorities("dialogue"); }).find("expected <memory type>=<level>"), std::string::npos);
  EXPECT_NE(error_of([] { parse_priorities("social=high,dialogue=low"); }).find("Dialogue is given twice"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_priorities("dialogue=-1"); }).find("must not be negative"), std::string::npos);
  EXPECT_NE(error_of([] { parse_priorities("episodic=none,dialogue=none,semantic=none,procedural=none"); })
                .find("at least one memory type"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_priorities(""); }).find("--priority: empty"), std::string::npos);
}

TEST(Requests, ContradictionsAreRejected) {
  Request request;
  request.cpu_only = true;
  request.vram_bytes = 8e9;
  EXPECT_NE(error_of([&] { validate(request); }).find("--cpu-only and --vram"), std::string::npos);
  request = Request{};
  request.top = 0;
  EXPECT_NE(error_of([&] { validate(request); }).find("--top"), std::string::npos);
  request = Request{};
  request.ram_bytes = -2e9;
  EXPECT_NE(error_of([&] { validate(request); }).find("--ram"), std::string::npos);
  request = Request{};
  request.latency_ms = 0;
  EXPECT_NE(error_of([&] { validate(request); }).find("--latency-ms"), std::string::npos);
}
