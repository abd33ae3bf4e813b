#include "memembed/error.h"
#include "memembed/select.h"
#include "select_test_support.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace memembed;
using namespace memembed::select;
using select_test::error_of;
using select_test::TempDir;
using select_test::write_bench;
using select_test::write_file;
using select_test::write_subset_result;

TEST(EvalEvidence, AggregatesSubsetsIntoDatasetsIntoMemoryTypesLikeLmeb) {
  TempDir dir;
  const std::string model = "google/embeddinggemma-300m";
  // Dialogue: LoCoMo = mean(0.5, 0.3) = 0.4, TMD = 0.8 -> type = mean(0.4, 0.8) = 0.6, not the
  // subset mean (0.533): datasets weigh equally whatever their subset count.
  write_subset_result(dir.path(), model, "off", "Dialogue", "LoCoMo", "single_hop", 0.5, 0.6);
  write_subset_result(dir.path(), model, "off", "Dialogue", "LoCoMo", "multi_hop", 0.3, 0.4);
  write_subset_result(dir.path(), model, "off", "Dialogue", "TMD", "dates_time_qs", 0.8, 0.9);
  // ReMe's subset names contain a slash, so they nest one folder deeper.
  write_subset_result(dir.path(), model, "on", "Procedural", "ReMe", "bfcl_qwen3_8b/task_query", 0.7, 0.75);

  Registry registry = Registry::builtin();
  const auto published_episodic = registry.find(model)->score(Instructions::Off, MemoryType::Episodic)->ndcg10;
  merge_eval_results(registry, dir.path());
  const ModelInfo& gemma = *registry.find(model);

  const auto& dialogue = gemma.score(Instructions::Off, MemoryType::Dialogue);
  ASSERT_TRUE(dialogue);
  EXPECT_NEAR(dialogue->ndcg10, 60.0, 1e-9);
  EXPECT_NEAR(*dialogue->recall10, 100 * (0.5 + 0.9) / 2, 1e-9);
  EXPECT_TRUE(dialogue->measured);
  EXPECT_EQ(dialogue->datasets, 2);
  EXPECT_EQ(dialogue->source, dir.path().string());

  const auto& procedural = gemma.score(Instructions::On, MemoryType::Procedural);
  EXPECT_NEAR(procedural->ndcg10, 70.0, 1e-9);
  EXPECT_TRUE(procedural->measured);
  // Types without local results keep the published numbers.
  EXPECT_EQ(gemma.score(Instructions::Off, MemoryType::Episodic)->ndcg10, published_episodic);
  EXPECT_FALSE(gemma.score(Instructions::Off, MemoryType::Episodic)->measured);
}

TEST(EvalEvidence, UnknownModelsBecomeLocalEntries) {
  TempDir dir;
  write_subset_result(dir.path(), "/checkpoints/acme-memory-tuned", "off", "Dialogue", "LoCoMo", "single_hop", 0.61);
  Registry registry = Registry::builtin();
  const size_t before = registry.models().size();
  merge_eval_results(registry, dir.path());
  ASSERT_EQ(registry.models().size(), before + 1);
  const ModelInfo* tuned = registry.find("/checkpoints/acme-memory-tuned");
  ASSERT_NE(tuned, nullptr);
  EXPECT_TRUE(tuned->local_only);
  EXPECT_EQ(tuned->name, "acme-memory-tuned");
  EXPECT_NEAR(tuned->score(Instructions::Off, MemoryType::Dialogue)->ndcg10, 61.0, 1e-9);
  EXPECT_FALSE(tuned->params);
}

TEST(EvalEvidence, LaterDirectoriesOverrideEarlierOnes) {
  TempDir dir;
  write_subset_result(dir / "a", "BAAI/bge-m3", "off", "Semantic", "QASPER", "default", 0.2);
  write_subset_result(dir / "b", "BAAI/bge-m3", "off", "Semantic", "PeerQA", "default", 0.4);
  Registry registry = load_registry(std::nullopt, {dir / "a", dir / "b"}, {});
  EXPECT_NEAR(registry.find("BAAI/bge-m3")->score(Instructions::Off, MemoryType::Semantic)->ndcg10, 40.0, 1e-9);
}

TEST(EvalEvidenceErrors, MissingOrEmptyLayouts) {
  TempDir dir;
  Registry registry = Registry::builtin();
  EXPECT_NE(error_of([&] { merge_eval_results(registry, dir / "absent"); }).find("no such directory"),
            std::string::npos);
  EXPECT_NE(error_of([&] { merge_eval_results(registry, dir.path()); }).find("no results/ folder"),
            std::string::npos);
  std::filesystem::create_directories(dir / "results");
  EXPECT_NE(error_of([&] { merge_eval_results(registry, dir.path()); }).find("no result files"), std::string::npos);
}

TEST(EvalEvidenceErrors, UnknownMemoryTypeNamesFileAndField) {
  TempDir dir;
  write_subset_result(dir.path(), "BAAI/bge-m3", "off", "Dialogue", "LoCoMo", "single_hop", 0.5);
  const auto file = dir / "results/off/Dialogue/LoCoMo/single_hop.json";
  Json result = read_json_file(file);
  result["memory_type"] = "Conversational";
  write_file(file, result.dump());
  Registry registry = Registry::builtin();
  const std::string message = error_of([&] { merge_eval_results(registry, dir.path()); });
  EXPECT_NE(message.find("single_hop.json: field \"memory_type\": unknown memory type \"Conversational\""),
            std::string::npos)
      << message;
}

