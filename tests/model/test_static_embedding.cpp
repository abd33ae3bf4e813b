// Static embedding models: the real GloVe fixture reproduces its reference (token ids exact,
// embeddings 1e-5), padding never leaks into the mean, an empty text is the zero vector, and both
// on-disk layouts (sentence-transformers StaticEmbedding, model2vec) load and save back as they were.
#include "fixture_support.h"
#include "memembed/error.h"
#include "memembed/json_io.h"
#include "memembed/model.h"
#include "safetensors.h"

#include <c10/core/InferenceMode.h>

using namespace memembed;
using memembed::testing::fixture_dir;
using memembed::testing::max_abs_diff;
using memembed::testing::TempDir;
using memembed::testing::write_file;
namespace fs = std::filesystem;

namespace {

at::Tensor embed_ids(const model::SentenceTransformer& model, const std::vector<std::vector<int64_t>>& rows) {
  c10::InferenceMode guard;
  size_t length = 1;
  for (const auto& row : rows) length = std::max(length, row.size());
  at::Tensor ids = at::zeros({static_cast<int64_t>(rows.size()), static_cast<int64_t>(length)}, at::kLong);
  at::Tensor mask = at::zeros_like(ids);
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t t = 0; t < rows[r].size(); ++t) {
      ids[static_cast<int64_t>(r)][static_cast<int64_t>(t)] = rows[r][t];
      mask[static_cast<int64_t>(r)][static_cast<int64_t>(t)] = 1;
    }
  }
  model::Features features;
  features.input_ids = ids;
  features.attention_mask = mask;
  return model.forward(features).contiguous();
}

std::vector<int64_t> tokenize(const model::SentenceTransformer& model, const std::string& text) {
  const auto ids = model.tokenizer().encode(text, {model.add_special_tokens(), model.max_seq_length()}).ids;
  return {ids.begin(), ids.end()};
}

class StaticEmbedding : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = fixture_dir("static-glove-25d");
    MEMEMBED_REQUIRE_SHARED(source_);
    expected_ = read_json_file(source_ / "expected.json");
    model::set_compute_threads(2);
  }

  // A model2vec directory holding the fixture's table and tokenizer.
  fs::path make_model2vec(bool normalize) {
    const fs::path dir = temp_ / (normalize ? "model2vec" : "model2vec_raw");
    fs::create_directories(dir);
    const model::SafetensorsFile source(source_ / "0_StaticEmbedding" / "model.safetensors");
    model::write_safetensors(dir / "model.safetensors",
                             {{"embeddings", source.read_float32(*source.find("embedding.weight"))}});
    fs::copy_file(source_ / "0_StaticEmbedding" / "tokenizer.json", dir / "tokenizer.json");
    write_json_file(dir / "config.json", Json{{"model_type", "model2vec"}, {"normalize", normalize},
                                              {"hidden_dim", 25}});
    return dir;
  }

  TempDir temp_;
  fs::path source_;
  Json expected_;
};

TEST_F(StaticEmbedding, EveryCaseMatchesTheReference) {
  const auto model = model::SentenceTransformer::load(source_);
  EXPECT_EQ(model->architecture(), "StaticEmbedding");
  EXPECT_EQ(model->embedding_dimension(), expected_["embedding_dim"].get<size_t>());
  EXPECT_FALSE(model->add_special_tokens());
  const double tolerance = expected_["tolerance"]["embedding_max_abs_diff"].get<double>();
  std::vector<std::vector<int64_t>> all_ids;
  for (const auto& item : expected_["cases"]) {
    const auto ids = tokenize(*model, item["text"].get<std::string>());
    EXPECT_EQ(ids, item["token_ids"].get<std::vector<int64_t>>()) << item["id"];
    const at::Tensor embedding = embed_ids(*model, {ids});
    EXPECT_LE(max_abs_diff(embedding.data_ptr<float>(), item["embedding"].get<std::vector<double>>()), tolerance)
        << item["id"];
    all_ids.push_back(ids);
  }
  // One padded batch of every case (the empty text included) gives the same vectors.
  const at::Tensor batch = embed_ids(*model, all_ids);
  for (size_t i = 0; i < all_ids.size(); ++i) {
    const auto reference = expected_["cases"][i]["embedding"].get<std::vector<double>>();
    EXPECT_LE(max_abs_diff(batch[static_cast<int64_t>(i)].data_ptr<float>(), reference), tolerance) << i;
  }
}

TEST_F(StaticEmbedding, EmptyTextIsTheZeroVector) {
  const auto model = model::SentenceTransformer::load(source_);
  const at::Tensor embedding = embed_ids(*model, {{}, tokenize(*model, "hello world")});
  EXPECT_EQ(embedding[0].abs().sum().item<float>(), 0.0f);
  EXPECT_NEAR(embedding[1].norm().item<float>(), 1.0f, 1e-6);
}

