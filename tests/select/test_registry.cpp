#include "memembed/error.h"
#include "memembed/select.h"
#include "select_test_support.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

using namespace memembed;
using namespace memembed::select;
using select_test::error_of;
using select_test::TempDir;
using select_test::write_file;

namespace {

// A registry with one complete model, which each malformed-input test breaks in one place.
Json minimal_registry() {
  return Json::parse(R"({
    "format": "memembed.registry/1",
    "sources": {"card": {"title": "a model card", "url": "https://example.org"},
                "lmeb": {"title": "LMEB tables"}},
    "models": [{
      "id": "tiny", "name": "Tiny", "aliases": ["tiny-embed"],
      "hf_id": {"value": "org/tiny-embed-v1", "source": "card"},
      "params": {"value": 100000000, "source": "card"},
      "dims": {"value": 384, "source": "card"},
      "matryoshka_dims": {"value": {"min": 32, "max": 384}, "source": "card"},
      "languages": {"value": ["en"], "source": "card"},
      "lmeb": {"source": "lmeb", "size": "100M",
               "wo_inst": {"epi_n10": 50, "dia_n10": 40, "sem_n10": 30, "pro_n10": 20, "meanType_n10": 35},
               "w_inst": {"epi_n10": 52, "dia_n10": 44, "sem_n10": 30, "pro_n10": 20}}
    }]
  })");
}

std::string load_error(const Json& document) {
  return error_of([&] { Registry::from_json(document, "reg.json"); });
}

struct CsvRow {
  std::map<std::string, std::string> fields;
};

std::vector<CsvRow> read_published_csv(const std::string& path) {
  std::ifstream in(path);
  std::vector<CsvRow> rows;
  std::vector<std::string> header;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cells;
    std::stringstream stream(line);
    std::string cell;
    while (std::getline(stream, cell, ',')) cells.push_back(cell);
    if (header.empty()) {
      header = cells;
      continue;
    }
    CsvRow row;
    for (size_t i = 0; i < header.size() && i < cells.size(); ++i) row.fields[header[i]] = cells[i];
    rows.push_back(row);
  }
  return rows;
}

}  // namespace

TEST(Registry, BuiltinHoldsTheLmebModelsAndCommonSmallOnes) {
  const Registry registry = Registry::builtin();
  size_t with_lmeb = 0;
  for (const ModelInfo& model : registry.models()) {
    if (model.mean_type(Instructions::Off) && model.mean_type(Instructions::On)) ++with_lmeb;
    // Every fact the loader kept names a source the registry defines.
    if (model.params) {
      EXPECT_NE(registry.source(model.params->source), nullptr) << model.id;
    }
    if (model.hf_id) {
      EXPECT_NE(registry.source(model.hf_id->source), nullptr) << model.id;
    }
  }
  EXPECT_GE(with_lmeb, 15u);
  for (const char* name : {"google/embeddinggemma-300m", "sentence-transformers/all-MiniLM-L6-v2",
                           "BAAI/bge-small-en-v1.5", "BAAI/bge-base-en-v1.5", "intfloat/e5-base-v2",
                           "intfloat/multilingual-e5-large"}) {
    EXPECT_NE(registry.find(name), nullptr) << name;
  }
}

// The registry copies LMEB's Tables 2 and 3; every number must match the reference transcription.
TEST(Registry, LmebNumbersMatchThePublishedTables) {
  const std::string path = (memembed::testing::shared_dir() / "reference" / "lmeb_published_scores.csv").string();
  const auto rows = read_published_csv(path);
  if (rows.empty()) GTEST_SKIP() << "no reference CSV at " << path;
  const Registry registry = Registry::builtin();
  EXPECT_EQ(rows.size(), 30u);
  for (const CsvRow& row : rows) {
    const std::string name = row.fields.at("model");
    const ModelInfo* model = registry.find(name);
    ASSERT_NE(model, nullptr) << name;
    const Instructions setting = row.fields.at("setting") == "w_inst" ? Instructions::On : Instructions::Off;
    ASSERT_TRUE(model->lmeb_size);
    EXPECT_EQ(*model->lmeb_size, row.fields.at("size"));
    for (const MemoryType type : kMemoryTypes) {
      const auto& score = model->score(setting, type);
      ASSERT_TRUE(score) << name;
      EXPECT_DOUBLE_EQ(score->ndcg10, std::stod(row.fields.at(std::string(short_name(type)) + "_n10"))) << name;
      ASSERT_TRUE(score->recall10);
      EXPECT_DOUBLE_EQ(*score->recall10, std::stod(row.fields.at(std::string(short_name(type)) + "_r10"))) << name;
      EXPECT_FALSE(score->measured);
      EXPECT_EQ(score->source, "lmeb");
    }
    EXPECT_NEAR(*model->mean_type(setting), std::stod(row.fields.at("meanType_n10")), 0.011) << name;
  }
}

