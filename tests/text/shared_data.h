// Locating the read-only reference data (../shared) the text tests run against.
#pragma once

#include "memembed/json_io.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

namespace memembed::text::testing {

inline std::filesystem::path shared_dir() { return std::filesystem::path(MEMEMBED_SHARED_DIR); }

inline bool shared_data_present() { return std::filesystem::exists(shared_dir() / "tokenizers"); }

#define MEMEMBED_REQUIRE_SHARED_DATA()                                                    \
  do {                                                                                    \
    if (!::memembed::text::testing::shared_data_present()) {                              \
      GTEST_SKIP() << "reference data not found at " << MEMEMBED_SHARED_DIR               \
                   << " (set -DMEMEMBED_SHARED_DIR=... to the shared/ folder to run this)"; \
    }                                                                                     \
  } while (0)

inline std::vector<Json> read_jsonl(const std::filesystem::path& file) {
  std::vector<Json> lines;
  for_each_jsonl(file, [&](const Json& value, size_t) { lines.push_back(value); });
  return lines;
}

}  // namespace memembed::text::testing
