#include "decoder_backbone.h"

#include "linear.h"
#include "memembed/error.h"

#include <fmt/format.h>

#include <cmath>
#include <map>

namespace memembed::model {

namespace {

struct DecoderLayer {
  at::Tensor input_norm;
  at::Tensor qkv_weight, qkv_bias;  // packed [(Hq + 2 Hkv) D, H]
  at::Tensor q_norm, k_norm;        // [D], applied per head before the rotation
  at::Tensor output_weight;         // [H, Hq D]
  at::Tensor post_attention_norm;   // Qwen3: before the MLP; Gemma: on the attention output
  at::Tensor pre_mlp_norm, post_mlp_norm;  // Gemma only
  at::Tensor gate_up_weight;        // packed [2 I, H]
  at::Tensor down_weight;           // [H, I]
  // Inference kernels over the weights above, at the model's precision.
  Linear qkv, output, gate_up, down;
};

class DecoderBackbone final : public Backbone {
 public:
  DecoderBackbone(const DecoderSpec& spec, const WeightSource& weights, const BackboneOptions& options)
      : spec_(spec), options_(options) {
    const int64_t H = spec.hidden, D = spec.head_dim, I = spec.intermediate;
    const int64_t q_width = spec.q_heads * D, kv_width = spec.kv_heads * D;
    embed_tokens_ = weights.load("embed_tokens.weight", {spec.vocab, H});
    final_norm_ = weights.load("norm.weight", {H});
    for (int64_t i = 0; i < spec.layers; ++i) {
      const std::string p = fmt::format("layers.{}.", i);
      DecoderLayer layer;
      layer.input_norm = weights.load(p + "input_layernorm.weight", {H});
      layer.qkv_weight = at::cat({weights.load(p + "self_attn.q_proj.weight", {q_width, H}),
                                  weights.load(p + "self_attn.k_proj.weight", {kv_width, H}),
                                  weights.load(p + "self_attn.v_proj.weight", {kv_width, H})});
      if (spec.attention_bias) {
        layer.qkv_bias = at::cat({weights.load(p + "self_attn.q_proj.bias", {q_width}),
                                  weights.load(p + "self_attn.k_proj.bias", {kv_width}),
                                  weights.load(p + "self_attn.v_proj.bias", {kv_width})});
      }
      layer.q_norm = weights.load(p + "self_attn.q_norm.weight", {D});
      layer.k_norm = weights.load(p + "self_attn.k_norm.weight", {D});
      layer.output_weight = weights.load(p + "self_attn.o_proj.weight", {H, q_width});
      layer.post_attention_norm = weights.load(p + "post_attention_layernorm.weight", {H});
      if (spec.sandwich_norms) {
        layer.pre_mlp_norm = weights.load(p + "pre_feedforward_layernorm.weight", {H});
        layer.post_mlp_norm = weights.load(p + "post_feedforward_layernorm.weight", {H});
      }
      layer.gate_up_weight = at::cat({weights.load(p + "mlp.gate_proj.weight", {I, H}),
                                      weights.load(p + "mlp.up_proj.weight", {I, H})});
      layer.down_weight = weights.load(p + "mlp.down_proj.weight", {H, I});
      prepare_linears(layer, options_.for_block(i, spec.layers));
      layers_.push_back(std::move(layer));
    }
  }

  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& attention_mask) const override {
    const int64_t length = input_ids.size(1);
    at::Tensor x = at::embedding(embed_tokens_, input_ids);
    if (spec_.embedding_scale != 1.0) x = x * static_cast<float>(spec_.embedding_scale);

    // Rotary tables depend only on the base: build each distinct one once per forward.
    std::map<double, RopeTables> rope;
    for (int64_t i = 0; i < spec_.layers; ++i) {
      if (!rope.count(spec_.rope_base[i])) rope[spec_.rope_base[i]] = rope_tables(length, spec_.head_dim, spec_.rope_base[i]);
    }

    for (int64_t i = 0; i < spec_.layers; ++i) {
      const DecoderLayer& layer = layers_[static_cast<size_t>(i)];
      at::Tensor h = norm(x, layer.input_norm);
      QKV qkv = split_heads(layer.qkv(h), spec_.q_heads, spec_.kv_heads, spec_.head_dim);
      const RopeTables& tables = rope.at(spec_.rope_base[i]);
      const at::Tensor q = apply_rope(norm(qkv.q, layer.q_norm), tables);
      const at::Tensor k = apply_rope(norm(qkv.k, layer.k_norm), tables);
      const AttentionPattern pattern{spec_.causal, spec_.window_radius[i]};
      h = layer.output(attention(q, k, qkv.v, attention_mask, pattern, spec_.attention_scale));
      if (spec_.sandwich_norms) {
        x = x + norm(h, layer.post_attention_norm);
        h = norm(x, layer.pre_mlp_norm);
      } else {
        x = x + h;
        h = norm(x, layer.post_attention_norm);
      }
      const auto gate_up = layer.gate_up(h).chunk(2, -1);
      h = layer.down(activate(gate_up[0], spec_.activation) * gate_up[1]);
      x = x + (spec_.sandwich_norms ? norm(h, layer.post_mlp_norm) : h);
    }
    return norm(x, final_norm_);
  }

