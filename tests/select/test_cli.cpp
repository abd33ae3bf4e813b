// `memembed recommend` and `memembed models` driven through the real binary.
#include "cli_support.h"
#include "memembed/json_io.h"
#include "memembed/select.h"
#include "select_test_support.h"

#include <gtest/gtest.h>


using namespace memembed;
using select_test::TempDir;
using select_test::write_file;
using select_test::write_subset_result;

using CliRun = memembed::testing::CommandResult;
using memembed::testing::run_memembed;

TEST(RecommendCli, CpuOnlyWritesTheEmbedderConfig) {
  TempDir dir;
  const std::string config = (dir / "embedder.json").string();
  const CliRun result = run_memembed("recommend --cpu-only --ram 1.9GB --write-config " + config);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("Recommended: EmbeddingGemma-300M (google/embeddinggemma-300m)"), std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("query instructions: off"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("Tiers"), std::string::npos);
  const select::EmbedderConfig written = select::load_embedder_config(config);
  EXPECT_EQ(written.model, "google/embeddinggemma-300m");
  EXPECT_EQ(written.dims, 768);
}

TEST(RecommendCli, JsonForAGpuServerWithDialoguePriority) {
  const CliRun result = run_memembed("recommend --vram 80 --priority dialogue=high --json --top 3");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const Json json = Json::parse(result.out);
  EXPECT_EQ(json["recommended"]["id"], "bge-multilingual-gemma2");
  for (const char* type : {"episodic", "dialogue", "semantic", "procedural"})
    EXPECT_EQ(json["recommended"]["memory_types"][type]["instructions"], "on") << type;
  EXPECT_EQ(json["ranked"].size(), 3u);
}

TEST(RecommendCli, EvidenceAndRegistryFlagsAreRead) {
  TempDir dir;
  write_subset_result(dir / "eval", "BAAI/bge-m3", "off", "Dialogue", "LoCoMo", "single_hop", 0.99);
  const CliRun result =
      run_memembed("recommend --cpu-only --ram 8 --priority social=high --evidence " + (dir / "eval").string() + " --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const Json json = Json::parse(result.out);
  EXPECT_EQ(json["recommended"]["id"], "bge-m3");
  EXPECT_EQ(json["recommended"]["memory_types"]["dialogue"]["measured"], true);
}

TEST(RecommendCli, BadInputGivesClearErrorsAndExitCode) {
  TempDir dir;
  CliRun result = run_memembed("recommend --ram=-1");
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("--ram: must not be negative"), std::string::npos) << result.err;

  result = run_memembed("recommend --priority socal=high");
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("unknown memory type \"socal\""), std::string::npos) << result.err;

  write_file(dir / "registry.json", "{\"format\": \"memembed.registry/1\", \"models\": [}");
  result = run_memembed("recommend --registry " + (dir / "registry.json").string());
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("registry.json"), std::string::npos) << result.err;

  result = run_memembed("recommend --cpu-only --vram 8");
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("contradict"), std::string::npos) << result.err;

  result = run_memembed("recommend --evidence " + (dir / "missing").string());
  EXPECT_EQ(result.exit_code, 4);
}

TEST(ModelsCli, TableFiltersAndJson) {
  CliRun result = run_memembed("models --tier cpu");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("EmbeddingGemma-300M"), std::string::npos);
  EXPECT_EQ(result.out.find("bge-multilingual-gemma2"), std::string::npos);

  result = run_memembed("models --type social --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const Json json = Json::parse(result.out);
  ASSERT_GE(json.size(), 15u);
  EXPECT_EQ(json[0]["id"], "bge-multilingual-gemma2");  // best dialogue score first

  result = run_memembed("models --max-params 400M --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const Json& model : Json::parse(result.out)) EXPECT_LE(model["params"]["value"].get<double>(), 400e6);

  result = run_memembed("models --tier laptop");
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("unknown tier \"laptop\""), std::string::npos);
}
