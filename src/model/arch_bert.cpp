// BERT and XLM-RoBERTa encoders (post-LayerNorm transformer with learned absolute positions).
// XLM-R differs only in its position ids, which start after the padding index.
#include "architecture.h"
#include "layers.h"
#include "linear.h"
#include "memembed/error.h"

#include <fmt/format.h>

namespace memembed::model {

namespace {

struct BertLayer {
  at::Tensor qkv_weight, qkv_bias;  // packed [3H, H]: one GEMM instead of three
  at::Tensor attention_out_weight, attention_out_bias;
  at::Tensor attention_norm_weight, attention_norm_bias;
  at::Tensor intermediate_weight, intermediate_bias;
  at::Tensor output_weight, output_bias;
  at::Tensor output_norm_weight, output_norm_bias;
  // Inference kernels over the weights above, at the model's precision.
  Linear qkv, attention_out, intermediate, output;
};

enum class PositionScheme { FromZero, AfterPaddingIndex };

class BertBackbone final : public Backbone {
 public:
  BertBackbone(const HfConfig& config, const WeightSource& weights, PositionScheme scheme,
               const BackboneOptions& options)
      : scheme_(scheme), options_(options) {
    hidden_ = config.get_size("hidden_size");
    heads_ = config.get_size("num_attention_heads");
    if (hidden_ % heads_ != 0) {
      throw invalid_input("{}: hidden_size {} is not a multiple of num_attention_heads {}", config.where(),
                          hidden_, heads_);
    }
    intermediate_ = config.get_size("intermediate_size");
    layers_count_ = config.get_size("num_hidden_layers");
    vocab_ = config.get_size("vocab_size");
    positions_ = config.get_size("max_position_embeddings");
    eps_ = config.get_double("layer_norm_eps", 1e-12);
    padding_index_ = config.get_int("pad_token_id", 1);
    if (scheme_ == PositionScheme::AfterPaddingIndex && (padding_index_ < 0 || padding_index_ + 1 >= positions_)) {
      throw invalid_input("{}: pad_token_id {} leaves no positions of the {} in max_position_embeddings",
                          config.where(), padding_index_, positions_);
    }
    activation_ = parse_activation(config.get_string("hidden_act", "gelu"), config.where() + ": hidden_act");
    const std::string position_type = config.get_string("position_embedding_type", "absolute");
    if (position_type != "absolute") {
      throw unsupported("{}: position_embedding_type \"{}\" is not supported (only \"absolute\")",
                        config.where(), position_type);
    }
    const int64_t type_vocab = config.get_size("type_vocab_size", 2);

    word_embeddings_ = weights.load("embeddings.word_embeddings.weight", {vocab_, hidden_});
    position_embeddings_ = weights.load("embeddings.position_embeddings.weight", {positions_, hidden_});
    token_type_embeddings_ = weights.load("embeddings.token_type_embeddings.weight", {type_vocab, hidden_});
    embedding_norm_weight_ = weights.load("embeddings.LayerNorm.weight", {hidden_});
    embedding_norm_bias_ = weights.load("embeddings.LayerNorm.bias", {hidden_});

    for (int64_t i = 0; i < layers_count_; ++i) {
      const std::string p = fmt::format("encoder.layer.{}.", i);
      auto matrix = [&](const std::string& name, int64_t out, int64_t in) {
        return weights.load(p + name + ".weight", {out, in});
      };
      auto vector = [&](const std::string& name, int64_t size) {
        return weights.load(p + name, {size});
      };
      BertLayer layer;
      layer.qkv_weight = at::cat({matrix("attention.self.query", hidden_, hidden_),
                                  matrix("attention.self.key", hidden_, hidden_),
                                  matrix("attention.self.value", hidden_, hidden_)});
      layer.qkv_bias = at::cat({vector("attention.self.query.bias", hidden_),
                                vector("attention.self.key.bias", hidden_),
                                vector("attention.self.value.bias", hidden_)});
      layer.attention_out_weight = matrix("attention.output.dense", hidden_, hidden_);
      layer.attention_out_bias = vector("attention.output.dense.bias", hidden_);
      layer.attention_norm_weight = vector("attention.output.LayerNorm.weight", hidden_);
      layer.attention_norm_bias = vector("attention.output.LayerNorm.bias", hidden_);
      layer.intermediate_weight = matrix("intermediate.dense", intermediate_, hidden_);
      layer.intermediate_bias = vector("intermediate.dense.bias", intermediate_);
      layer.output_weight = matrix("output.dense", hidden_, intermediate_);
      layer.output_bias = vector("output.dense.bias", hidden_);
      layer.output_norm_weight = vector("output.LayerNorm.weight", hidden_);
      layer.output_norm_bias = vector("output.LayerNorm.bias", hidden_);
      prepare_linears(layer, options_.for_block(i, layers_count_));
      layers_.push_back(std::move(layer));
    }
  }

  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& attention_mask) const override {
    const int64_t length = input_ids.size(1);
    at::Tensor position_ids;
    if (scheme_ == PositionScheme::FromZero) {
      position_ids = at::arange(length, at::kLong).unsqueeze(0);
    } else {
      position_ids = attention_mask.cumsum(1) * attention_mask + padding_index_;
    }
    at::Tensor x = at::embedding(word_embeddings_, input_ids) + at::embedding(position_embeddings_, position_ids) +
                   token_type_embeddings_[0];  // every input is one segment: type 0
    x = at::layer_norm(x, {hidden_}, embedding_norm_weight_, embedding_norm_bias_, eps_);

    const int64_t head_dim = hidden_ / heads_;
    const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
    for (const auto& layer : layers_) {
      const QKV qkv = split_heads(layer.qkv(x), heads_, heads_, head_dim);
      const at::Tensor context = attention(qkv.q, qkv.k, qkv.v, attention_mask, {}, scale);
      x = at::layer_norm(layer.attention_out.onto(context, x), {hidden_}, layer.attention_norm_weight,
                         layer.attention_norm_bias, eps_);
      const at::Tensor inner = activate(layer.intermediate(x), activation_);
      x = at::layer_norm(layer.output.onto(inner, x), {hidden_}, layer.output_norm_weight, layer.output_norm_bias,
                         eps_);
    }
    return x;
  }