TEST(Registry, FindsModelsByIdNameAliasHfIdAndPath) {
  const Registry registry = Registry::builtin();
  const ModelInfo* gemma = registry.find("embeddinggemma-300m");
  ASSERT_NE(gemma, nullptr);
  EXPECT_EQ(registry.find("EmbeddingGemma-300M"), gemma);
  EXPECT_EQ(registry.find("GOOGLE/EMBEDDINGGEMMA-300M"), gemma);
  EXPECT_EQ(registry.find("/home/me/models/embeddinggemma-300m/"), gemma);
  EXPECT_EQ(registry.find("bge-m3 (Dense)"), registry.find("BAAI/bge-m3"));
  EXPECT_EQ(registry.find("no-such-model"), nullptr);
  EXPECT_EQ(registry.find(""), nullptr);
}

TEST(Registry, InstructionPolicyFollowsThePublishedDifference) {
  const Registry registry = Registry::builtin();
  for (const ModelInfo& model : registry.models()) {
    const auto with = model.mean_type(Instructions::On);
    const auto without = model.mean_type(Instructions::Off);
    const std::string policy = instruction_policy(model);
    if (!with || !without) {
      EXPECT_EQ(policy, "unknown") << model.id;
    } else if (*with - *without >= 0.5) {
      EXPECT_EQ(policy, "use instructions") << model.id;
    } else if (*without - *with >= 0.5) {
      EXPECT_EQ(policy, "no instructions") << model.id;
    } else {
      EXPECT_EQ(policy, "no clear difference") << model.id;
    }
  }
  // The two cases the LMEB paper highlights.
  EXPECT_EQ(instruction_policy(*registry.find("EmbeddingGemma-300M")), "no instructions");
  EXPECT_EQ(instruction_policy(*registry.find("bge-multilingual-gemma2")), "use instructions");
}

