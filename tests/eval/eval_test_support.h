// Helpers shared by the eval tests: where ../shared is, temp directories, small file writers.
#pragma once

#include "fixture_support.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace memembed::eval_test {

using memembed::testing::read_file;
using memembed::testing::shared_dir;
using memembed::testing::write_file;

#define EVAL_REQUIRE_SHARED(path) MEMEMBED_REQUIRE_SHARED(path)

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


}  // namespace memembed::eval_test
