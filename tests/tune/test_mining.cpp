// The positive-aware filter: no negative scores above threshold x the positive's score, a
// positive or related chunk is never a negative, and every slot is accounted for. Mining sharded
// over two data-parallel ranks (c10d Gloo on loopback) gives what one process gives.
#include "tune_test_support.h"

#include "memembed/embed.h"
#include "memembed/tune.h"

#include <map>
#include <thread>

using namespace memembed;
using memembed::testing::fixture_dir;
using memembed::testing::TempDir;
namespace fs = std::filesystem;

namespace {

float dot(const float* a, const float* b, size_t dim) {
  float sum = 0;
  for (size_t i = 0; i < dim; ++i) sum += a[i] * b[i];
  return sum;
}

TEST(Mining, FilterHoldsAndSlotsAddUp) {
  const fs::path model = fixture_dir("static-glove-25d");
  MEMEMBED_REQUIRE_SHARED(model);
  const TempDir dir_temp;
  const fs::path dir = dir_temp.path();
  memembed::testing::prepare_training_data(dir, 12, 8);

  // GloVe means of sentences from one template are all alike (cosine ~0.99): at 0.95 the filter
  // drops nearly every candidate; at 0.999 many pass.
  size_t checked = 0;
  for (const double threshold : {0.95, 0.999}) {
    tune::MineOptions options;
    options.data_dir = dir / "data";
    options.base_model = model;
    options.threshold = threshold;
    options.negatives = 4;
    options.block_rows = 7;  // many corpus blocks: the chunked top-k must merge them
    const tune::MiningReport report = tune::mine_hard_negatives(options);
    EXPECT_EQ(report.hard + report.random + report.empty, report.slots);
    EXPECT_EQ(report.slots, report.queries * 4);

    std::map<std::string, std::string> chunk_text;
    for_each_jsonl(dir / "data" / "chunks.jsonl", [&](const Json& chunk, size_t) {
      chunk_text[chunk["id"].get<std::string>()] = chunk["text"].get<std::string>();
    });
    embed::EncoderOptions encoder_options;
    const embed::Encoder encoder(model, encoder_options);
    for_each_jsonl(dir / "data" / "negatives.jsonl", [&](const Json& example, size_t) {
      std::vector<std::string> texts = {example["query"].get<std::string>(), chunk_text[example["positive"].get<std::string>()]};
      const auto negatives = example["negatives"].get<std::vector<std::string>>();
      for (const auto& id : negatives) {
        EXPECT_NE(id, example["positive"].get<std::string>());
        texts.push_back(chunk_text.at(id));
      }
      const embed::Embeddings vectors = encoder.encode(texts);
      const float positive = dot(vectors.row(0), vectors.row(1), vectors.dim);
      for (size_t i = 2; i < texts.size(); ++i) {
        EXPECT_LE(dot(vectors.row(0), vectors.row(i), vectors.dim), threshold * positive + 1e-5)
            << "threshold " << threshold << ", query " << example["query_id"];
        ++checked;
      }
    });
  }
  EXPECT_GT(checked, 0u);
}

TEST(Mining, TwoRanksMineWhatOneProcessMines) {
  const fs::path model = fixture_dir("static-glove-25d");
  MEMEMBED_REQUIRE_SHARED(model);
  const TempDir dir;
  memembed::testing::prepare_training_data(dir.path() / "single", 12, 9);  // 9: shares of unequal size
  for (const char* rank : {"rank0", "rank1"}) fs::copy(dir.path() / "single", dir.path() / rank, fs::copy_options::recursive);

  auto options_for = [&](const char* name) {
    tune::MineOptions options;
    options.data_dir = dir.path() / name / "data";
    options.base_model = model;
    options.threshold = 0.999;  // most candidates pass: the negatives are mined, not random fill
    return options;
  };
  const tune::MiningReport single = tune::mine_hard_negatives(options_for("single"));
  ASSERT_GT(single.hard, 0u);

  tune::MiningReport reports[2];
  std::thread ranks[2];
  for (int rank = 0; rank < 2; ++rank) {
    ranks[rank] = std::thread([&, rank] {
      tune::MineOptions options = options_for(rank == 0 ? "rank0" : "rank1");
      options.parallel = {2, rank, "127.0.0.1:18312"};
      reports[rank] = tune::mine_hard_negatives(options);
    });
  }
  for (auto& rank : ranks) rank.join();

  EXPECT_EQ(memembed::testing::read_jsonl(dir.path() / "rank0" / "data" / "negatives.jsonl"),
            memembed::testing::read_jsonl(dir.path() / "single" / "data" / "negatives.jsonl"));
  EXPECT_FALSE(fs::exists(dir.path() / "rank1" / "data" / "negatives.jsonl"));  // rank 0 writes
  for (const auto& report : reports) EXPECT_EQ(report.to_json(), single.to_json());
}

}  // namespace
