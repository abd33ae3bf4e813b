// Shared pieces of the hub tests: scratch directories, scoped environment variables, a synthetic
// repository with the shapes that matter (an LFS-sized weights file, nested and empty files).
#pragma once

#include "fixture_support.h"
#include "hub/fake_hub.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>

namespace memembed::test {

using memembed::testing::ScopedEnv;
using memembed::testing::TempDir;


inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string random_bytes(size_t size, unsigned seed) {
  std::mt19937 generator(seed);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(generator() & 0xff);
  return bytes;
}

// A small model-shaped repository: a 3 MiB weights file (LFS), a 150 KiB tokenizer (LFS), small
// JSON files in git, a nested module folder and an empty file.
inline void make_synthetic_repo(const std::filesystem::path& dir, unsigned seed = 1) {
  write_bytes(dir / "config.json", "{\"architectures\": [\"BertModel\"], \"hidden_size\": 32}\n");
  write_bytes(dir / "modules.json", "[{\"idx\": 0, \"name\": \"0\", \"path\": \"\"}]\n");
  write_bytes(dir / "1_Pooling" / "config.json", "{\"pooling_mode_mean_tokens\": true}\n");
  write_bytes(dir / "model.safetensors", random_bytes(3u << 20, seed));
  std::string tokenizer = "{\"model\": {\"vocab\": {";
  for (int i = 0; tokenizer.size() < 150 * 1024; ++i) tokenizer += "\"tok" + std::to_string(i) + "\": " + std::to_string(i) + ", ";
  tokenizer += "\"end\": 0}}}\n";
  write_bytes(dir / "tokenizer.json", tokenizer);
  write_bytes(dir / "empty.txt", "");
}

// Every regular file under `expected` exists under `actual` with the same bytes.
inline void expect_same_files(const std::filesystem::path& expected, const std::filesystem::path& actual) {
  size_t compared = 0;
  for (const auto& item : std::filesystem::recursive_directory_iterator(expected)) {
    if (!item.is_regular_file()) continue;
    const auto relative = std::filesystem::relative(item.path(), expected);
    const auto copy = actual / relative;
    ASSERT_TRUE(std::filesystem::is_regular_file(copy)) << "missing " << copy;
    EXPECT_TRUE(read_file_bytes(item.path()) == read_file_bytes(copy)) << "bytes differ: " << relative;
    ++compared;
  }
  EXPECT_GT(compared, 0u);
}

}  // namespace memembed::test