  int64_t hidden_size() const override { return hidden_; }

  int64_t max_positions() const override {
    return scheme_ == PositionScheme::FromZero ? positions_ : positions_ - padding_index_ - 1;
  }

  double flops(int64_t rows, int64_t length) const override {
    const double tokens = static_cast<double>(rows) * static_cast<double>(length);
    const double linear = matmul_flops(tokens, hidden_, 3 * hidden_) + matmul_flops(tokens, hidden_, hidden_) +
                          2 * matmul_flops(tokens, hidden_, intermediate_);
    const double attention = 2 * matmul_flops(tokens, hidden_, static_cast<double>(length));
    return static_cast<double>(layers_count_) * (linear + attention);
  }

  std::vector<std::pair<int64_t, int64_t>> linear_shapes() const override {
    std::vector<std::pair<int64_t, int64_t>> shapes;
    for (int64_t i = 0; i < layers_count_; ++i) {
      shapes.insert(shapes.end(), {{hidden_, 3 * hidden_}, {hidden_, hidden_}, {hidden_, intermediate_}, {intermediate_, hidden_}});
    }
    return shapes;
  }

  std::vector<std::pair<std::string, at::Tensor>> named_weights() const override {
    if (options_.frees_float_weights()) throw_float_weights_freed(options_.precision);
    std::vector<std::pair<std::string, at::Tensor>> result = {
        {"embeddings.word_embeddings.weight", word_embeddings_},
        {"embeddings.position_embeddings.weight", position_embeddings_},
        {"embeddings.token_type_embeddings.weight", token_type_embeddings_},
        {"embeddings.LayerNorm.weight", embedding_norm_weight_},
        {"embeddings.LayerNorm.bias", embedding_norm_bias_},
    };
    for (size_t i = 0; i < layers_.size(); ++i) {
      const auto& layer = layers_[i];
      const std::string p = fmt::format("encoder.layer.{}.", i);
      const auto w = layer.qkv_weight.split(hidden_);
      const auto b = layer.qkv_bias.split(hidden_);
      const char* names[3] = {"query", "key", "value"};
      for (int k = 0; k < 3; ++k) {
        result.emplace_back(p + "attention.self." + names[k] + ".weight", w[k]);
        result.emplace_back(p + "attention.self." + names[k] + ".bias", b[k]);
      }
      result.emplace_back(p + "attention.output.dense.weight", layer.attention_out_weight);
      result.emplace_back(p + "attention.output.dense.bias", layer.attention_out_bias);
      result.emplace_back(p + "attention.output.LayerNorm.weight", layer.attention_norm_weight);
      result.emplace_back(p + "attention.output.LayerNorm.bias", layer.attention_norm_bias);
      result.emplace_back(p + "intermediate.dense.weight", layer.intermediate_weight);
      result.emplace_back(p + "intermediate.dense.bias", layer.intermediate_bias);
      result.emplace_back(p + "output.dense.weight", layer.output_weight);
      result.emplace_back(p + "output.dense.bias", layer.output_bias);
      result.emplace_back(p + "output.LayerNorm.weight", layer.output_norm_weight);
      result.emplace_back(p + "output.LayerNorm.bias", layer.output_norm_bias);
    }
    return result;
  }

