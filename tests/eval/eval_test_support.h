// Helpers shared by the eval tests: where ../shared is, temp directories, small file writers.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace memembed::eval_test {

inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("MEMEMBED_SHARED_DIR")) return env;
  return MEMEMBED_SHARED_DIR;
}

#define EVAL_REQUIRE_SHARED(path)                                                     \
  do {                                                                                \
    if (!std::filesystem::exists(path)) {                                             \
      GTEST_SKIP() << "shared reference data not found at " << (path)                 \
                   << " (set MEMEMBED_SHARED_DIR or check out ../shared beside the repo)"; \
    }                                                                                 \
  } while (0)

// A fresh directory under the temp dir, removed when the object goes away.
class TempDir {
 public:
  TempDir() {
    std::random_device device;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "memembed_eval_";
    if (info != nullptr) name += std::string(info->test_suite_name()) + "_" + info->name() + "_";
    name += std::to_string(device());
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& path, const std::string& content) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace memembed::eval_test
