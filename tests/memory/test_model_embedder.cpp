// Embedders from a model directory and from an embedder config (docs/embedder-config.md).
#include "fixture_support.h"
#include "memembed/error.h"
#include "memembed/memory.h"
#include "memembed/select.h"

namespace memembed::testing {

using namespace memembed::memory;

namespace {
select::EmbedderConfig tiny_config() {
  select::EmbedderConfig config;
  config.model = "bert-tiny";
  config.model_path = fixture_dir("bert-tiny").string();
  config.dims = 32;
  return config;
}
}  // namespace

TEST(ConfigEmbedder, AMissingFineTuneCheckpointFallsBackToTheBaseModelWithAWarning) {
  MEMEMBED_REQUIRE_SHARED(fixture_dir("bert-tiny"));
  select::EmbedderConfig config = tiny_config();
  config.fine_tune.enabled = true;
  config.fine_tune.checkpoint_path = "/nonexistent/checkpoint-7";
  std::vector<std::string> warnings;
  auto embedder = load_config_embedder(config, {}, warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("/nonexistent/checkpoint-7"), std::string::npos) << warnings[0];
  EXPECT_EQ(embedder->identity().name, "bert-tiny");
}

TEST(ConfigEmbedder, AnExistingCheckpointIsUsed) {
  MEMEMBED_REQUIRE_SHARED(fixture_dir("bert-tiny-cls"));
  select::EmbedderConfig config = tiny_config();
  config.fine_tune.enabled = true;
  config.fine_tune.checkpoint_path = fixture_dir("bert-tiny-cls").string();
  std::vector<std::string> warnings;
  auto embedder = load_config_embedder(config, {}, warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(embedder->identity().name, "bert-tiny-cls");
}

TEST(ConfigEmbedder, DimsAreCheckedAndSmallerDimsTruncate) {
  MEMEMBED_REQUIRE_SHARED(fixture_dir("bert-tiny"));
  select::EmbedderConfig config = tiny_config();
  std::vector<std::string> warnings;
  config.dims = 16;
  EXPECT_EQ(load_config_embedder(config, {}, warnings)->identity().dims, 16u);
  config.dims = 4096;
  EXPECT_THROW(load_config_embedder(config, {}, warnings), Error);
  config.dims = 32;
  config.provider = "openai";
  EXPECT_THROW(load_config_embedder(config, {}, warnings), Error);
}

TEST(ConfigEmbedder, QueriesGetTheirCategorysInstruction) {
  MEMEMBED_REQUIRE_SHARED(fixture_dir("bert-tiny"));
  select::EmbedderConfig config = tiny_config();
  config.query_instructions["SOCIAL"] = "Find what people said";
  std::vector<std::string> warnings;
  auto embedder = load_config_embedder(config, {}, warnings);
  const auto social = embedder->embed_queries({"who likes tea"}, Category::Social);
  const auto other = embedder->embed_queries({"who likes tea"}, Category::Semantic);
  const auto reference = embedder->embed_queries({"who likes tea"}, std::nullopt);  // DEFAULT: none
  EXPECT_NE(social.values, other.values);      // the instruction changed the input
  EXPECT_EQ(other.values, reference.values);   // no instruction: the plain query
}

}  // namespace memembed::testing
