// The transformer at the head of every pipeline: token ids in, contextual token vectors out.
// Each architecture implements this once (arch_<name>.cpp) and registers a row in architecture.cpp.
#pragma once

#include "memembed/error.h"
#include "memembed/model.h"

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

namespace memembed::model {

class Backbone {
 public:
  virtual ~Backbone() = default;

  // input_ids, attention_mask: [batch, seq] int64 (mask 1 = token, 0 = padding; padding may be on
  // either side). Returns the last hidden state [batch, seq, hidden] in float32.
  virtual at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& attention_mask) const = 0;

  virtual int64_t hidden_size() const = 0;
  // Longest sequence the position encoding supports (special tokens included).
  virtual int64_t max_positions() const = 0;
  // FLOPs of one forward pass over `rows` sequences of `sequence_length` tokens: linear layers
  // (2 per multiply-add) plus the two attention matmuls.
  virtual double flops(int64_t rows, int64_t sequence_length) const = 0;
  // (in, out) of each linear layer every token passes through, in order, over all layers.
  virtual std::vector<std::pair<int64_t, int64_t>> linear_shapes() const = 0;
  // Weights under their Hugging Face names, as the architecture's checkpoints store them.
  virtual std::vector<std::pair<std::string, at::Tensor>> named_weights() const = 0;
  // Trainable tensors (may be fused views' owners, e.g. a packed q/k/v matrix).
  virtual std::vector<at::Tensor> parameters() const = 0;
};

// How a backbone prepares its linear layers as it reads their weights.
struct BackboneOptions {
  Precision precision = Precision::F32;  // an effective precision from plan_precision
  // At int8/bf16: free each float32 linear weight as soon as its packed copy exists, layer by layer,
  // so the float32 model is never whole in memory. named_weights() and parameters() then throw:
  // such a backbone runs inference only (no training, no saving).
  bool inference_only = false;

  bool frees_float_weights() const { return inference_only && precision != Precision::F32; }

  // The options for the linear layers of transformer block `index` (0-based) of `count`. At int8
  // the first block of a model with several stays float32: the rounding noise of its linear
  // layers passes through every later block and is amplified most (measured per layer on the
  // decoder fixtures: layer 0's q/k/v projection alone gave 40-60% of the int8 error, a last
  // layer's under 5%; docs/bench.md "int8 agreement"). It costs 1/count of the linear work.
  BackboneOptions for_block(int64_t index, int64_t count) const {
    BackboneOptions block = *this;
    if (precision == Precision::Int8 && index == 0 && count > 1) block.precision = Precision::F32;
    return block;
  }
};

// named_weights()/parameters() of a backbone whose float32 linear weights were freed.
[[noreturn]] inline void throw_float_weights_freed(Precision precision) {
  throw unsupported("this model was loaded for inference at {}: its float32 linear weights were freed; load it "
                    "again for training or saving",
                    to_string(precision));
}

}  // namespace memembed::model
