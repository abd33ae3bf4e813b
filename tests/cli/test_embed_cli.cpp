// `memembed embed` and `memembed bench` through the real binary: outputs, exit codes, messages,
// and resuming an interrupted run.
#include "cli_support.h"
#include "memembed/json_io.h"

using namespace memembed;
using namespace memembed::testing;
namespace fs = std::filesystem;

namespace {

class EmbedCli : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = fixture_dir("bert-tiny");
    MEMEMBED_REQUIRE_SHARED(model_);
    dir_ = scratch_.path();
    expected_ = read_json_file(model_ / "expected.json");
  }

  std::vector<Json> read_lines(const fs::path& path) { return memembed::testing::read_jsonl(path); }

  memembed::testing::TempDir scratch_;
  fs::path model_, dir_;
  Json expected_;
};

TEST_F(EmbedCli, JsonlInputGivesReferenceEmbeddingsInInputOrder) {
  std::string input;
  std::vector<const Json*> cases;
  for (const auto& item : expected_["cases"]) {
    if (item["prompt_name"] != "query") continue;
    input += Json{{"text", item["text"]}, {"id", item["id"]}}.dump() + "\n";
    cases.push_back(&item);
  }
  write_file(dir_ / "in.jsonl", input);
  const auto result = run_memembed("embed --model " + model_.string() + " --input " + (dir_ / "in.jsonl").string() +
                                   " --output " + (dir_ / "out.jsonl").string() + " --prompt-name query --threads 2");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto lines = read_lines(dir_ / "out.jsonl");
  ASSERT_EQ(lines.size(), cases.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["index"], i);
    const auto values = lines[i]["embedding"].get<std::vector<float>>();
    EXPECT_LE(max_abs_diff(values.data(), (*cases[i])["embedding"].get<std::vector<double>>()), 1e-5) << i;
  }
}

TEST_F(EmbedCli, PlainTextInputIsOneTextPerLine) {
  write_file(dir_ / "in.txt", "first memory\n\nthird memory\n");
  const auto result = run_memembed("embed --model " + model_.string() + " --input " + (dir_ / "in.txt").string() +
                                   " --output " + (dir_ / "out.jsonl").string() + " --truncate-dim 16");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto lines = read_lines(dir_ / "out.jsonl");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2]["embedding"].size(), 16u);
}

TEST_F(EmbedCli, ResumeKeepsCompleteLinesAndFinishesTheRest) {
  std::string input;
  for (int i = 0; i < 5; ++i) input += "memory number " + std::to_string(i) + "\n";
  write_file(dir_ / "in.txt", input);
  const std::string base = "embed --model " + model_.string() + " --input " + (dir_ / "in.txt").string() + " --output ";
  ASSERT_EQ(run_memembed(base + (dir_ / "full.jsonl").string()).exit_code, 0);
  const std::string full = read_file(dir_ / "full.jsonl");
  // An interrupted run: two complete lines and half of the third.
  size_t cut = 0;
  for (int i = 0; i < 2; ++i) cut = full.find('\n', cut) + 1;
  write_file(dir_ / "partial.jsonl", full.substr(0, cut + 20));
  const auto result = run_memembed(base + (dir_ / "partial.jsonl").string() + " --resume");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("resuming after 2 embedded texts"), std::string::npos) << result.err;
  // The first two lines are kept byte for byte; the rest match within batching tolerance.
  EXPECT_EQ(read_file(dir_ / "partial.jsonl").substr(0, cut), full.substr(0, cut));
  const auto resumed = read_lines(dir_ / "partial.jsonl");
  const auto reference = read_lines(dir_ / "full.jsonl");
  ASSERT_EQ(resumed.size(), reference.size());
  for (size_t i = 0; i < resumed.size(); ++i) {
    EXPECT_EQ(resumed[i]["index"], i);
    const auto values = resumed[i]["embedding"].get<std::vector<float>>();
    EXPECT_LE(max_abs_diff(values.data(), reference[i]["embedding"].get<std::vector<double>>()), 1e-5) << i;
  }
}