  int64_t hidden_size() const override { return spec_.hidden; }
  int64_t max_positions() const override { return spec_.max_positions; }

  double flops(int64_t rows, int64_t length) const override {
    const double tokens = static_cast<double>(rows) * static_cast<double>(length);
    double linear = 0;
    for (const auto& [in, out] : layer_shapes()) linear += matmul_flops(tokens, in, out);
    const double attention = 2 * matmul_flops(tokens, spec_.q_heads * spec_.head_dim, static_cast<double>(length));
    return static_cast<double>(spec_.layers) * (linear + attention);
  }

  std::vector<std::pair<int64_t, int64_t>> linear_shapes() const override {
    std::vector<std::pair<int64_t, int64_t>> shapes;
    for (int64_t i = 0; i < spec_.layers; ++i) {
      for (const auto& shape : layer_shapes()) shapes.push_back(shape);
    }
    return shapes;
  }

  std::vector<std::pair<std::string, at::Tensor>> named_weights() const override {
    if (options_.frees_float_weights()) throw_float_weights_freed(options_.precision);
    std::vector<std::pair<std::string, at::Tensor>> result = {{"embed_tokens.weight", embed_tokens_}};
    const int64_t q_width = spec_.q_heads * spec_.head_dim, kv_width = spec_.kv_heads * spec_.head_dim;
    const char* projections[3] = {"q_proj", "k_proj", "v_proj"};
    for (size_t i = 0; i < layers_.size(); ++i) {
      const DecoderLayer& layer = layers_[i];
      const std::string p = fmt::format("layers.{}.", i);
      result.emplace_back(p + "input_layernorm.weight", layer.input_norm);
      const auto weights = layer.qkv_weight.split_with_sizes({q_width, kv_width, kv_width});
      for (int k = 0; k < 3; ++k) result.emplace_back(p + "self_attn." + projections[k] + ".weight", weights[k]);
      if (layer.qkv_bias.defined()) {
        const auto biases = layer.qkv_bias.split_with_sizes({q_width, kv_width, kv_width});
        for (int k = 0; k < 3; ++k) result.emplace_back(p + "self_attn." + projections[k] + ".bias", biases[k]);
      }
      result.emplace_back(p + "self_attn.q_norm.weight", layer.q_norm);
      result.emplace_back(p + "self_attn.k_norm.weight", layer.k_norm);
      result.emplace_back(p + "self_attn.o_proj.weight", layer.output_weight);
      result.emplace_back(p + "post_attention_layernorm.weight", layer.post_attention_norm);
      if (spec_.sandwich_norms) {
        result.emplace_back(p + "pre_feedforward_layernorm.weight", layer.pre_mlp_norm);
        result.emplace_back(p + "post_feedforward_layernorm.weight", layer.post_mlp_norm);
      }
      const auto gate_up = layer.gate_up_weight.chunk(2, 0);
      result.emplace_back(p + "mlp.gate_proj.weight", gate_up[0]);
      result.emplace_back(p + "mlp.up_proj.weight", gate_up[1]);
      result.emplace_back(p + "mlp.down_proj.weight", layer.down_weight);
    }
    result.emplace_back("norm.weight", final_norm_);
    return result;
  }

