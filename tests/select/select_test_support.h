// Temp directories and files in the formats other memembed commands write, for select's tests.
#pragma once

#include "fixture_support.h"
#include "memembed/error.h"
#include "memembed/json_io.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

namespace select_test {

namespace fs = std::filesystem;

using memembed::testing::TempDir;
using memembed::testing::write_file;

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
