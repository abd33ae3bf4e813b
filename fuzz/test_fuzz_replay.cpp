// Replays every input kept for every fuzz target: the seed corpus (fuzz/corpus/<target>/) and the
// inputs that once crashed, hung or leaked (fuzz/regressions/<target>/). A target must return
// normally for each; a std::exception escaping is a parser that let something other than
// memembed::Error out. Fast (seconds), so CI runs it; scripts/fuzz.sh does the fuzzing.
#include "fixture_support.h"
#include "fuzz_target.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <exception>
#include <vector>

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> inputs_of(const std::string& target) {
  std::vector<fs::path> files;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = fs::path(MEMEMBED_SOURCE_DIR) / "fuzz" / kind / target;
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

TEST(FuzzReplay, EveryTargetAcceptsEveryKeptInput) {
  MEMEMBED_REQUIRE_SHARED(memembed::testing::shared_dir() / "fixtures");
  MEMEMBED_REQUIRE_SHARED(memembed::testing::shared_dir() / "tokenizers");
  ASSERT_FALSE(memembed::fuzz::targets().empty());
  for (const auto& [name, target] : memembed::fuzz::targets()) {
    const std::vector<fs::path> files = inputs_of(name);
    EXPECT_FALSE(files.empty()) << "fuzz target " << name << " has no seed corpus in fuzz/corpus/" << name;
    for (const fs::path& file : files) {
      const std::string input = memembed::read_file(file);
      try {
        target(input);
      } catch (const std::exception& e) {
        ADD_FAILURE() << name << " on " << file << ": " << e.what();
      }
    }
  }
}
