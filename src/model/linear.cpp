#include "linear.h"

#include "memembed/error.h"
#include "onednn_linear.h"

#include <fmt/format.h>

namespace memembed::model {

PrecisionPlan plan_precision(Precision requested) {
  const onednn::CpuSupport cpu = onednn::cpu_support();
  PrecisionPlan plan;
  plan.requested = plan.effective = requested;
  switch (requested) {
    case Precision::F32:
      plan.kernel = "OpenBLAS sgemm";
      break;
    case Precision::Int8:
      if (cpu.avx2) {
        plan.kernel = fmt::format("oneDNN int8 matmul on {} ({}), first transformer block in f32", cpu.isa,
                                  cpu.amx                ? "AMX-INT8 tiles"
                                  : cpu.int8_dot_product ? "VNNI 4-way dot products"
                                                         : "no VNNI: 16-bit pair products");
      } else {
        plan.effective = Precision::F32;
        plan.notice = fmt::format("int8 needs AVX2 or later and this CPU offers oneDNN only {}; computing in f32",
                                  cpu.isa);
      }
      break;
    case Precision::Bf16:
      if (cpu.bf16) {
        plan.kernel = fmt::format("oneDNN bf16 matmul on {} ({})", cpu.isa, cpu.amx ? "AMX-BF16 tiles" : "AVX512_BF16");
      } else {
        plan.effective = Precision::F32;
        plan.notice = fmt::format("bf16 needs AVX512_BF16 or AMX and this CPU offers oneDNN only {}; computing in f32",
                                  cpu.isa);
      }
      break;
  }
  if (plan.effective == Precision::F32 && plan.kernel.empty()) plan.kernel = "OpenBLAS sgemm";
  return plan;
}

Linear::Linear(at::Tensor weight, at::Tensor bias, Precision precision, bool inference_only)
    : weight_(std::move(weight)), bias_(std::move(bias)), out_(weight_.size(0)), in_(weight_.size(1)) {
  if (precision == Precision::F32) return;
  MEMEMBED_ASSERT(!bias_.defined() || bias_.is_contiguous());
  const at::Tensor contiguous = weight_.contiguous();
  const float* data = contiguous.data_ptr<float>();
  packed_ = precision == Precision::Int8 ? onednn::make_int8_linear(data, out_, in_)
                                         : onednn::make_bf16_linear(data, out_, in_);
  if (inference_only) weight_ = at::Tensor();
}

void prepare_linear(Linear& kernel, at::Tensor& weight, const at::Tensor& bias, const BackboneOptions& options) {
  kernel = Linear(weight, bias, options.precision, options.inference_only);
  if (options.frees_float_weights()) weight = at::Tensor();
}

const at::Tensor& Linear::float_weight() const {
  if (!weight_.defined()) {
    throw unsupported("a {}x{} linear layer loaded for inference only cannot run with autograd on (its float32 "
                      "weight was freed)",
                      in_, out_);
  }
  return weight_;
}

at::Tensor Linear::operator()(const at::Tensor& x) const {
  if (!packed_ || at::GradMode::is_enabled()) return at::linear(x, float_weight(), bias_);
  return packed_forward(x, nullptr);
}

at::Tensor Linear::onto(const at::Tensor& x, const at::Tensor& residual) const {
  if (at::GradMode::is_enabled()) return at::linear(x, float_weight(), bias_) + residual;
  if (packed_) return packed_forward(x, &residual);
  // The GEMM accumulates onto residual + bias (beta = 1): two passes over the output fewer than
  // linear, then add.
  at::Tensor output = bias_.defined() ? residual + bias_ : residual.clone();
  output.view({-1, weight_.size(0)}).addmm_(x.reshape({-1, weight_.size(1)}), weight_.t());
  return output;
}

at::Tensor Linear::packed_forward(const at::Tensor& x, const at::Tensor* residual) const {
  at::Tensor rows = x.reshape({-1, in_});
  if (rows.stride(1) != 1) rows = rows.contiguous();
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = out_;
  at::Tensor output = at::empty(shape, x.options());
  if (rows.size(0) == 0) return output;
  at::Tensor added;
  if (residual != nullptr) added = residual->contiguous();
  packed_->forward(rows.data_ptr<float>(), rows.size(0), rows.stride(0),
                   bias_.defined() ? bias_.data_ptr<float>() : nullptr,
                   added.defined() ? added.data_ptr<float>() : nullptr, output.data_ptr<float>());
  return output;
}

}  // namespace memembed::model