TEST(EvalEvidenceErrors, FolderAndFieldsMustAgree) {
  TempDir dir;
  write_subset_result(dir.path(), "BAAI/bge-m3", "off", "Dialogue", "LoCoMo", "single_hop", 0.5);
  const auto file = dir / "results/off/Dialogue/LoCoMo/single_hop.json";
  Json result = read_json_file(file);
  result["instructions"] = "on";
  write_file(file, result.dump());
  Registry registry = Registry::builtin();
  EXPECT_NE(error_of([&] { merge_eval_results(registry, dir.path()); }).find("lies under results/off/"),
            std::string::npos);
}

TEST(EvalEvidenceErrors, ScoresMustBeFractions) {
  TempDir dir;
  write_subset_result(dir.path(), "BAAI/bge-m3", "off", "Dialogue", "LoCoMo", "single_hop", 56.2);
  Registry registry = Registry::builtin();
  const std::string message = error_of([&] { merge_eval_results(registry, dir.path()); });
  EXPECT_NE(message.find("scores.test[0]: \"main_score\" must lie in [0, 1]"), std::string::npos) << message;

  TempDir empty_scores;
  write_subset_result(empty_scores.path(), "BAAI/bge-m3", "off", "Dialogue", "LoCoMo", "single_hop", 0.5);
  const auto file = empty_scores / "results/off/Dialogue/LoCoMo/single_hop.json";
  Json result = read_json_file(file);
  result["scores"]["test"] = Json::array();
  write_file(file, result.dump());
  EXPECT_NE(error_of([&] { merge_eval_results(registry, empty_scores.path()); }).find("\"scores.test\""),
            std::string::npos);
}

TEST(BenchEvidence, MeasuredThroughputAndMemoryReplaceEstimates) {
  TempDir dir;
  // The bench names the model by a local path; the directory name identifies it.
  write_bench(dir / "bench.json", "my-gemma", 50.0, 1.1e9, "/models/embeddinggemma-300m");
  Registry registry = Registry::builtin();
  merge_bench(registry, dir / "bench.json");
  const ModelInfo& gemma = *registry.find("google/embeddinggemma-300m");
  ASSERT_TRUE(gemma.throughput);
  EXPECT_EQ(gemma.throughput->threads, 2);
  const auto memory = estimate_memory(gemma, Device::Cpu);
  EXPECT_TRUE(memory->measured);
  EXPECT_DOUBLE_EQ(memory->bytes, 1.1e9);
  // GPU memory has no measurement and stays an estimate.
  EXPECT_FALSE(estimate_memory(gemma, Device::Gpu)->measured);
}

TEST(BenchEvidence, AnEndpointsMeasuredQueryLatencyReplacesTheEstimate) {
  TempDir dir;
  write_bench(dir / "bench.json", "Qwen/Qwen3-Embedding-4B", 400.0, 1e8);
  Json bench = read_json_file(dir / "bench.json");
  bench["device"] = "cuda";
  bench["query_latency_ms"] = {{"p50", 12.5}, {"p99", 40.0}};
  write_file(dir / "bench.json", bench.dump());
  Registry registry = Registry::builtin();
  merge_bench(registry, dir / "bench.json");
  Request request;
  request.vram_bytes = 80e9;
  request.top = 100;
  const Recommendation result = recommend(registry, request);
  const auto qwen = std::find_if(result.ranked.begin(), result.ranked.end(),
                                 [](const Candidate& c) { return c.model.name == "Qwen3-Embedding-4B"; });
  ASSERT_NE(qwen, result.ranked.end());
  ASSERT_TRUE(qwen->latency);
  EXPECT_TRUE(qwen->latency->measured);
  EXPECT_DOUBLE_EQ(qwen->latency->ms, 12.5);
  EXPECT_NE(qwen->latency->basis.find("p99 40.0 ms"), std::string::npos) << qwen->latency->basis;

  bench["query_latency_ms"] = {{"p50", 50.0}, {"p99", 10.0}};
  write_file(dir / "bench.json", bench.dump());
  EXPECT_NE(error_of([&] { merge_bench(registry, dir / "bench.json"); }).find("query_latency_ms"), std::string::npos);
}

TEST(BenchEvidenceErrors, RejectsNonPositiveNumbersAndUnknownDevices) {
  TempDir dir;
  write_bench(dir / "bench.json", "google/embeddinggemma-300m", -3, 1e9);
  Registry registry = Registry::builtin();
  EXPECT_NE(error_of([&] { merge_bench(registry, dir / "bench.json"); })
                .find("\"texts_per_second\" must be greater than zero"),
            std::string::npos);
  Json bench = read_json_file(dir / "bench.json");
  bench["texts_per_second"] = 10;
  bench["tokens_per_second"] = 400;
  bench["device"] = "tpu";
  write_file(dir / "bench.json", bench.dump());
  EXPECT_NE(error_of([&] { merge_bench(registry, dir / "bench.json"); }).find("\"device\""), std::string::npos);
  bench.erase("model");
  write_file(dir / "bench.json", bench.dump());
  EXPECT_NE(error_of([&] { merge_bench(registry, dir / "bench.json"); }).find("missing field \"model\""),
            std::string::npos);
}
