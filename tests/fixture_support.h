// Shared helpers for tests that read ../shared: locating it, skipping cleanly without it, and
// comparing float vectors.
#pragma once

#include "memembed/json_io.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace memembed::testing {

inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("MEMEMBED_SHARED_DIR")) return env;
  return MEMEMBED_SHARED_DIR;
}

inline std::filesystem::path fixture_dir(const std::string& name) { return shared_dir() / "fixtures" / name; }

#define MEMEMBED_REQUIRE_SHARED(path)                                                            \
  do {                                                                                           \
    if (!std::filesystem::exists(path)) {                                                        \
      GTEST_SKIP() << "shared reference data not found at " << (path)                            \
                   << " (set MEMEMBED_SHARED_DIR or check out ../shared beside the repository)"; \
    }                                                                                            \
  } while (0)

inline double max_abs_diff(const float* actual, const std::vector<double>& expected) {
  double worst = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(actual[i]) - static_cast<double>(static_cast<float>(expected[i]))));
  }
  return worst;
}

// A fresh empty directory under the system temp dir, unique per test.
inline std::filesystem::path temp_dir(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("memembed_" + std::string(info->test_suite_name()) + "_" + info->name() + "_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline void write_file(const std::filesystem::path& path, const std::string& content) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

using memembed::read_file;

}  // namespace memembed::testing
