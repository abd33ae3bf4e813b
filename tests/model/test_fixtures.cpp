// Every fixture model must reproduce the reference embeddings in its expected.json from the
// reference token ids: per case, per padded batch, and the last hidden state of the first case.
#include "fixture_support.h"
#include "sentencepiece_support.h"
#include "memembed/json_io.h"
#include "memembed/model.h"

#include <c10/core/InferenceMode.h>

using namespace memembed;
using memembed::testing::fixture_dir;
using memembed::testing::max_abs_diff;

namespace {

class FixtureModel : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = fixture_dir(GetParam());
    MEMEMBED_REQUIRE_SHARED(dir_);
    MEMEMBED_REQUIRE_TOKENIZER_LOADS(dir_);
    expected_ = read_json_file(dir_ / "expected.json");
    model_ = model::SentenceTransformer::load(dir_);
    model::set_compute_threads(2);
  }

  at::Tensor run(const std::vector<std::vector<int64_t>>& ids, const std::vector<std::vector<int64_t>>& mask) {
    c10::InferenceMode guard;
    auto to_tensor = [](const std::vector<std::vector<int64_t>>& rows) {
      std::vector<int64_t> flat;
      for (const auto& row : rows) flat.insert(flat.end(), row.begin(), row.end());
      return at::tensor(flat, at::kLong).view({static_cast<int64_t>(rows.size()), -1});
    };
    model::Features features;
    features.input_ids = to_tensor(ids);
    features.attention_mask = to_tensor(mask);
    return model_->forward(features).contiguous();
  }

  std::filesystem::path dir_;
  Json expected_;
  std::unique_ptr<model::SentenceTransformer> model_;
};

TEST_P(FixtureModel, DeclaredShapeMatches) {
  EXPECT_EQ(model_->embedding_dimension(), expected_["embedding_dim"].get<size_t>());
  EXPECT_EQ(model_->max_seq_length(), expected_["max_seq_length"].get<size_t>());
  EXPECT_EQ(model_->architecture(), expected_["architecture"].get<std::string>());
}

TEST_P(FixtureModel, EveryCaseMatchesFromTokenIds) {
  const double tolerance = expected_["tolerance"]["embedding_max_abs_diff"].get<double>();
  size_t checked = 0;
  for (const auto& item : expected_["cases"]) {
    const auto ids = item["token_ids"].get<std::vector<int64_t>>();
    const at::Tensor embedding = run({ids}, {std::vector<int64_t>(ids.size(), 1)});
    const auto reference = item["embedding"].get<std::vector<double>>();
    ASSERT_EQ(embedding.size(1), static_cast<int64_t>(reference.size()));
    EXPECT_LE(max_abs_diff(embedding.data_ptr<float>(), reference), tolerance) << "case " << item["id"];
    ++checked;
  }
  EXPECT_GE(checked, 26u);
}

TEST_P(FixtureModel, PaddedBatchesMatch) {
  const double tolerance = expected_["tolerance"]["embedding_max_abs_diff"].get<double>();
  ASSERT_FALSE(expected_["batches"].empty());
  for (const auto& batch : expected_["batches"]) {
    const at::Tensor embeddings = run(batch["input_ids"].get<std::vector<std::vector<int64_t>>>(),
                                      batch["attention_mask"].get<std::vector<std::vector<int64_t>>>());
    const auto reference = batch["embeddings"].get<std::vector<std::vector<double>>>();
    for (size_t r = 0; r < reference.size(); ++r) {
      EXPECT_LE(max_abs_diff(embeddings[static_cast<int64_t>(r)].data_ptr<float>(), reference[r]), tolerance)
          << batch["note"] << " row " << r;
    }
  }
}

TEST_P(FixtureModel, LastHiddenStateOfFirstCase) {
  const auto& debug = expected_["debug_first_case"];
  const auto ids = debug["token_ids"].get<std::vector<int64_t>>();
  c10::InferenceMode guard;
  model::Features features;
  features.input_ids = at::tensor(ids, at::kLong).unsqueeze(0);
  features.attention_mask = at::ones_like(features.input_ids);
  model_->modules().front()->forward(features);
  const at::Tensor hidden = features.token_embeddings[0].contiguous();
  const auto reference = debug["last_hidden_state"].get<std::vector<std::vector<double>>>();
  const double tolerance = expected_["tolerance"]["last_hidden_state_max_abs_diff"].get<double>();
  for (size_t t = 0; t < reference.size(); ++t) {
    EXPECT_LE(max_abs_diff(hidden[static_cast<int64_t>(t)].data_ptr<float>(), reference[t]), tolerance) << "token " << t;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureModel, ::testing::Values("bert-tiny", "bert-tiny-cls", "bert-tiny-f16",
                                                                  "gemma3-embed-tiny", "qwen3-embed-tiny"));

}  // namespace
