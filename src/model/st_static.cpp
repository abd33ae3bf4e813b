#include "memembed/error.h"
#include "memembed/json_io.h"
#include "safetensors.h"
#include "st_modules.h"

namespace memembed::model {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSentenceTransformersTable = "embedding.weight";
constexpr const char* kModel2VecTable = "embeddings";

// The unknown token of a tokenizer.json model: `unk_token` (WordPiece, WordLevel, BPE) or `unk_id`
// (Unigram).
std::optional<int64_t> unknown_token_id(const Json& tokenizer_json, const text::Tokenizer& tokenizer) {
  const auto model = tokenizer_json.find("model");
  if (model == tokenizer_json.end() || !model->is_object()) return std::nullopt;
  if (auto token = model->find("unk_token"); token != model->end() && token->is_string()) {
    if (auto id = tokenizer.token_to_id(token->get<std::string>())) return *id;
  }
  if (auto id = model->find("unk_id"); id != model->end() && id->is_number_integer()) return id->get<int64_t>();
  return std::nullopt;
}

}  // namespace

bool StaticEmbeddingModule::is_model2vec_directory(const fs::path& dir) {
  if (fs::exists(dir / "config.json")) {
    const Json config = read_json_file(dir / "config.json");
    if (config.is_object() && config.value("model_type", std::string()) == "model2vec") return true;
  }
  if (!fs::exists(dir / "model.safetensors")) return false;
  return SafetensorsFile(dir / "model.safetensors").find(kModel2VecTable) != nullptr;
}

bool StaticEmbeddingModule::model2vec_normalizes(const fs::path& dir) {
  const fs::path path = dir / "config.json";
  if (!fs::exists(path)) return false;
  const Json config = read_json_file(path);
  const auto normalize = config.find("normalize");
  if (normalize == config.end() || normalize->is_null()) return false;
  if (!normalize->is_boolean()) throw invalid_input("{}: \"normalize\" must be true or false", path.string());
  return normalize->get<bool>();
}

std::unique_ptr<StaticEmbeddingModule> StaticEmbeddingModule::load(const fs::path& dir) {
  const fs::path weights_path = dir / "model.safetensors";
  if (!fs::exists(weights_path)) {
    throw not_found("{}: missing model.safetensors (the StaticEmbedding token vectors)", dir.string());
  }
  const SafetensorsFile weights(weights_path);
  auto module = std::make_unique<StaticEmbeddingModule>();
  const TensorInfo* table = nullptr;
  for (const char* name : {kSentenceTransformersTable, kModel2VecTable}) {
    if ((table = weights.find(name)) != nullptr) {
      module->tensor_name_ = name;
      break;
    }
  }
  if (table == nullptr) {
    throw invalid_input("{}: no tensor \"{}\" (sentence-transformers StaticEmbedding) or \"{}\" (model2vec)",
                        weights_path.string(), kSentenceTransformersTable, kModel2VecTable);
  }
  for (const char* name : {"mapping", "weights"}) {
    if (weights.find(name) != nullptr) {
      throw unsupported("{}: model2vec tensor \"{}\" (vocabulary quantization / token weights) is not supported",
                        weights_path.string(), name);
    }
  }
  if (table->shape.size() != 2 || table->shape[0] == 0 || table->shape[1] == 0) {
    throw invalid_input("{}: tensor \"{}\" must be [vocab, dim], got {} dimensions", weights_path.string(),
                        module->tensor_name_, table->shape.size());
  }
  module->table_ = weights.read_float32(*table);

  const fs::path tokenizer_path = dir / "tokenizer.json";
  if (!fs::exists(tokenizer_path)) {
    throw not_found("{}: missing tokenizer.json (a static embedding model needs its own tokenizer)", dir.string());
  }
  module->tokenizer_ = text::load_tokenizer(dir);
  module->tokenizer_json_ = read_file(tokenizer_path);
  if (module->tokenizer_->vocab_size() > static_cast<size_t>(table->shape[0])) {
    throw invalid_input("{}: the tokenizer has {} tokens but \"{}\" has only {} rows", tokenizer_path.string(),
                        module->tokenizer_->vocab_size(), module->tensor_name_, table->shape[0]);
  }

  if (module->tensor_name_ == kModel2VecTable && fs::exists(dir / "config.json")) {
    // model2vec semantics: its own encode() leaves unknown tokens out of the mean.
    module->model2vec_config_ = read_json_file(dir / "config.json");
    module->dropped_token_id_ = unknown_token_id(Json::parse(module->tokenizer_json_), *module->tokenizer_);
  }
  return module;
}

void StaticEmbeddingModule::forward(Features& features) const {
  at::Tensor mask = features.attention_mask;
  if (dropped_token_id_) mask = mask * features.input_ids.ne(*dropped_token_id_);
  const at::Tensor weights = mask.to(at::kFloat).unsqueeze(-1);                  // [batch, seq, 1]
  const at::Tensor vectors = at::embedding(table_, features.input_ids);          // [batch, seq, dim]
  const at::Tensor counts = weights.sum(1).clamp_min(1.0);                        // empty text: 0 / 1
  features.sentence_embedding = (vectors * weights).sum(1) / counts;
}

void StaticEmbeddingModule::save(const fs::path& dir) const {
  fs::create_directories(dir);
  write_safetensors(dir / "model.safetensors", {{tensor_name_, table_.detach().contiguous()}});
  open_for_write(dir / "tokenizer.json") << tokenizer_json_;
  if (model2vec_config_) write_json_file(dir / "config.json", *model2vec_config_);
}

}  // namespace memembed::model