  std::vector<at::Tensor> parameters() const override {
    if (options_.frees_float_weights()) throw_float_weights_freed(options_.precision);
    std::vector<at::Tensor> result = {embed_tokens_, final_norm_};
    for (const auto& layer : layers_) {
      for (const at::Tensor* t : {&layer.input_norm, &layer.qkv_weight, &layer.qkv_bias, &layer.q_norm, &layer.k_norm,
                                  &layer.output_weight, &layer.post_attention_norm, &layer.pre_mlp_norm,
                                  &layer.post_mlp_norm, &layer.gate_up_weight, &layer.down_weight}) {
        if (t->defined()) result.push_back(*t);
      }
    }
    return result;
  }

 private:
  // The layer's inference kernels, right after its weights are read (see BackboneOptions).
  void prepare_linears(DecoderLayer& layer, const BackboneOptions& options) const {
    prepare_linear(layer.qkv, layer.qkv_weight, layer.qkv_bias, options);
    prepare_linear(layer.output, layer.output_weight, at::Tensor(), options);
    prepare_linear(layer.gate_up, layer.gate_up_weight, at::Tensor(), options);
    prepare_linear(layer.down, layer.down_weight, at::Tensor(), options);
  }

  at::Tensor norm(const at::Tensor& x, const at::Tensor& weight) const {
    return rms_norm(x, spec_.norm_adds_one ? weight + 1.0f : weight, spec_.rms_eps);
  }

  std::vector<std::pair<int64_t, int64_t>> layer_shapes() const {
    const int64_t H = spec_.hidden, D = spec_.head_dim, I = spec_.intermediate;
    return {{H, (spec_.q_heads + 2 * spec_.kv_heads) * D}, {spec_.q_heads * D, H}, {H, 2 * I}, {I, H}};
  }

  DecoderSpec spec_;
  BackboneOptions options_;
  at::Tensor embed_tokens_, final_norm_;
  std::vector<DecoderLayer> layers_;
};

}  // namespace

DecoderSpec read_common_decoder_config(const HfConfig& config) {
  DecoderSpec spec;
  spec.hidden = config.get_size("hidden_size");
  spec.layers = config.get_size("num_hidden_layers");
  spec.q_heads = config.get_size("num_attention_heads");
  spec.kv_heads = config.get_size("num_key_value_heads", spec.q_heads);
  spec.head_dim = config.get_size("head_dim", spec.hidden / spec.q_heads);
  spec.intermediate = config.get_size("intermediate_size");
  spec.vocab = config.get_size("vocab_size");
  spec.max_positions = config.get_size("max_position_embeddings");
  spec.rms_eps = config.get_double("rms_norm_eps", 1e-6);
  spec.attention_bias = config.get_bool("attention_bias", false);
  if (spec.q_heads % spec.kv_heads != 0) {
    throw invalid_input("{}: num_attention_heads {} is not a multiple of num_key_value_heads {}", config.where(),
                        spec.q_heads, spec.kv_heads);
  }
  if (spec.head_dim % 2 != 0) throw invalid_input("{}: head_dim {} must be even for rotary positions", config.where(), spec.head_dim);
  if (config.has("rope_scaling")) {
    throw unsupported("{}: rope_scaling {} is not supported", config.where(), config.json()["rope_scaling"].dump());
  }
  spec.attention_scale = 1.0 / std::sqrt(static_cast<double>(spec.head_dim));
  return spec;
}

std::unique_ptr<Backbone> build_decoder(const DecoderSpec& spec, const WeightSource& weights,
                                        const BackboneOptions& options) {
  return std::make_unique<DecoderBackbone>(spec, weights, options);
}

}  // namespace memembed::model