  std::vector<at::Tensor> parameters() const override {
    if (options_.frees_float_weights()) throw_float_weights_freed(options_.precision);
    std::vector<at::Tensor> result = {word_embeddings_, position_embeddings_, token_type_embeddings_,
                                      embedding_norm_weight_, embedding_norm_bias_};
    for (const auto& layer : layers_) {
      result.insert(result.end(), {layer.qkv_weight, layer.qkv_bias, layer.attention_out_weight,
                                   layer.attention_out_bias, layer.attention_norm_weight, layer.attention_norm_bias,
                                   layer.intermediate_weight, layer.intermediate_bias, layer.output_weight,
                                   layer.output_bias, layer.output_norm_weight, layer.output_norm_bias});
    }
    return result;
  }

 private:
  // The layer's inference kernels, right after its weights are read (see BackboneOptions).
  void prepare_linears(BertLayer& layer, const BackboneOptions& options) const {
    prepare_linear(layer.qkv, layer.qkv_weight, layer.qkv_bias, options);
    prepare_linear(layer.attention_out, layer.attention_out_weight, layer.attention_out_bias, options);
    prepare_linear(layer.intermediate, layer.intermediate_weight, layer.intermediate_bias, options);
    prepare_linear(layer.output, layer.output_weight, layer.output_bias, options);
  }

  PositionScheme scheme_;
  BackboneOptions options_;
  int64_t hidden_ = 0, heads_ = 0, intermediate_ = 0, layers_count_ = 0, vocab_ = 0, positions_ = 0;
  int64_t padding_index_ = 1;
  double eps_ = 1e-12;
  Activation activation_ = Activation::GeluErf;
  at::Tensor word_embeddings_, position_embeddings_, token_type_embeddings_;
  at::Tensor embedding_norm_weight_, embedding_norm_bias_;
  std::vector<BertLayer> layers_;
};

}  // namespace

std::unique_ptr<Backbone> build_bert(const HfConfig& config, const WeightSource& weights, const BackboneOptions& options) {
  return std::make_unique<BertBackbone>(config, weights, PositionScheme::FromZero, options);
}

std::unique_ptr<Backbone> build_xlm_roberta(const HfConfig& config, const WeightSource& weights,
                                            const BackboneOptions& options) {
  return std::make_unique<BertBackbone>(config, weights, PositionScheme::AfterPaddingIndex, options);
}

}  // namespace memembed::model
