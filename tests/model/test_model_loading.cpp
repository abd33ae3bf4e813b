// Loading a model directory: each broken or unusual file gives a specific error; both pooling
// spellings load; a saved model loads back and computes the same embeddings.
#include "fixture_support.h"
#include "memembed/error.h"
#include "memembed/json_io.h"
#include "memembed/model.h"
#include "safetensors.h"
#include "st_modules.h"

#include <c10/core/InferenceMode.h>

using namespace memembed;
using memembed::testing::fixture_dir;
using memembed::testing::TempDir;
using memembed::testing::write_file;
namespace fs = std::filesystem;

namespace {

class ModelLoading : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = fixture_dir("bert-tiny");
    MEMEMBED_REQUIRE_SHARED(source_);
    dir_ = scratch_ / "model";
    fs::copy(source_, dir_, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  }

  std::string load_error() {
    try {
      model::SentenceTransformer::load(dir_);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  at::Tensor embed(const model::SentenceTransformer& model, const std::vector<int64_t>& ids) {
    c10::InferenceMode guard;
    model::Features features;
    features.input_ids = at::tensor(ids, at::kLong).unsqueeze(0);
    features.attention_mask = at::ones_like(features.input_ids);
    return model.forward(features).clone();
  }

  TempDir scratch_;
  fs::path source_, dir_;
};

TEST_F(ModelLoading, MissingDirectoryIsNotFound) {
  try {
    model::SentenceTransformer::load(dir_ / "nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
  }
}

TEST_F(ModelLoading, MissingConfigNamesTheFile) {
  fs::remove(dir_ / "config.json");
  EXPECT_NE(load_error().find("config.json: no such file"), std::string::npos) << load_error();
}

TEST_F(ModelLoading, MalformedConfigNamesTheFile) {
  write_file(dir_ / "config.json", "{\"hidden_size\": 32,");
  EXPECT_NE(load_error().find("config.json: malformed JSON"), std::string::npos) << load_error();
}

TEST_F(ModelLoading, UnknownArchitectureListsTheKnownOnes) {
  Json config = read_json_file(dir_ / "config.json");
  config["architectures"] = {"MambaModel"};
  config["model_type"] = "mamba";
  write_json_file(dir_ / "config.json", config);
  const std::string message = load_error();
  EXPECT_NE(message.find("unknown architecture \"MambaModel\""), std::string::npos) << message;
  EXPECT_NE(message.find("BertModel"), std::string::npos) << message;
}

TEST_F(ModelLoading, ConfigDisagreeingWithWeightsNamesTensorAndShapes) {
  Json config = read_json_file(dir_ / "config.json");
  config["intermediate_size"] = 128;
  write_json_file(dir_ / "config.json", config);
  const std::string message = load_error();
  EXPECT_NE(message.find("intermediate.dense.weight\" has shape [64, 32] but config.json implies [128, 32]"),
            std::string::npos) << message;
}

TEST_F(ModelLoading, MissingWeightsAreNamed) {
  fs::remove(dir_ / "model.safetensors");
  EXPECT_NE(load_error().find("no model weights"), std::string::npos) << load_error();
}

TEST_F(ModelLoading, CorruptWeightsAreRefused) {
  const std::string bytes = memembed::testing::read_file(source_ / "model.safetensors");
  write_file(dir_ / "model.safetensors", bytes.substr(0, bytes.size() / 2));
  EXPECT_NE(load_error().find("truncated file"), std::string::npos) << load_error();
}

TEST_F(ModelLoading, UnknownPoolingModeListsValidOnes) {
  write_file(dir_ / "1_Pooling/config.json", R"({"word_embedding_dimension": 32, "pooling_mode": "median"})");
  const std::string message = load_error();
  EXPECT_NE(message.find("pooling_mode \"median\" is not one of: cls, max, mean"), std::string::npos) << message;
}

TEST_F(ModelLoading, PoolingStringAndLegacyFlagsAgree) {
  const auto legacy = model::SentenceTransformer::load(dir_);
  write_file(dir_ / "1_Pooling/config.json", R"({"word_embedding_dimension": 32, "pooling_mode": "mean"})");
  const auto modern = model::SentenceTransformer::load(dir_);
  const std::vector<int64_t> ids = {101, 7592, 2088, 102};
  EXPECT_TRUE(at::allclose(embed(*legacy, ids), embed(*modern, ids), 0, 0));
}

TEST_F(ModelLoading, WithoutModulesJsonFallsBackToMeanPoolingUnnormalised) {
  fs::remove(dir_ / "modules.json");
  const auto model = model::SentenceTransformer::load(dir_);
  ASSERT_EQ(model->modules().size(), 2u);
  const auto* pooling = dynamic_cast<const model::PoolingModule*>(model->modules()[1].get());
  ASSERT_NE(pooling, nullptr);
  EXPECT_EQ(pooling->modes(), std::vector<model::PoolingMode>{model::PoolingMode::Mean});
}

TEST_F(ModelLoading, MalformedModulesJsonIsRefused) {
  write_file(dir_ / "modules.json", R"([{"idx": 0, "path": ""}])");
  EXPECT_NE(load_error().find("missing field \"type\""), std::string::npos) << load_error();
  write_file(dir_ / "modules.json", R"([{"type": "sentence_transformers.models.Pooling", "path": "1_Pooling"}])");
  EXPECT_NE(load_error().find("first module must be a sentence_transformers.models.Transformer"), std::string::npos);
}

TEST_F(ModelLoading, SavedModelLoadsBackWithIdenticalEmbeddings) {
  const auto model = model::SentenceTransformer::load(dir_);
  const fs::path saved = scratch_ / "saved";
  model->save(saved);
  for (const char* file : {"modules.json", "config.json", "model.safetensors", "1_Pooling/config.json",
                           "sentence_bert_config.json", "config_sentence_transformers.json", "tokenizer.json"}) {
    EXPECT_TRUE(fs::exists(saved / file)) << file;
  }
  const auto reloaded = model::SentenceTransformer::load(saved);
  EXPECT_EQ(reloaded->prompts(), model->prompts());
  EXPECT_EQ(reloaded->max_seq_length(), model->max_seq_length());
  const std::vector<int64_t> ids = {101, 1996, 4248, 2829, 4419, 102};
  EXPECT_TRUE(at::equal(embed(*model, ids), embed(*reloaded, ids)));
}

TEST_F(ModelLoading, XlmRobertaPositionsStartAfterThePaddingIndex) {
  // bert-tiny's weights with position rows shifted by padding_idx + 1 and RoBERTa's position
  // scheme must give exactly bert-tiny's embeddings.
  const auto bert = model::SentenceTransformer::load(dir_);
  Json config = read_json_file(dir_ / "config.json");
  config["architectures"] = {"XLMRobertaModel"};
  config["model_type"] = "xlm-roberta";
  config["pad_token_id"] = 1;
  config["max_position_embeddings"] = 514;
  write_json_file(dir_ / "config.json", config);
  std::vector<std::pair<std::string, at::Tensor>> weights;
  const auto& bert_transformer = static_cast<const model::TransformerModule&>(*bert->modules().front());
  for (auto [name, tensor] : bert_transformer.backbone().named_weights()) {
    if (name == "embeddings.position_embeddings.weight") tensor = at::cat({at::zeros({2, tensor.size(1)}), tensor});
    weights.emplace_back(name, tensor);
  }
  model::write_safetensors(dir_ / "model.safetensors", weights);
  const auto roberta = model::SentenceTransformer::load(dir_);
  const std::vector<int64_t> ids = {101, 1996, 4248, 2829, 102};
  EXPECT_TRUE(at::allclose(embed(*bert, ids), embed(*roberta, ids), 0, 1e-6));
}

TEST_F(ModelLoading, ModulePathsMayNotLeaveTheModelDirectory) {
  for (const std::string& path : {std::string("../1_Pooling"), std::string("/etc"), std::string("a/../../x")}) {
    write_file(dir_ / "modules.json",
               Json::array({{{"type", "sentence_transformers.models.Transformer"}, {"path", ""}},
                            {{"type", "sentence_transformers.models.Pooling"}, {"path", path}}})
                   .dump());
    const std::string message = load_error();
    EXPECT_NE(message.find("outside the directory"), std::string::npos) << path << ": " << message;
  }
}

// Found by the model_directory fuzzer: [Transformer, Normalize] loaded, and its forward pass threw
// from inside libtorch (norm of an undefined sentence embedding).
TEST_F(ModelLoading, ModulesThatProduceNoSentenceEmbeddingAreInvalidInput) {
  const std::string transformer = "sentence_transformers.models.Transformer";
  const std::string normalize = "sentence_transformers.models.Normalize";
  for (const Json& modules : {Json::array({{{"type", transformer}, {"path", ""}}, {{"type", normalize}, {"path", ""}}}),
                              Json::array({{{"type", transformer}, {"path", ""}}})}) {
    write_file(dir_ / "modules.json", modules.dump());
    const std::string message = load_error();
    EXPECT_NE(message.find("modules.json"), std::string::npos) << modules.dump() << ": " << message;
    EXPECT_NE(message.find("Pooling"), std::string::npos) << modules.dump() << ": " << message;
  }
}

// Every size in config.json is checked before it is divided by or allocated.
class ConfigSizes : public ::testing::TestWithParam<std::tuple<const char*, const char*, int64_t>> {};

TEST_P(ConfigSizes, ZeroOrNegativeSizeIsInvalidInputNamingTheField) {
  const auto [fixture, field, value] = GetParam();
  const fs::path source = fixture_dir(fixture);
  MEMEMBED_REQUIRE_SHARED(source);
  const TempDir scratch;
  const fs::path dir = scratch / "model";
  fs::copy(source, dir, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  Json config = read_json_file(dir / "config.json");
  config[field] = value;
  write_json_file(dir / "config.json", config);
  try {
    model::SentenceTransformer::load(dir);
    FAIL() << field << " = " << value << " was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput) << e.what();
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryArchitecture, ConfigSizes,
    ::testing::Values(std::make_tuple("bert-tiny", "num_attention_heads", 0),
                      std::make_tuple("bert-tiny", "hidden_size", 0),
                      std::make_tuple("bert-tiny", "num_hidden_layers", -1),
                      std::make_tuple("bert-tiny", "vocab_size", -5),
                      std::make_tuple("bert-tiny", "type_vocab_size", 0),
                      std::make_tuple("qwen3-embed-tiny", "num_attention_heads", 0),
                      std::make_tuple("qwen3-embed-tiny", "num_key_value_heads", 0),
                      std::make_tuple("qwen3-embed-tiny", "head_dim", -16),
                      std::make_tuple("qwen3-embed-tiny", "max_position_embeddings", 0),
                      std::make_tuple("gemma3-embed-tiny", "num_attention_heads", 0),
                      std::make_tuple("gemma3-embed-tiny", "sliding_window", 0),
                      std::make_tuple("gemma3-embed-tiny", "intermediate_size", -128)));

}  // namespace

// A process with libtorch holds libprotobuf, to which SentencePiece's own protobuf must not bind.
// Release builds isolate it (RTLD_DEEPBIND); sanitizer builds cannot, and refuse with Unsupported
// where the second load once crashed inside libprotobuf (a SEGV the sanitizer run found).
TEST(SentencePieceNextToLibtorch, LoadsOrIsUnsupported) {
  const auto dir = fixture_dir("gemma3-embed-tiny");
  MEMEMBED_REQUIRE_SHARED(dir);
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      EXPECT_FALSE(text::load_tokenizer(dir)->encode("hello world").ids.empty());
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::Unsupported) << error.what();
      EXPECT_NE(std::string(error.what()).find("RTLD_DEEPBIND"), std::string::npos) << error.what();
    }
  }
}
