#include "memembed/error.h"
#include "memembed/json_io.h"
#include "memembed/log.h"
#include "memembed/model.h"
#include "buffer_pool.h"
#include "st_modules.h"

#include <ATen/Parallel.h>

#include <thread>

namespace memembed::model {

namespace fs = std::filesystem;

void set_compute_threads(int threads) {
  const int count = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(count);
}

int compute_threads() { return at::get_num_threads(); }

Features pad_batch(const std::vector<const std::vector<text::TokenId>*>& rows, const text::Tokenizer& tokenizer) {
  size_t longest = 1;
  for (const auto* row : rows) longest = std::max(longest, row->size());
  const auto count = static_cast<int64_t>(rows.size());
  const auto length = static_cast<int64_t>(longest);
  Features features;
  features.input_ids = at::full({count, length}, tokenizer.pad_token_id(), at::kLong);
  features.attention_mask = at::zeros({count, length}, at::kLong);
  auto* ids = features.input_ids.data_ptr<int64_t>();
  auto* mask = features.attention_mask.data_ptr<int64_t>();
  const bool left = tokenizer.padding_side() == text::PaddingSide::Left;
  for (int64_t r = 0; r < count; ++r) {
    const auto& tokens = *rows[static_cast<size_t>(r)];
    const int64_t offset = left ? length - static_cast<int64_t>(tokens.size()) : 0;
    for (size_t t = 0; t < tokens.size(); ++t) {
      ids[r * length + offset + static_cast<int64_t>(t)] = tokens[t];
      mask[r * length + offset + static_cast<int64_t>(t)] = 1;
    }
  }
  return features;
}

void configure_compute(const ComputeSettings& settings) {
  set_compute_threads(settings.threads);
  // Forward passes allocate large activations per op; the pool reuses them instead of faulting
  // in new pages.
  if (settings.buffer_pool_bytes > 0) install_buffer_pool(settings.buffer_pool_bytes);
}

namespace {

struct SimilarityName {
  const char* name;
  Similarity similarity;
};
// sentence-transformers' SimilarityFunction values ("dot_product" is its older spelling of "dot").
constexpr SimilarityName kSimilarityNames[] = {{"cosine", Similarity::Cosine},
                                               {"dot", Similarity::Dot},
                                               {"dot_product", Similarity::Dot},
                                               {"euclidean", Similarity::Euclidean},
                                               {"manhattan", Similarity::Manhattan}};

Similarity parse_similarity(const std::string& name, const std::string& where) {
  for (const auto& known : kSimilarityNames) {
    if (name == known.name) return known.similarity;
  }
  throw invalid_input("{}: similarity_fn_name \"{}\" is not one of cosine, dot, euclidean, manhattan", where, name);
}

struct ModuleEntry {
  std::string type;
  std::string path;
};

// The class name at the end of a modules.json type ("sentence_transformers.models.Pooling" -> "Pooling").
std::string short_type(const std::string& type) {
  const auto dot = type.rfind('.');
  return dot == std::string::npos ? type : type.substr(dot + 1);
}

constexpr const char* kStaticEmbeddingType = "sentence_transformers.models.StaticEmbedding";
constexpr const char* kNormalizeType = "sentence_transformers.models.Normalize";

std::vector<ModuleEntry> read_modules(const fs::path& dir) {
  const fs::path path = dir / "modules.json";
  if (!fs::exists(path) && StaticEmbeddingModule::is_model2vec_directory(dir)) {
    std::vector<ModuleEntry> entries = {{kStaticEmbeddingType, ""}};
    if (StaticEmbeddingModule::model2vec_normalizes(dir)) entries.push_back({kNormalizeType, "1_Normalize"});
    return entries;
  }
  if (!fs::exists(path)) {
    logger()->warn("{} has no modules.json; using Transformer + mean pooling, as sentence-transformers does",
                   dir.string());
    return {{"sentence_transformers.models.Transformer", ""}, {"sentence_transformers.models.Pooling", ""}};
  }
  const Json json = read_json_file(path);
  if (!json.is_array()) throw invalid_input("{}: expected a list of modules", path.string());
  std::vector<ModuleEntry> entries;
  for (size_t i = 0; i < json.size(); ++i) {
    const std::string where = fmt::format("{}: entry {}", path.string(), i);
    entries.push_back({require_string(json[i], "type", where), optional_string(json[i], "path", where).value_or("")});
  }
  if (entries.empty() || (short_type(entries.front().type) != "Transformer" &&
                          short_type(entries.front().type) != "StaticEmbedding")) {
    throw invalid_input("{}: the first module must be a sentence_transformers.models.Transformer or "
                        "StaticEmbedding", path.string());
  }
  return entries;
}

}  // namespace

const char* to_string(Similarity similarity) {
  for (const auto& known : kSimilarityNames) {
    if (known.similarity == similarity) return known.name;
  }
  MEMEMBED_ASSERT(false);
  return "";
}

std::unique_ptr<SentenceTransformer> SentenceTransformer::load(const fs::path& dir, const LoadOptions& options) {
  if (!fs::is_directory(dir)) throw not_found("{}: model directory does not exist", dir.string());
  std::unique_ptr<SentenceTransformer> model(new SentenceTransformer());
  model->source_dir_ = dir;
  model->precision_ = plan_precision(options.precision);
  model->name_ = fs::absolute(dir).lexically_normal().filename().string();
  if (model->name_.empty()) model->name_ = fs::absolute(dir).lexically_normal().parent_path().filename().string();

  const std::vector<ModuleEntry> entries = read_modules(dir);
  const std::string modules_json = (dir / "modules.json").string();
  size_t dimension = 0;
  // What the pipeline has produced so far: Pooling reads token embeddings, Dense and Normalize
  // read the sentence embedding (found by the model_directory fuzzer: [Transformer, Normalize]
  // loaded, then its forward pass threw from inside libtorch).
  bool token_embeddings = false, sentence_embedding = false;
  for (const auto& entry : entries) {
    const std::string kind = short_type(entry.type);
    const fs::path module_dir = path_inside(dir, entry.path, modules_json + ": path");
    std::unique_ptr<Module> module;
    if ((kind == "Transformer" || kind == "StaticEmbedding") && !model->modules_.empty()) {
      throw invalid_input("{}: only the first module may be a {}", modules_json, kind);
    }
    if (kind == "Pooling" && !token_embeddings) {
      throw invalid_input("{}: a Pooling module needs a Transformer before it", modules_json);
    }
    if ((kind == "Dense" || kind == "Normalize") && !sentence_embedding) {
      throw invalid_input("{}: a {} module needs a sentence embedding (Pooling or StaticEmbedding) before it",
                          modules_json, kind);
    }
    token_embeddings = token_embeddings || kind == "Transformer";
    sentence_embedding = sentence_embedding || kind == "Pooling" || kind == "StaticEmbedding";
    if (kind == "Transformer") {
      auto transformer = TransformerModule::load(module_dir, {model->precision_.effective, options.inference_only});
      model->architecture_ = transformer->config().architecture();
      model->hidden_size_ = static_cast<size_t>(transformer->backbone().hidden_size());
      model->max_seq_length_ = transformer->max_seq_length();
      model->lowercase_input_ = transformer->do_lower_case();
      model->tokenizer_ = text::load_tokenizer(module_dir);
      dimension = model->hidden_size_;
      module = std::move(transformer);
    } else if (kind == "StaticEmbedding") {
      auto table = StaticEmbeddingModule::load(module_dir);
      model->architecture_ = "StaticEmbedding";
      model->hidden_size_ = table->dimension();
      model->max_seq_length_ = 0;
      model->add_special_tokens_ = false;
      model->tokenizer_ = table->shared_tokenizer();
      dimension = model->hidden_size_;
      module = std::move(table);
    } else if (kind == "Pooling") {
      // The fallback pipeline has no 1_Pooling folder: mean pooling then.
      auto pooling = fs::exists(module_dir / "config.json") && !entry.path.empty()
                         ? PoolingModule::load(module_dir, dimension)
                         : std::make_unique<PoolingModule>(dimension, std::vector<PoolingMode>{PoolingMode::Mean}, true);
      dimension = pooling->output_dimension();
      module = std::move(pooling);
    } else if (kind == "Dense") {
      auto dense = DenseModule::load(module_dir, dimension);
      dimension = dense->output_dimension();
      module = std::move(dense);
    } else if (kind == "Normalize") {
      module = std::make_unique<NormalizeModule>();
    } else {
      throw unsupported("{}: module type \"{}\" is not supported (known: Transformer, StaticEmbedding, Pooling, Dense, Normalize)",
                        modules_json, entry.type);
    }
    model->modules_.push_back(std::move(module));
    model->module_paths_.push_back(entry.path);
  }
  if (!sentence_embedding) {
    throw invalid_input("{}: the modules produce no sentence embedding (a Transformer needs a Pooling module after it)",
                        modules_json);
  }
  model->embedding_dimension_ = dimension;

  if (options.max_seq_length > 0) {
    model->max_seq_length_ = options.max_seq_length;
    if (const auto* transformer = dynamic_cast<const TransformerModule*>(model->modules_.front().get())) {
      const auto positions = static_cast<size_t>(transformer->backbone().max_positions());
      if (options.max_seq_length > positions) {
        logger()->warn("{} supports at most {} positions; max sequence length {} lowered to {}", model->name_,
                       positions, options.max_seq_length, positions);
      }
      model->max_seq_length_ = std::min(options.max_seq_length, positions);
    }
  }

  const fs::path st_config = dir / "config_sentence_transformers.json";
  if (fs::exists(st_config)) {
    const Json config = read_json_file(st_config);
    if (auto prompts = config.find("prompts"); prompts != config.end() && prompts->is_object()) {
      for (auto it = prompts->begin(); it != prompts->end(); ++it) {
        if (!it->is_string()) throw invalid_input("{}: prompts[\"{}\"] must be a string", st_config.string(), it.key());
        model->prompts_[it.key()] = it->get<std::string>();
      }
    }
    if (auto name = optional_string(config, "similarity_fn_name", st_config.string())) {
      model->similarity_ = parse_similarity(*name, st_config.string());
    }
    model->default_prompt_name_ = optional_string(config, "default_prompt_name", st_config.string());
    if (model->default_prompt_name_ && !model->prompts_.count(*model->default_prompt_name_)) {
      throw invalid_input("{}: default_prompt_name \"{}\" is not among the prompts", st_config.string(),
                          *model->default_prompt_name_);
    }
  }
  return model;
}

at::Tensor SentenceTransformer::forward(Features& features) const {
  for (const auto& module : modules_) module->forward(features);
  return features.sentence_embedding;
}

double SentenceTransformer::forward_flops(size_t rows, size_t sequence_length) const {
  double flops = 0;
  if (const auto* transformer = dynamic_cast<const TransformerModule*>(modules_.front().get())) {
    flops += transformer->backbone().flops(static_cast<int64_t>(rows), static_cast<int64_t>(sequence_length));
  }
  for (const auto& module : modules_) {
    if (const auto* dense = dynamic_cast<const DenseModule*>(module.get())) flops += dense->flops(static_cast<double>(rows));
  }
  return flops;
}

std::vector<std::pair<int64_t, int64_t>> SentenceTransformer::linear_shapes() const {
  const auto* transformer = dynamic_cast<const TransformerModule*>(modules_.front().get());
  return transformer ? transformer->backbone().linear_shapes() : std::vector<std::pair<int64_t, int64_t>>{};
}

std::vector<at::Tensor> SentenceTransformer::parameters() const {
  std::vector<at::Tensor> result;
  for (const auto& module : modules_) {
    for (auto& tensor : module->parameters()) result.push_back(tensor);
  }
  return result;
}

void SentenceTransformer::save(const fs::path& dir) const {
  fs::create_directories(dir);
  Json modules = Json::array();
  for (size_t i = 0; i < modules_.size(); ++i) {
    const std::string& path = module_paths_[i];
    modules_[i]->save(dir / path);
    modules.push_back({{"idx", i}, {"name", std::to_string(i)}, {"path", path}, {"type", modules_[i]->type_name()}});
  }
  write_json_file(dir / "modules.json", modules);
  Json config = {{"prompts", prompts_},
                 {"default_prompt_name", default_prompt_name_ ? Json(*default_prompt_name_) : Json(nullptr)},
                 {"similarity_fn_name", to_string(similarity_)},
                 {"model_type", "SentenceTransformer"},
                 {"__version__", {{"memembed", "0.1.0"}}}};
  write_json_file(dir / "config_sentence_transformers.json", config);
}

}  // namespace memembed::model
