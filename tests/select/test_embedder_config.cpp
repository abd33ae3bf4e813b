#include "memembed/error.h"
#include "memembed/select.h"
#include "select_test_support.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace memembed;
using namespace memembed::select;
using select_test::error_of;
using select_test::TempDir;
using select_test::write_file;

namespace {

Candidate top_candidate(const Request& request) {
  const Recommendation result = recommend(Registry::builtin(), request);
  EXPECT_FALSE(result.ranked.empty());
  return result.ranked.front();
}

Request cpu_two_gigabytes() {
  Request request;
  request.cpu_only = true;
  request.ram_bytes = 2e9;
  return request;
}

Json valid_config() {
  return Json::parse(R"({
    "format": "memembed.embedder/1", "provider": "local", "model": "google/embeddinggemma-300m",
    "dims": 768, "device": "cpu", "dtype": "f32",
    "query_prompt": "task: search result | query: ", "document_prompt": "title: none | text: ",
    "instruction_template": "Instruct: {instruction}\nQuery:",
    "query_instructions": {"EPISODIC": null, "SOCIAL": "Given a chat question, retrieve the turns"},
    "fine_tune": {"enabled": false, "checkpoint_path": null, "base_model": "google/embeddinggemma-300m",
                  "training_data_dir": null}
  })");
}

std::string config_error(const Json& document) {
  return error_of([&] { embedder_config_from_json(document, "embedder.json"); });
}

}  // namespace

TEST(EmbedderConfig, CpuRecommendationWritesEmbeddingGemmaWithoutInstructions) {
  const Request request = cpu_two_gigabytes();
  const Candidate candidate = top_candidate(request);
  const EmbedderConfig config = make_embedder_config(candidate, request);
  EXPECT_EQ(config.provider, "local");
  EXPECT_EQ(config.model, candidate.model.hf_id->value);
  EXPECT_EQ(config.model, "google/embeddinggemma-300m");
  EXPECT_EQ(config.dims, candidate.model.dims->value);
  EXPECT_EQ(config.device, "cpu");
  EXPECT_EQ(config.dtype, "f32");
  EXPECT_EQ(config.query_prompt, candidate.model.query_prompt->value);
  for (const char* category : kConfigCategories) EXPECT_FALSE(config.query_instructions.at(category)) << category;
  EXPECT_FALSE(config.fine_tune.enabled);
  EXPECT_EQ(config.fine_tune.base_model, config.model);
  EXPECT_EQ(format_query(config, "EPISODIC", "when did we ship?"), "task: search result | query: when did we ship?");
}

TEST(EmbedderConfig, GpuDialogueRecommendationWritesInstructionsPerCategory) {
  Request request;
  request.vram_bytes = 80e9;
  request.priorities = parse_priorities("dialogue=high");
  const Candidate candidate = top_candidate(request);
  const EmbedderConfig config = make_embedder_config(candidate, request);
  EXPECT_EQ(config.model, "BAAI/bge-multilingual-gemma2");
  EXPECT_EQ(config.device, "cuda");
  EXPECT_EQ(config.dtype, "bf16");
  for (const char* category : kConfigCategories) EXPECT_TRUE(config.query_instructions.at(category)) << category;
  const std::string query = format_query(config, "SOCIAL", "what did Ana say about Lisbon?");
  EXPECT_EQ(query, "Instruct: " + *config.query_instructions.at("SOCIAL") + "\nQuery:what did Ana say about Lisbon?");
  // Unknown or mixed categories use the DEFAULT instruction.
  EXPECT_EQ(format_query(config, "EPISODIC,SEMANTIC", "x"),
            "Instruct: " + *config.query_instructions.at("DEFAULT") + "\nQuery:x");
  EXPECT_EQ(config.selection["evidence"]["SOCIAL"]["instructions"], "on");
  EXPECT_EQ(config.selection["evidence"]["SOCIAL"]["weight"], 2.0);
}

TEST(EmbedderConfig, RoundTripsThroughAFile) {
  TempDir dir;
  const Request request = cpu_two_gigabytes();
  const EmbedderConfig written = make_embedder_config(top_candidate(request), request);
  save_embedder_config(dir / "embedder.json", written);
  const EmbedderConfig read = load_embedder_config(dir / "embedder.json");
  EXPECT_EQ(to_json(read), to_json(written));
  EXPECT_EQ(read_json_file(dir / "embedder.json")["format"], "memembed.embedder/1");
}

TEST(EmbedderConfig, ModelsWithoutIdOrDimsCannotBeWritten) {
  Registry registry = Registry::builtin();
  ModelInfo& local = registry.entry_for("/nowhere/tuned-model");
  local.scores[0].fill(TypeScore{50.0, std::nullopt, true, "test", 1});
  Request request;
  const Recommendation result = recommend(registry, request);
  const auto it = std::find_if(result.ranked.begin(), result.ranked.end(),
                               [](const Candidate& c) { return c.model.id == "/nowhere/tuned-model"; });
  ASSERT_NE(it, result.ranked.end());
  EXPECT_NE(error_of([&] { make_embedder_config(*it, request); }).find("embedding dims unknown"), std::string::npos);
}

TEST(EmbedderConfig, AcceptsAValidHandWrittenFile) {
  const EmbedderConfig config = embedder_config_from_json(valid_config(), "embedder.json");
  EXPECT_EQ(config.dims, 768);
  EXPECT_FALSE(config.query_instructions.at("EPISODIC"));
  EXPECT_FALSE(config.query_instructions.at("DEFAULT"));  // missing categories mean no instruction
  EXPECT_EQ(*config.query_instructions.at("SOCIAL"), "Given a chat question, retrieve the turns");
}

TEST(EmbedderConfigErrors, NamesTheProblem) {
  Json document = valid_config();
  document["query_instructions"]["WORKING"] = "x";
  EXPECT_NE(config_error(document).find("WORKING memories stay in context"), std::string::npos);
  document = valid_config();
  document["query_instructions"]["GOSSIP"] = "x";
  EXPECT_NE(config_error(document).find("query_instructions.GOSSIP: unknown category"), std::string::npos);
  document = valid_config();
  document["dims"] = 0;
  EXPECT_NE(config_error(document).find("\"dims\" must be a positive integer"), std::string::npos);
  document = valid_config();
  document["provider"] = "openai";
  EXPECT_NE(config_error(document).find("needs \"endpoint\""), std::string::npos);
  document = valid_config();
  document["fine_tune"]["enabled"] = true;
  EXPECT_NE(config_error(document).find("\"checkpoint_path\" is null"), std::string::npos);
  document = valid_config();
  document["instruction_template"] = "Instruct: ";
  EXPECT_NE(config_error(document).find("must contain {instruction}"), std::string::npos);
  document = valid_config();
  document["dimensions"] = 768;
  EXPECT_NE(config_error(document).find("unknown field \"dimensions\""), std::string::npos);
  document = valid_config();
  document["format"] = "embedder/0";
  EXPECT_NE(config_error(document).find("\"format\" must be"), std::string::npos);
}
