// The sentence-transformers stages (modules.json `type`), each loadable from its folder and
// savable back into it. The registry maps the type string to a loader.
#pragma once

#include "backbone.h"
#include "hf_config.h"
#include "memembed/model.h"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace memembed::model {

// Context a loader may need beyond its own folder.
struct ModuleContext {
  std::filesystem::path model_dir;  // the root of the model directory
  size_t embedding_dimension = 0;   // output width of the stage before this one
};

// Transformer: the backbone. Exposes what the pipeline needs to know about it.
class TransformerModule final : public Module {
 public:
  TransformerModule(std::filesystem::path dir, HfConfig config, std::unique_ptr<Backbone> backbone,
                    size_t max_seq_length, bool do_lower_case);
  static std::unique_ptr<TransformerModule> load(const std::filesystem::path& dir,
                                                 const BackboneOptions& options = {});

  std::string type_name() const override { return "sentence_transformers.models.Transformer"; }
  void forward(Features& features) const override;
  void save(const std::filesystem::path& dir) const override;
  std::vector<at::Tensor> parameters() const override { return backbone_->parameters(); }

  const Backbone& backbone() const { return *backbone_; }
  const HfConfig& config() const { return config_; }
  size_t max_seq_length() const { return max_seq_length_; }
  bool do_lower_case() const { return do_lower_case_; }

 private:
  std::filesystem::path dir_;
  HfConfig config_;
  std::unique_ptr<Backbone> backbone_;
  size_t max_seq_length_;
  bool do_lower_case_;
};

// StaticEmbedding: a table of token vectors; a text's vector is the mean of its tokens' vectors
// (an empty text gives the zero vector). Two layouts on disk:
//  - sentence-transformers: <dir>/model.safetensors with `embedding.weight` [vocab, dim] and
//    <dir>/tokenizer.json;
//  - model2vec: the same files with the table named `embeddings`, plus config.json (`normalize`, ...).
//    model2vec drops unknown tokens before averaging, sentence-transformers keeps them; the stage
//    does what the layout it was loaded from does, and saves back in that layout.
// Texts are tokenised without special tokens. The table is the one trainable tensor.
class StaticEmbeddingModule final : public Module {
 public:
  static std::unique_ptr<StaticEmbeddingModule> load(const std::filesystem::path& dir);
  // True when `dir` is a model2vec directory without modules.json (config.json model_type
  // "model2vec", or a root model.safetensors holding `embeddings`).
  static bool is_model2vec_directory(const std::filesystem::path& dir);
  // model2vec config.json `normalize` (false when absent, as model2vec reads it).
  static bool model2vec_normalizes(const std::filesystem::path& dir);

  std::string type_name() const override { return "sentence_transformers.models.StaticEmbedding"; }
  void forward(Features& features) const override;
  void save(const std::filesystem::path& dir) const override;
  std::vector<at::Tensor> parameters() const override { return {table_}; }

  size_t dimension() const { return static_cast<size_t>(table_.size(1)); }
  const text::Tokenizer& tokenizer() const { return *tokenizer_; }
  std::shared_ptr<const text::Tokenizer> shared_tokenizer() const { return tokenizer_; }
  bool is_model2vec() const { return model2vec_config_.has_value(); }

 private:
  at::Tensor table_;                                    // [vocab, dim] float32
  std::string tensor_name_;                             // name it is stored under
  std::shared_ptr<const text::Tokenizer> tokenizer_;
  std::string tokenizer_json_;                          // tokenizer.json bytes, saved back unchanged
  std::optional<Json> model2vec_config_;                // config.json of a model2vec directory
  std::optional<int64_t> dropped_token_id_;             // model2vec: the unknown token, left out of the mean
};

// Pooling: token vectors -> one vector per text.
enum class PoolingMode { Cls, Max, Mean, MeanSqrtLen, WeightedMean, LastToken };
const char* to_string(PoolingMode mode);

class PoolingModule final : public Module {
 public:
  PoolingModule(size_t dimension, std::vector<PoolingMode> modes, bool include_prompt);
  // Reads 1_Pooling/config.json: the legacy `pooling_mode_*` booleans or the `pooling_mode` string.
  static std::unique_ptr<PoolingModule> load(const std::filesystem::path& dir, size_t dimension);

  std::string type_name() const override { return "sentence_transformers.models.Pooling"; }
  void forward(Features& features) const override;
  void save(const std::filesystem::path& dir) const override;

  size_t output_dimension() const { return dimension_ * modes_.size(); }
  const std::vector<PoolingMode>& modes() const { return modes_; }
  bool include_prompt() const { return include_prompt_; }

 private:
  size_t dimension_;
  std::vector<PoolingMode> modes_;
  bool include_prompt_;
};

// Dense: a linear layer with an activation (2_Dense/, 3_Dense/ ...).
class DenseModule final : public Module {
 public:
  static std::unique_ptr<DenseModule> load(const std::filesystem::path& dir, size_t input_dimension);

  std::string type_name() const override { return "sentence_transformers.models.Dense"; }
  void forward(Features& features) const override;
  void save(const std::filesystem::path& dir) const override;
  std::vector<at::Tensor> parameters() const override;

  size_t output_dimension() const { return static_cast<size_t>(weight_.size(0)); }
  double flops(double rows) const {
    return 2.0 * rows * static_cast<double>(weight_.size(0)) * static_cast<double>(weight_.size(1));
  }

 private:
  at::Tensor weight_;
  at::Tensor bias_;  // undefined when the config says bias: false
  std::string activation_name_;                   // the torch class path, saved back as is
  at::Tensor (*activation_)(const at::Tensor&) = nullptr;
};

// Normalize: L2 normalisation (no files on disk).
class NormalizeModule final : public Module {
 public:
  std::string type_name() const override { return "sentence_transformers.models.Normalize"; }
  void forward(Features& features) const override;
  void save(const std::filesystem::path& dir) const override {}
};

}  // namespace memembed::model
