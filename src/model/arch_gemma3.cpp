// Gemma3 text encoder as EmbeddingGemma uses it: bidirectional attention, sliding-window and full
// layers with their own rotary bases, (1 + w) RMSNorm around both attention and MLP, embeddings
// scaled by sqrt(hidden), tanh-GELU gated MLP.
#include "architecture.h"
#include "decoder_backbone.h"
#include "memembed/error.h"

#include <cmath>

namespace memembed::model {

std::unique_ptr<Backbone> build_gemma3(const HfConfig& config, const WeightSource& weights,
                                       const BackboneOptions& options) {
  DecoderSpec spec = read_common_decoder_config(config);
  spec.norm_adds_one = true;
  spec.sandwich_norms = true;
  // HF multiplies by sqrt(hidden) rounded to the compute dtype.
  spec.embedding_scale = static_cast<float>(std::sqrt(static_cast<double>(spec.hidden)));
  spec.attention_scale = 1.0 / std::sqrt(config.get_double("query_pre_attn_scalar", static_cast<double>(spec.head_dim)));
  spec.causal = !config.get_bool("use_bidirectional_attention", false);
  spec.activation = parse_activation(config.get_string("hidden_activation", "gelu_pytorch_tanh"),
                                     config.where() + ": hidden_activation");
  if (config.has("attn_logit_softcapping")) {
    throw unsupported("{}: attn_logit_softcapping is not supported", config.where());
  }

  const double global_base = config.get_double("rope_theta", 1e6);
  const double local_base = config.get_double("rope_local_base_freq", 1e4);
  const int64_t window = config.get_size("sliding_window", 4096);
  std::vector<std::string> layer_types = config.get_strings("layer_types");
  if (layer_types.empty()) {
    // Older configs give a pattern instead: every Nth layer is full attention.
    const int64_t pattern = config.get_size("sliding_window_pattern", config.get_size("_sliding_window_pattern", 6));
    for (int64_t i = 0; i < spec.layers; ++i) {
      layer_types.push_back((i + 1) % pattern == 0 ? "full_attention" : "sliding_attention");
    }
  }
  if (static_cast<int64_t>(layer_types.size()) != spec.layers) {
    throw invalid_input("{}: layer_types lists {} layers but num_hidden_layers is {}", config.where(),
                        layer_types.size(), spec.layers);
  }
  for (const std::string& type : layer_types) {
    if (type == "sliding_attention") {
      spec.rope_base.push_back(local_base);
      // Bidirectional sliding attention sees window // 2 tokens on each side (what transformers
      // does for bidirectional Gemma3); causal sliding attention sees window - 1 tokens back.
      spec.window_radius.push_back(spec.causal ? window - 1 : window / 2);
    } else if (type == "full_attention") {
      spec.rope_base.push_back(global_base);
      spec.window_radius.push_back(-1);
    } else {
      throw unsupported("{}: layer type \"{}\" is not supported (sliding_attention, full_attention)", config.where(), type);
    }
  }
  return build_decoder(spec, weights, options);
}

}  // namespace memembed::model
