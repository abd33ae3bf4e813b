// `memembed tune run` end to end on a small document folder with the GloVe static model: the
// report has the fields, a rerun resumes (nothing is redone), paths are validated, and
// deploy / rollback keep the previous embedder config.
#include "cli_support.h"

#include <fmt/format.h>

using namespace memembed;
using memembed::testing::fixture_dir;
using memembed::testing::run_memembed;
using memembed::testing::TempDir;
using memembed::testing::write_file;
namespace fs = std::filesystem;

namespace {

void write_notes(const fs::path& dir) {
  const char* topics[] = {"billing", "travel", "kitchen", "garden", "music", "football", "hospital", "school"};
  const char* verbs[] = {"changed", "reviewed", "planned", "cancelled", "fixed", "visited"};
  const char* times[] = {"on monday", "last week", "after lunch", "at night", "yesterday"};
  for (int f = 0; f < 8; ++f) {
    std::string text = "# " + std::string(topics[f]) + "\n\n";
    for (int p = 0; p < 6; ++p) {
      for (int s = 0; s < 3; ++s) {
        text += fmt::format("The {} team {} the {} plan {}. ", topics[(f + s) % 8], verbs[(p + s) % 6], topics[(f + p) % 8],
                            times[(p * 3 + s) % 5]);
      }
      text += "\n\n";
    }
    write_file(dir / fmt::format("{}.md", topics[f]), text);
  }
}

TEST(TuneCli, RunWritesTheReportAndResumes) {
  const fs::path model = fixture_dir("static-glove-25d");
  MEMEMBED_REQUIRE_SHARED(model);
  const TempDir dir_temp;
  const fs::path dir = dir_temp.path();
  write_notes(dir / "docs");
  const std::string run = (dir / "run").string();
  const std::string arguments = "--quiet tune run --docs " + (dir / "docs").string() + " --base-model " + model.string() +
                                " --out " + run + " --max-steps 4 --batch-size 16 --threads 1 --force-deploy";
  const auto first = run_memembed(arguments);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const Json report = read_json_file(dir / "run" / "report.json");
  EXPECT_EQ(report["status"], "complete");
  for (const char* side : {"base", "tuned"}) {
    for (const char* measure : {"ndcg_at_10", "recall_at_10", "recall_at_60"}) {
      EXPECT_TRUE(report[side][measure].is_number()) << side << "." << measure;
    }
  }
  EXPECT_TRUE(report["deployed"].get<bool>());
  EXPECT_TRUE(fs::exists(dir / "run" / "model" / "modules.json"));
  EXPECT_TRUE(fs::exists(dir / "run" / "eval" / "qrels" / "test.tsv"));
  EXPECT_TRUE(fs::exists(dir / "run" / "train" / "loss.svg"));
  const Json config = read_json_file(dir / "run" / "embedder.json");
  EXPECT_TRUE(config["fine_tune"]["enabled"].get<bool>());
  EXPECT_EQ(config["fine_tune"]["checkpoint_path"], fs::weakly_canonical(dir / "run" / "model").string());
  EXPECT_EQ(config["dims"], 25);

  // The tuned model is a model directory `embed` loads.
  write_file(dir / "texts.txt", "the billing plan\n");
  const auto embedded = run_memembed("--quiet embed --model " + run + "/model --input " + (dir / "texts.txt").string() +
                                     " --output " + (dir / "out.jsonl").string());
  EXPECT_EQ(embedded.exit_code, 0) << embedded.err;

  // A rerun finds every stage done: same report, training not repeated.
  const std::string log = read_file(dir / "run" / "train" / "log.jsonl");
  const auto second = run_memembed(arguments);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(read_file(dir / "run" / "train" / "log.jsonl"), log);
  EXPECT_EQ(read_json_file(dir / "run" / "report.json")["tuned"], report["tuned"]);

  // Other settings in the same run directory are refused.
  const auto other = run_memembed(arguments + " --seed 7");
  EXPECT_EQ(other.exit_code, 3);
  EXPECT_NE(other.err.find("other settings"), std::string::npos) << other.err;
}

TEST(TuneCli, RunDirectoryMayNotOverlapItsInputs) {
  const fs::path model = fixture_dir("static-glove-25d");
  MEMEMBED_REQUIRE_SHARED(model);
  const TempDir dir_temp;
  const fs::path dir = dir_temp.path();
  write_notes(dir / "docs");
  const auto inside_docs = run_memembed("--quiet tune run --docs " + (dir / "docs").string() + " --base-model " +
                                        model.string() + " --out " + (dir / "docs" / "run").string());
  EXPECT_EQ(inside_docs.exit_code, 3);
  EXPECT_NE(inside_docs.err.find("must not contain one another"), std::string::npos) << inside_docs.err;
  EXPECT_FALSE(fs::exists(dir / "docs" / "run"));
}

TEST(TuneCli, DeployKeepsThePreviousConfigForRollback) {
  const fs::path model = fixture_dir("static-glove-25d");
  MEMEMBED_REQUIRE_SHARED(model);
  const TempDir dir_temp;
  const fs::path dir = dir_temp.path();
  const std::string config = (dir / "embedder.json").string();
  const auto first = run_memembed("--quiet tune deploy --config " + config + " --model " + model.string() +
                                  " --base-model " + model.string());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string original = read_file(config);
  const auto second = run_memembed("--quiet tune deploy --config " + config + " --model " + model.string() +
                                   " --base-model " + model.string() + " --data " + dir.string());
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(read_file(config + ".previous"), original);
  EXPECT_NE(read_file(config), original);
  ASSERT_EQ(run_memembed("--quiet tune deploy --config " + config + " --rollback").exit_code, 0);
  EXPECT_EQ(read_file(config), original);
  EXPECT_EQ(run_memembed("--quiet tune deploy --config " + config + " --rollback").exit_code, 4);  // nothing left
}

}  // namespace
