// A linear layer's inference kernel at one Precision: y = x W^T + b, optionally accumulated onto a
// residual. The float32 weight and bias stay the layer's parameters (saved, trained); int8 and bf16
// pack a converted copy once, at construction. With autograd on, the float32 path runs, which an
// inference-only layer (float32 weight freed) refuses.
#pragma once

#include "backbone.h"
#include "memembed/model.h"

#include <ATen/ATen.h>

#include <memory>

namespace memembed::model {

namespace onednn {
class PackedLinear;
}

class Linear {
 public:
  Linear() = default;
  // weight [out, in] float32 (shared, not copied), bias [out] or undefined. `precision` must be
  // one plan_precision returned as effective. `inference_only` at int8/bf16: keep no reference to
  // the float32 weight once packed (the caller drops its own to free it).
  Linear(at::Tensor weight, at::Tensor bias, Precision precision, bool inference_only = false);

  // x [..., in] -> [..., out].
  at::Tensor operator()(const at::Tensor& x) const;
  // residual + x W^T + b, with the sum made in the same pass (no separate bias and add passes).
  at::Tensor onto(const at::Tensor& x, const at::Tensor& residual) const;

 private:
  at::Tensor packed_forward(const at::Tensor& x, const at::Tensor* residual) const;
  const at::Tensor& float_weight() const;  // throws when freed

  at::Tensor weight_, bias_;  // weight_ undefined when freed (inference only)
  int64_t out_ = 0, in_ = 0;
  std::shared_ptr<const onednn::PackedLinear> packed_;  // null for float32
};

// Makes `kernel` over `weight` (and `bias`) as `options` ask; where they free float32 weights,
// also drops the caller's reference, `weight`, which frees it.
void prepare_linear(Linear& kernel, at::Tensor& weight, const at::Tensor& bias, const BackboneOptions& options);

}  // namespace memembed::model