TEST(Registry, MemoryIsDerivedFromTheParameterCount) {
  const Registry registry = Registry::builtin();
  const ModelInfo& gemma = *registry.find("EmbeddingGemma-300M");
  const double params = gemma.params->value;
  const auto cpu = estimate_memory(gemma, Device::Cpu);
  const auto gpu = estimate_memory(gemma, Device::Gpu);
  ASSERT_TRUE(cpu && gpu);
  EXPECT_DOUBLE_EQ(cpu->bytes, params * 4 * 1.2 + 256.0 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(gpu->bytes, params * 2 * 1.2 + 512.0 * 1024 * 1024);
  EXPECT_FALSE(cpu->measured);
  ModelInfo unknown_size;
  unknown_size.id = "mystery";
  EXPECT_FALSE(estimate_memory(unknown_size, Device::Cpu));
}

TEST(Registry, TiersFollowParameterCount) {
  const Registry registry = Registry::builtin();
  EXPECT_EQ(tier_of(*registry.find("EmbeddingGemma-300M")), Tier::Cpu);
  EXPECT_EQ(tier_of(*registry.find("Qwen3-Embedding-4B")), Tier::ConsumerGpu);
  EXPECT_EQ(tier_of(*registry.find("bge-multilingual-gemma2")), Tier::GpuServer);
  EXPECT_EQ(tier_of(*registry.find("KaLM-Embedding-Gemma3")), Tier::GpuServer);
}

TEST(Registry, LoadsAMinimalFileAndReportsUnknownsAsAbsent) {
  TempDir dir;
  write_file(dir / "reg.json", minimal_registry().dump());
  const Registry registry = Registry::load(dir / "reg.json");
  ASSERT_EQ(registry.models().size(), 1u);
  const ModelInfo& tiny = registry.models()[0];
  EXPECT_EQ(tiny.hf_id->value, "org/tiny-embed-v1");
  EXPECT_EQ(tiny.matryoshka->value.min, 32);
  EXPECT_FALSE(tiny.licence);
  EXPECT_FALSE(tiny.max_tokens);
  EXPECT_FALSE(tiny.score(Instructions::Off, MemoryType::Episodic)->recall10);
  EXPECT_EQ(registry.find("tiny-embed-v1"), &tiny);
}

TEST(RegistryErrors, NotJsonNamesTheFile) {
  TempDir dir;
  write_file(dir / "broken.json", "{\"format\": \"memembed.registry/1\", \"models\": [");
  const std::string message = error_of([&] { Registry::load(dir / "broken.json"); });
  EXPECT_NE(message.find("broken.json"), std::string::npos) << message;
}

TEST(RegistryErrors, WrongFormatVersion) {
  Json document = minimal_registry();
  document["format"] = "memembed.registry/9";
  EXPECT_NE(load_error(document).find("\"format\" must be \"memembed.registry/1\""), std::string::npos);
}

TEST(RegistryErrors, MisspelledFieldNamesModelAndField) {
  Json document = minimal_registry();
  document["models"][0]["param"] = document["models"][0]["params"];
  const std::string message = load_error(document);
  EXPECT_NE(message.find("reg.json: models[0] (tiny).param: unknown field"), std::string::npos) << message;
}

TEST(RegistryErrors, NegativeParameterCount) {
  Json document = minimal_registry();
  document["models"][0]["params"]["value"] = -5;
  const std::string message = load_error(document);
  EXPECT_NE(message.find("models[0] (tiny).params: value must be a positive number"), std::string::npos) << message;
}

TEST(RegistryErrors, UndefinedSource) {
  Json document = minimal_registry();
  document["models"][0]["dims"]["source"] = "blog";
  const std::string message = load_error(document);
  EXPECT_NE(message.find("(tiny).dims: source \"blog\" is not defined"), std::string::npos) << message;
}

TEST(RegistryErrors, InconsistentMeanCatchesTranscriptionSlips) {
  Json document = minimal_registry();
  document["models"][0]["lmeb"]["wo_inst"]["epi_n10"] = 56;  // mean of types is now 36.5, not 35
  const std::string message = load_error(document);
  EXPECT_NE(message.find("lmeb.wo_inst.meanType_n10"), std::string::npos) << message;
  EXPECT_NE(message.find("not the mean"), std::string::npos) << message;
}

TEST(RegistryErrors, ScoresOutOfRangeOrMissing) {
  Json document = minimal_registry();
  document["models"][0]["lmeb"]["w_inst"]["dia_n10"] = 0.44;
  document["models"][0]["lmeb"]["w_inst"]["sem_n10"] = 130;
  EXPECT_NE(load_error(document).find("lmeb.w_inst.sem_n10: must be a score from 0 to 100"), std::string::npos);
  document = minimal_registry();
  document["models"][0]["lmeb"]["w_inst"].erase("pro_n10");
  EXPECT_NE(load_error(document).find("lmeb.w_inst.pro_n10: required score is missing"), std::string::npos);
}

TEST(RegistryErrors, DuplicateIdsAndEmptyModelList) {
  Json document = minimal_registry();
  document["models"].push_back(document["models"][0]);
  document["models"][1]["id"] = "TINY";
  EXPECT_NE(load_error(document).find("duplicate model id \"TINY\""), std::string::npos);
  document["models"] = Json::array();
  EXPECT_NE(load_error(document).find("\"models\" must be a non-empty array"), std::string::npos);
}

TEST(RegistryErrors, TemplateWithoutPlaceholderAndBadLanguages) {
  Json document = minimal_registry();
  document["models"][0]["instruction_template"] = {{"value", "Instruct: "}, {"source", "card"}};
  EXPECT_NE(load_error(document).find("{instruction}"), std::string::npos);
  document = minimal_registry();
  document["models"][0]["languages"]["value"] = Json::array();
  EXPECT_NE(load_error(document).find("(tiny).languages"), std::string::npos);
}
