// Shared helpers for every test: locating ../shared (or $MEMEMBED_SHARED_DIR) and skipping
// cleanly without it, comparing float vectors, temp directories, files, environment variables,
// the process's resident set.
#pragma once

#include "memembed/json_io.h"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace memembed::testing {

inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("MEMEMBED_SHARED_DIR")) return env;
  return MEMEMBED_SHARED_DIR;
}

inline std::filesystem::path fixture_dir(const std::string& name) { return shared_dir() / "fixtures" / name; }

#define MEMEMBED_REQUIRE_SHARED(required)                                                       \
  do {                                                                                           \
    const std::filesystem::path required_path_(required);                                        \
    if (!std::filesystem::exists(required_path_)) {                                              \
      GTEST_SKIP() << "shared reference data not found at " << required_path_.string()            \
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

inline void write_file(const std::filesystem::path& path, const std::string& content) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

// A fresh empty directory under the system temp dir, removed with everything in it when the
// object goes away. Unique per object (mkdtemp), so tests may run in parallel.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "memembed-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  // Writes `content` to `name` inside the directory (creating folders) and returns its path.
  std::filesystem::path write(const std::string& name, const std::string& content) const {
    write_file(path_ / name, content);
    return path_ / name;
  }

 private:
  std::filesystem::path path_;
};

// Sets (or unsets, with nullopt) an environment variable for the lifetime of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value->c_str(), 1);
    else ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_.c_str(), old_->c_str(), 1);
    else ::unsetenv(name_.c_str());
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

inline std::vector<Json> read_jsonl(const std::filesystem::path& file) {
  std::vector<Json> lines;
  for_each_jsonl(file, [&](const Json& value, size_t) { lines.push_back(value); });
  return lines;
}

using memembed::read_file;

// A field of /proc/self/status in KiB (VmRSS, VmHWM), -1 when absent.
inline int64_t status_kib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
  }
  return -1;
}

// Resets the peak resident set (VmHWM) to the current one; returns it in KiB, or -1 where the
// kernel does not allow that (the caller skips its measurement).
inline int64_t reset_peak_rss_kib() {
  std::ofstream("/proc/self/clear_refs") << "5";
  const int64_t peak = status_kib("VmHWM");
  return peak >= 0 && peak <= status_kib("VmRSS") + 16 * 1024 ? peak : -1;
}

}  // namespace memembed::testing
