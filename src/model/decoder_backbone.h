// The decoder-style transformer that Gemma3 and Qwen3 (and their relatives) share: RMSNorm,
// grouped-query attention with per-head q/k norm and rotary positions, and a gated MLP. The
// architectures differ only in the choices gathered in DecoderSpec, which arch_gemma3.cpp and
// arch_qwen3.cpp fill in from config.json.
#pragma once

#include "backbone.h"
#include "hf_config.h"
#include "layers.h"
#include "safetensors.h"

#include <memory>
#include <string>
#include <vector>

namespace memembed::model {

struct DecoderSpec {
  int64_t hidden = 0, layers = 0, q_heads = 0, kv_heads = 0, head_dim = 0, intermediate = 0, vocab = 0;
  int64_t max_positions = 0;
  double rms_eps = 1e-6;
  bool norm_adds_one = false;       // Gemma: x_normed * (1 + w)
  bool sandwich_norms = false;      // Gemma: extra norms after attention and around the MLP
  double embedding_scale = 1.0;     // Gemma: sqrt(hidden)
  double attention_scale = 0.0;     // multiplies q.k
  bool causal = true;
  bool attention_bias = false;      // q/k/v projections carry biases
  Activation activation = Activation::Silu;
  // Per layer: the rotary base and the attention window radius (< 0: unlimited).
  std::vector<double> rope_base;
  std::vector<int64_t> window_radius;
};

std::unique_ptr<Backbone> build_decoder(const DecoderSpec& spec, const WeightSource& weights,
                                        const BackboneOptions& options);

// Checks the fields every decoder config shares and fills them into a spec (errors name the file).
DecoderSpec read_common_decoder_config(const HfConfig& config);

}  // namespace memembed::model