TEST_F(StaticEmbedding, SavesInTheSentenceTransformersLayout) {
  const auto model = model::SentenceTransformer::load(source_);
  const TempDir saved_temp;
  const fs::path saved = saved_temp.path();
  model->save(saved);
  const model::SafetensorsFile weights(saved / "0_StaticEmbedding" / "model.safetensors");
  ASSERT_NE(weights.find("embedding.weight"), nullptr);
  EXPECT_TRUE(fs::exists(saved / "0_StaticEmbedding" / "tokenizer.json"));
  const Json modules = read_json_file(saved / "modules.json");
  EXPECT_EQ(modules[0]["type"], "sentence_transformers.models.StaticEmbedding");
  EXPECT_EQ(modules[0]["path"], "0_StaticEmbedding");
  EXPECT_EQ(modules[1]["type"], "sentence_transformers.models.Normalize");
  const auto reloaded = model::SentenceTransformer::load(saved);
  const auto ids = tokenize(*model, "Deployed the billing service to production on Monday.");
  EXPECT_TRUE(at::equal(embed_ids(*model, {ids}), embed_ids(*reloaded, {ids})));
}

TEST_F(StaticEmbedding, Model2VecDirectoryLoadsWithItsSemantics) {
  const auto reference = model::SentenceTransformer::load(source_);
  const auto m2v = model::SentenceTransformer::load(make_model2vec(true));
  EXPECT_EQ(m2v->architecture(), "StaticEmbedding");
  EXPECT_EQ(m2v->embedding_dimension(), 25u);
  const auto known = tokenize(*m2v, "what is the capital of france");
  EXPECT_TRUE(at::allclose(embed_ids(*m2v, {known}), embed_ids(*reference, {known}), 0, 1e-7));
  // Before normalisation: model2vec leaves the unknown word out of the mean, sentence-transformers
  // averages its [UNK] row (zero here) in, which scales the mean by 6/7.
  const auto with_unknown = tokenize(*m2v, "zxqv what is the capital of france");
  ASSERT_EQ(with_unknown.size(), known.size() + 1);
  const auto raw = model::SentenceTransformer::load(make_model2vec(false));
  EXPECT_LE((embed_ids(*raw, {with_unknown}) - embed_ids(*raw, {known})).abs().max().item<float>(), 1e-5);
  auto table_mean = [&](const std::vector<int64_t>& ids) {
    c10::InferenceMode guard;
    model::Features features;
    features.input_ids = at::tensor(ids, at::kLong).unsqueeze(0);
    features.attention_mask = at::ones_like(features.input_ids);
    reference->modules().front()->forward(features);
    return features.sentence_embedding;
  };
  EXPECT_LE((table_mean(with_unknown) - table_mean(known) * (6.0 / 7.0)).abs().max().item<float>(), 1e-5);
  // Only unknown words: nothing to average, the zero vector.
  EXPECT_EQ(embed_ids(*m2v, {tokenize(*m2v, "zxqv qwrtp")}).abs().sum().item<float>(), 0.0f);
}

TEST_F(StaticEmbedding, Model2VecNormalizeFlagDecidesTheNormalizeStage) {
  const auto raw = model::SentenceTransformer::load(make_model2vec(false));
  EXPECT_EQ(raw->modules().size(), 1u);
  const auto ids = tokenize(*raw, "the quick brown fox");
  EXPECT_GT(std::abs(embed_ids(*raw, {ids}).norm().item<float>() - 1.0f), 1e-3);
  const auto normalized = model::SentenceTransformer::load(make_model2vec(true));
  EXPECT_EQ(normalized->modules().size(), 2u);
  EXPECT_NEAR(embed_ids(*normalized, {ids}).norm().item<float>(), 1.0f, 1e-6);
}

TEST_F(StaticEmbedding, Model2VecSavesBackInItsLayout) {
  const auto model = model::SentenceTransformer::load(make_model2vec(true));
  const TempDir saved_temp;
  const fs::path saved = saved_temp.path();
  model->save(saved);
  const model::SafetensorsFile weights(saved / "model.safetensors");
  EXPECT_NE(weights.find("embeddings"), nullptr);
  EXPECT_EQ(read_json_file(saved / "config.json")["normalize"], true);
  EXPECT_TRUE(fs::exists(saved / "tokenizer.json"));
  // Without modules.json too, as model2vec itself reads it.
  fs::remove(saved / "modules.json");
  const auto reloaded = model::SentenceTransformer::load(saved);
  const auto ids = tokenize(*model, "zxqv alice prefers morning reviews");
  EXPECT_TRUE(at::equal(embed_ids(*model, {ids}), embed_ids(*reloaded, {ids})));
}

TEST_F(StaticEmbedding, BrokenDirectoriesNameTheProblem) {
  const fs::path dir = make_model2vec(true);
  auto load_error = [&] {
    try {
      model::SentenceTransformer::load(dir);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  model::write_safetensors(dir / "model.safetensors", {{"embeddings", at::zeros({10, 4})}});
  EXPECT_NE(load_error().find("the tokenizer has 11926 tokens but \"embeddings\" has only 10 rows"), std::string::npos)
      << load_error();
  model::write_safetensors(dir / "model.safetensors", {{"table", at::zeros({11926, 4})}});
  EXPECT_NE(load_error().find("no tensor \"embedding.weight\""), std::string::npos) << load_error();
  model::write_safetensors(dir / "model.safetensors", {{"embeddings", at::zeros({11926, 4})}});
  fs::remove(dir / "tokenizer.json");
  EXPECT_NE(load_error().find("missing tokenizer.json"), std::string::npos) << load_error();
  write_file(dir / "config.json", R"({"model_type": "model2vec", "normalize": "yes"})");
  EXPECT_NE(load_error().find("\"normalize\" must be true or false"), std::string::npos) << load_error();
}

}  // namespace