TEST_F(EmbedCli, MalformedInputExitsWithInvalidInputAndNamesTheLine) {
  write_file(dir_ / "bad.jsonl", "{\"text\": \"ok\"}\n{\"text\": 5}\n");
  const auto result = run_memembed("embed --model " + model_.string() + " --input " + (dir_ / "bad.jsonl").string() +
                                   " --output " + (dir_ / "out.jsonl").string());
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("bad.jsonl:2: field \"text\" must be a string"), std::string::npos) << result.err;
}

TEST_F(EmbedCli, MissingModelExitsWithNotFound) {
  write_file(dir_ / "in.txt", "x\n");
  const auto result = run_memembed("embed --model " + (dir_ / "no-model").string() + " --input " +
                                   (dir_ / "in.txt").string() + " --output " + (dir_ / "out.jsonl").string());
  EXPECT_EQ(result.exit_code, 4) << result.err;
  EXPECT_NE(result.err.find("no-model"), std::string::npos) << result.err;
}

TEST_F(EmbedCli, DefaultPromptNameAppliesWhenNoPromptIsGiven) {
  // A copy of bert-tiny whose config names "query" as the default prompt.
  const fs::path model = dir_ / "model";
  fs::copy(model_, model, fs::copy_options::recursive);
  Json config = read_json_file(model / "config_sentence_transformers.json");
  config["default_prompt_name"] = "query";
  write_json_file(model / "config_sentence_transformers.json", config);
  const Json* query_case = nullptr;
  for (const auto& item : expected_["cases"]) {
    if (item["prompt_name"] == "query" && query_case == nullptr) query_case = &item;
  }
  ASSERT_NE(query_case, nullptr);
  write_file(dir_ / "in.jsonl", Json{{"text", (*query_case)["text"]}}.dump() + "\n");
  const std::string base = "embed --model " + model.string() + " --input " + (dir_ / "in.jsonl").string() + " --output ";
  ASSERT_EQ(run_memembed(base + (dir_ / "default.jsonl").string()).exit_code, 0);
  const auto with_default = read_lines(dir_ / "default.jsonl");
  EXPECT_LE(max_abs_diff(with_default[0]["embedding"].get<std::vector<float>>().data(),
                         (*query_case)["embedding"].get<std::vector<double>>()),
            1e-5);
  // An explicit empty --prompt overrides the default.
  ASSERT_EQ(run_memembed(base + (dir_ / "plain.jsonl").string() + " --prompt ''").exit_code, 0);
  EXPECT_NE(read_lines(dir_ / "plain.jsonl")[0]["embedding"], with_default[0]["embedding"]);
}

TEST_F(EmbedCli, UnknownPromptNameExitsWithInvalidInput) {
  write_file(dir_ / "in.txt", "x\n");
  const auto result = run_memembed("embed --model " + model_.string() + " --input " + (dir_ / "in.txt").string() +
                                   " --output " + (dir_ / "out.jsonl").string() + " --prompt-name nope");
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("no prompt named \"nope\""), std::string::npos) << result.err;
}

TEST_F(EmbedCli, BenchReportsThroughputAgainstTheSgemmCeiling) {
  const auto result = run_memembed("bench --model " + model_.string() + " --texts 50 --repeats 1 --threads 2 --json " +
                                   (dir_ / "bench.json").string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const Json report = read_json_file(dir_ / "bench.json");
  EXPECT_EQ(report["texts"], 50);
  EXPECT_EQ(report["threads"], 2);
  EXPECT_GT(report["texts_per_second"].get<double>(), 0);
  EXPECT_GT(report["sgemm_ceiling_gflops"].get<double>(), 0);
  EXPECT_GT(report["peak_rss_bytes"].get<double>(), 0);
  EXPECT_NE(result.out.find("sgemm ceiling"), std::string::npos);
}

}  // namespace
