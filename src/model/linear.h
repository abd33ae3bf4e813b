// A linear layer's inference kernel at one Precision: y = x W^T + b, optionally accumulated onto a
// residual. The float32 weight and bias stay the layer's parameters (saved, trained); int8 and bf16
// pack a converted copy once, at construction. With autograd on, the float32 path always runs.
#pragma once

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
  // one plan_precision returned as effective.
  Linear(at::Tensor weight, at::Tensor bias, Precision precision);

  // x [..., in] -> [..., out].
  at::Tensor operator()(const at::Tensor& x) const;
  // residual + x W^T + b, with the sum made in the same pass (no separate bias and add passes).
  at::Tensor onto(const at::Tensor& x, const at::Tensor& residual) const;

 private:
  at::Tensor packed_forward(const at::Tensor& x, const at::Tensor* residual) const;

  at::Tensor weight_, bias_;
  std::shared_ptr<const onednn::PackedLinear> packed_;  // null for float32
};

}  // namespace memembed::model
