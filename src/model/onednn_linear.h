// Linear layers with int8 or bf16 weights, computed by oneDNN's matmul: y = x W^T (+ bias)
// (+ residual). Plain float buffers in and out (no libtorch here), so the kernels can be measured
// and checked on their own.
//
// int8: weights quantized once, symmetric per output channel (scale = max|W[o, :]| / 127, or / 63
// on CPUs without VNNI/AMX: see Int8Linear); activations quantized on every call per row/token,
// asymmetric uint8 over [min, max] (with 0 inside) with their own scale and zero point; the int32 dot products are scaled back to float by both scales after removing the
// zero point's share. bf16: weights rounded to bfloat16 once, activations on every call,
// products accumulated in float32.
//
// oneDNN picks the kernel for the CPU it runs on (AVX2, AVX-512, AVX-512 VNNI / AVX-VNNI for
// int8, AVX512_BF16 / AMX for bf16) and honours DNNL_MAX_CPU_ISA, which caps the instruction set
// it may use: that is how a capable machine is made to take the fallback paths.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace memembed::model::onednn {

// What oneDNN may use on this CPU (after DNNL_MAX_CPU_ISA).
struct CpuSupport {
  std::string isa;            // oneDNN's effective ISA, e.g. "avx2", "avx512_core_amx"
  bool avx2 = false;          // the floor for int8 to beat float32
  bool int8_dot_product = false;  // AVX-512 VNNI, AVX-VNNI or AMX-INT8: one instruction per 4 products
  bool bf16 = false;          // AVX512_BF16 or AMX-BF16
  bool amx = false;
};
CpuSupport cpu_support();

class PackedLinear {
 public:
  virtual ~PackedLinear() = default;
  // out[r, :] = x[r, :] W^T + bias + residual[r, :] for r < rows. x rows are `x_stride` floats
  // apart; bias ([out]) and residual (rows x out, contiguous) may be null; out is rows x out,
  // contiguous, and must not overlap x or residual. Safe to call from several threads at once.
  virtual void forward(const float* x, int64_t rows, int64_t x_stride, const float* bias, const float* residual,
                       float* out) const = 0;
  // The oneDNN implementation chosen (e.g. "gemm:jit", "brg:avx512_core_amx").
  virtual const std::string& implementation() const = 0;
};

// `weight` is [out, in] row-major float32. Throw Unsupported when oneDNN has no kernel for the
// data type on this CPU. `rows` > 0 makes a layer for exactly that many rows per call (forward
// throws InvalidInput on any other count): oneDNN 2.6 offers some kernels (AMX brgemm) only for a
// row count known when the layer is made; 0 (the default) takes any count.
std::unique_ptr<PackedLinear> make_int8_linear(const float* weight, int64_t out, int64_t in, int64_t rows = 0);
std::unique_ptr<PackedLinear> make_bf16_linear(const float* weight, int64_t out, int64_t in, int64_t rows = 0);

}  // namespace memembed::model::onednn
