// Training: GradCache gives the full-batch gradient whatever the mini-batch; a run killed with
// SIGKILL resumes to the same weights as an uninterrupted one; two data-parallel ranks (c10d Gloo
// on loopback) end with the weights of one rank at the same global batch.
#include "tune_test_support.h"

#include "memembed/model.h"
#include "memembed/tune.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <c10/core/InferenceMode.h>

#include <cmath>

#include <chrono>
#include <thread>

extern char** environ;

using namespace memembed;
using memembed::testing::fixture_dir;
using memembed::testing::TempDir;
namespace fs = std::filesystem;

namespace {

class Training : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = fixture_dir("static-glove-25d");
    MEMEMBED_REQUIRE_SHARED(model_);
    dir_ = temp_.path();
    memembed::testing::prepare_training_data(dir_, 8, 8, model_);
  }

  std::vector<std::string> train_arguments(const fs::path& out, size_t steps) const {
    return {MEMEMBED_BINARY, "--quiet", "tune", "train", "--data", (dir_ / "data").string(), "--model", model_.string(),
            "--out", out.string(), "--batch-size", "16", "--mini-batch", "8", "--max-steps", std::to_string(steps),
            "--checkpoint-every", "2", "--threads", "1", "--lr", "1e-3"};
  }

  static pid_t spawn(std::vector<std::string> arguments) {
    std::vector<char*> argv;
    for (auto& argument : arguments) argv.push_back(argument.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    EXPECT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    return pid;
  }

  static int wait_for(pid_t pid) {
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  static at::Tensor table(const fs::path& model_dir) {
    return model::SentenceTransformer::load(model_dir)->parameters().at(0).detach().clone();
  }

  static double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

  fs::path model_;
  TempDir temp_;  // outlives the members declared after it
  fs::path dir_;
};

TEST_F(Training, GradCacheMatchesOneFullBatch) {
  auto train = [&](const std::string& name, size_t mini_batch) {
    tune::TrainOptions options;
    options.data_dir = dir_ / "data";
    options.base_model = model_;
    options.train_dir = dir_ / name / "train";
    options.export_dir = dir_ / name / "model";
    options.batch_size = 32;
    options.mini_batch = mini_batch;
    options.max_steps = 3;
    options.learning_rate = 1e-3;
    options.show_progress = false;
    const tune::TrainResult result = tune::train_model(options);
    EXPECT_EQ(result.steps, 3u);
    EXPECT_TRUE(fs::exists(dir_ / name / "train" / "loss.svg"));
    return table(dir_ / name / "model");
  };
  const at::Tensor full = train("full", 4096);
  const at::Tensor cached = train("cached", 3);
  // Float sums in another order; AdamW turns tiny gradient differences into up to ~lr x 1e-3.
  EXPECT_LE(max_diff(full, cached), 1e-5);
  EXPECT_GT(max_diff(full, table(model_)), 1e-4);  // it did train
}

TEST_F(Training, KilledRunResumesToTheSameWeights) {
  const size_t steps = 60;
  ASSERT_EQ(wait_for(spawn(train_arguments(dir_ / "straight", steps))), 0);

  const fs::path killed = dir_ / "killed";
  const pid_t pid = spawn(train_arguments(killed, steps));
  const fs::path state = killed / "train" / "checkpoint" / "state.json";
  size_t step_at_kill = 0;
  for (int i = 0; i < 6000 && step_at_kill < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    try {
      if (fs::exists(state)) step_at_kill = read_json_file(state)["step"].get<size_t>();
    } catch (const std::exception&) {
      // The checkpoint is being replaced right now.
    }
  }
  ::kill(pid, SIGKILL);
  wait_for(pid);
  ASSERT_LT(step_at_kill, steps) << "the run finished before it could be killed";
  ASSERT_FALSE(fs::exists(killed / "model"));

  ASSERT_EQ(wait_for(spawn(train_arguments(killed, steps))), 0);
  const Json log_result = read_json_file(killed / "train" / "train.json")["result"];
  EXPECT_GE(log_result["resumed_from"].get<size_t>(), 2u);
  EXPECT_EQ(max_diff(table(dir_ / "straight" / "model"), table(killed / "model")), 0.0);
  size_t lines = 0;
  for_each_jsonl(killed / "train" / "log.jsonl", [&](const Json&, size_t) { ++lines; });
  EXPECT_EQ(lines, steps);  // steps redone after the kill are logged once
}

TEST_F(Training, TwoRanksMatchOneRank) {
  const size_t steps = 4;
  ASSERT_EQ(wait_for(spawn(train_arguments(dir_ / "single", steps))), 0);
  std::vector<pid_t> ranks;
  for (int rank = 0; rank < 2; ++rank) {
    auto arguments = train_arguments(dir_ / ("rank" + std::to_string(rank)), steps);
    for (const std::string& extra : {std::string("--world-size"), std::string("2"), std::string("--rank"),
                                     std::to_string(rank), std::string("--master"), std::string("127.0.0.1:18311")}) {
      arguments.push_back(extra);
    }
    ranks.push_back(spawn(arguments));
  }
  for (pid_t pid : ranks) EXPECT_EQ(wait_for(pid), 0);
  EXPECT_LE(max_diff(table(dir_ / "single" / "model"), table(dir_ / "rank0" / "model")), 1e-5);
  EXPECT_FALSE(fs::exists(dir_ / "rank1" / "model"));  // rank 0 writes the model
}

}  // namespace

namespace {

at::Tensor embed_texts(const model::SentenceTransformer& model, const std::vector<std::string>& texts) {
  c10::InferenceMode guard;
  std::vector<std::vector<text::TokenId>> ids;
  for (const auto& text : texts) ids.push_back(model.tokenizer().encode(text).ids);
  std::vector<const std::vector<text::TokenId>*> rows;
  for (const auto& row : ids) rows.push_back(&row);
  model::Features features = model::pad_batch(rows, model.tokenizer());
  return model.forward(features).clone();
}

TEST(TransformerTraining, BertTrainsAndItsExportReloadsExactly) {
  const fs::path base = fixture_dir("bert-tiny");
  MEMEMBED_REQUIRE_SHARED(base);
  const TempDir dir_temp;
  const fs::path dir = dir_temp.path();
  memembed::testing::prepare_training_data(dir, 6, 6, base, 40);
  tune::TrainOptions options;
  options.data_dir = dir / "data";
  options.base_model = base;
  options.train_dir = dir / "train";
  options.export_dir = dir / "model";
  options.batch_size = 8;
  options.mini_batch = 4;  // GradCache through the differentiable attention path
  options.max_steps = 2;
  options.learning_rate = 1e-3;
  options.show_progress = false;
  const tune::TrainResult result = tune::train_model(options);
  EXPECT_EQ(result.steps, 2u);
  EXPECT_TRUE(std::isfinite(result.final_loss));

  const std::vector<std::string> texts = {"the team reviewed the budget report", "alice visited the hospital", ""};
  const auto trained = model::SentenceTransformer::load(dir / "model");
  const auto original = model::SentenceTransformer::load(base);
  EXPECT_GT((embed_texts(*trained, texts) - embed_texts(*original, texts)).abs().max().item<double>(), 1e-5);
  trained->save(dir / "again");
  const auto reloaded = model::SentenceTransformer::load(dir / "again");
  EXPECT_LE((embed_texts(*trained, texts) - embed_texts(*reloaded, texts)).abs().max().item<double>(), 1e-6);
}

}  // namespace
