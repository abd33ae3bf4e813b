// Temp directories and files in the formats other memembed commands write, for select's tests.
#pragma once

#include "memembed/error.h"
#include "memembed/json_io.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

namespace select_test {

namespace fs = std::filesystem;

// A fresh directory per test, removed when the test ends.
class TempDir {
 public:
  TempDir() {
    static int created = 0;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / ("memembed_select_" + std::to_string(::getpid()) + "_" +
                                         info->test_suite_name() + "_" + info->name() + "_" +
                                         std::to_string(++created));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

inline void write_file(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

// One subset result as `memembed eval --out DIR` writes it.
inline void write_subset_result(const fs::path& out_dir, const std::string& model, const std::string& setting,
                                const std::string& memory_type, const std::string& dataset,
                                const std::string& subset, double ndcg10, double recall10 = 0.5) {
  const memembed::Json result = {
      {"task_name", dataset},
      {"memory_type", memory_type},
      {"subset", subset},
      {"instructions", setting},
      {"model_name", model},
      {"model_revision", "local"},
      {"evaluation_time", 1.5},
      {"scores",
       {{"test",
         {{{"hf_subset", "default"},
           {"main_score", ndcg10},
           {"ndcg_at_10", ndcg10},
           {"r_cap_at_10", recall10},
           {"languages", {"eng-Latn"}}}}}}},
  };
  write_file(out_dir / "results" / setting / memory_type / dataset / (subset + ".json"), result.dump(2));
}

inline void write_bench(const fs::path& file, const std::string& model, double texts_per_second,
                        double peak_rss_bytes, const std::string& model_dir = "") {
  memembed::Json bench = {{"model", model},
                          {"threads", 2},
                          {"texts_per_second", texts_per_second},
                          {"tokens_per_second", texts_per_second * 40},
                          {"peak_rss_bytes", peak_rss_bytes},
                          {"mean_tokens_per_text", 40.0}};
  if (!model_dir.empty()) bench["model_dir"] = model_dir;
  write_file(file, bench.dump(2));
}

// Runs `body` and returns the memembed::Error message it throws; fails the test if it does not.
template <typename Body>
std::string error_of(Body&& body) {
  try {
    body();
  } catch (const memembed::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a memembed::Error";
  return "";
}

}  // namespace select_test
