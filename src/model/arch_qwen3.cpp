// Qwen3 as Qwen3-Embedding uses it: causal attention, standard RMSNorm, SwiGLU MLP, one rotary base.
#include "architecture.h"
#include "decoder_backbone.h"
#include "memembed/error.h"

namespace memembed::model {

std::unique_ptr<Backbone> build_qwen3(const HfConfig& config, const WeightSource& weights,
                                      const BackboneOptions& options) {
  DecoderSpec spec = read_common_decoder_config(config);
  spec.causal = true;
  spec.activation = parse_activation(config.get_string("hidden_act", "silu"), config.where() + ": hidden_act");
  if (config.get_bool("use_sliding_window", false)) {
    throw unsupported("{}: use_sliding_window true is not supported for Qwen3", config.where());
  }
  spec.rope_base.assign(static_cast<size_t>(spec.layers), config.get_double("rope_theta", 1e6));
  spec.window_radius.assign(static_cast<size_t>(spec.layers), -1);
  return build_decoder(spec, weights, options);
}

}  // namespace memembed::model
