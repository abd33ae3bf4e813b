// `memembed pull` end to end: the real binary against the local fake hub via --endpoint.

#include "cli_support.h"
#include "hub/fake_hub.h"
#include "hub/hub_test_support.h"

#include "memembed/hub.h"

#include <gtest/gtest.h>

namespace memembed::test {
namespace {

namespace fs = std::filesystem;

using memembed::testing::quote;
using CliRun = memembed::testing::CommandResult;

class PullCliTest : public ::testing::Test {
 protected:
  PullCliTest() {
    make_synthetic_repo(scratch_.path() / "source");
    hub_.add_repo("test-org/tiny", scratch_.path() / "source", std::string(40, 'a'));
  }

  void SetUp() override {
#ifndef MEMEMBED_BINARY
    GTEST_SKIP() << "the memembed binary is not part of this build";
#endif
  }

  CliRun run(const std::string& arguments, const std::string& environment = "") {
    return memembed::testing::run_memembed(
        arguments, "-u HF_TOKEN -u HF_ENDPOINT no_proxy=127.0.0.1 NO_PROXY=127.0.0.1 MEMEMBED_CACHE=" +
                       quote((scratch_.path() / "cache").string()) + " " + environment);
  }

  TempDir scratch_;
  FakeHub hub_;
};

TEST_F(PullCliTest, PullsIntoTheCacheAndPrintsTheDirectory) {
  const CliRun run_result = run("pull test-org/tiny --endpoint " + quote(hub_.endpoint()));
  ASSERT_EQ(run_result.exit_code, 0) << run_result.err;
  const fs::path expected = scratch_.path() / "cache" / "test-org" / "tiny" / "main";
  EXPECT_EQ(run_result.out, expected.string() + "\n");
  expect_same_files(scratch_.path() / "source", expected);
  EXPECT_NE(run_result.err.find("pulled test-org/tiny"), std::string::npos) << run_result.err;

  // Rerun: nothing to download, same answer.
  const CliRun again = run("pull test-org/tiny --endpoint " + quote(hub_.endpoint()));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("0 downloaded"), std::string::npos) << again.err;
}

TEST_F(PullCliTest, ProgressIsShownOnStderrWhenAsked) {
  const CliRun run_result =
      run("--progress pull test-org/tiny --dir " + quote((scratch_.path() / "d").string()),
          "HF_ENDPOINT=" + quote(hub_.endpoint()));
  ASSERT_EQ(run_result.exit_code, 0) << run_result.err;
  EXPECT_EQ(run_result.out, (scratch_.path() / "d").string() + "\n");
  EXPECT_NE(run_result.err.find("pull test-org/tiny:"), std::string::npos) << run_result.err;
  EXPECT_NE(run_result.err.find("KiB"), std::string::npos) << run_result.err;
  expect_same_files(scratch_.path() / "source", scratch_.path() / "d");
}

TEST_F(PullCliTest, FilterOptionsTakeOneValueEach) {
  const fs::path dir = scratch_.path() / "filtered";
  const CliRun run_result = run("pull --include '*.json' --include 'empty.txt' --exclude tokenizer.json "
                                "test-org/tiny --endpoint " + quote(hub_.endpoint()) + " --dir " +
                                quote(dir.string()));
  ASSERT_EQ(run_result.exit_code, 0) << run_result.err;
  EXPECT_TRUE(fs::exists(dir / "config.json"));
  EXPECT_TRUE(fs::exists(dir / "1_Pooling" / "config.json"));
  EXPECT_TRUE(fs::exists(dir / "empty.txt"));
  EXPECT_FALSE(fs::exists(dir / "tokenizer.json"));
  EXPECT_FALSE(fs::exists(dir / "model.safetensors"));
}

TEST_F(PullCliTest, ErrorsMapToExitCodes) {
  const CliRun missing = run("pull test-org/missing --endpoint " + quote(hub_.endpoint()));
  EXPECT_EQ(missing.exit_code, 4) << missing.err;
  EXPECT_NE(missing.err.find("test-org/missing"), std::string::npos) << missing.err;
  EXPECT_EQ(missing.out, "");

  hub_.make_gated("test-org/tiny");
  const CliRun gated = run("pull test-org/tiny --endpoint " + quote(hub_.endpoint()));
  EXPECT_EQ(gated.exit_code, 7) << gated.err;
  EXPECT_NE(gated.err.find("gated"), std::string::npos) << gated.err;

  const CliRun bad_id = run("pull not-an-id --endpoint " + quote(hub_.endpoint()));
  EXPECT_EQ(bad_id.exit_code, 3) << bad_id.err;

  const CliRun down = run("pull test-org/tiny --endpoint http://127.0.0.1:9");
  EXPECT_EQ(down.exit_code, 7) << down.err;
  EXPECT_NE(down.err.find("cannot reach"), std::string::npos) << down.err;
}

}  // namespace
}  // namespace memembed::test
