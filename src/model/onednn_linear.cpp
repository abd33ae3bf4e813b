#include "onednn_linear.h"

#include "memembed/error.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace memembed::model::onednn {

namespace {

using dt = dnnl::memory::data_type;

const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

bool includes(dnnl::cpu_isa effective, dnnl::cpu_isa feature) {
  const auto have = static_cast<unsigned>(effective), want = static_cast<unsigned>(feature);
  return (have & want) == want;
}

const char* isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "none";
  }
}

// A [rows, n] row-major matrix; rows 0 = decided on each call.
dnnl::memory::desc row_major(int64_t rows, int64_t n, dt type) {
  return dnnl::memory::desc({rows > 0 ? rows : DNNL_RUNTIME_DIM_VAL, n}, type, {n, 1});
}

// Symmetric int8 of one weight row: q = round(x / scale) in [-levels, levels], scale = max|x| /
// levels; returns the scale (0 for an all-zero row). Branch-free so it vectorises (-O3, AVX2 clone
// chosen at load time).
__attribute__((target_clones("avx2", "default"))) float quantize_weights(const float* x, int64_t n, float levels,
                                                                         int8_t* q) {
  float largest = 0.0f;
  for (int64_t j = 0; j < n; ++j) largest = std::max(largest, std::fabs(x[j]));
  const float inverse = largest > 0.0f ? levels / largest : 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    const float scaled = x[j] * inverse;
    q[j] = static_cast<int8_t>(static_cast<int32_t>(scaled + (scaled >= 0.0f ? 0.5f : -0.5f)));
  }
  return largest / levels;
}

// Asymmetric uint8 of one activation row over [min(x, 0), max(x, 0)] in `levels` steps:
// x ~ scale * (q - zero). Zero stays exact (padding rows, ReLU outputs).
struct RowQuantization {
  float scale, zero;
};
__attribute__((target_clones("avx2", "default"))) RowQuantization quantize_activations(const float* x, int64_t n,
                                                                                         float levels, uint8_t* q) {
  float low = 0.0f, high = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    low = std::min(low, x[j]);
    high = std::max(high, x[j]);
  }
  const float scale = (high - low) / levels;
  const float inverse = scale > 0.0f ? 1.0f / scale : 0.0f;
  const float zero = std::nearbyint(-low * inverse);
  for (int64_t j = 0; j < n; ++j) {
    const float shifted = std::min(levels, std::max(0.0f, x[j] * inverse + zero));
    q[j] = static_cast<uint8_t>(static_cast<int32_t>(shifted + 0.5f));
  }
  return {scale, zero};
}

// bfloat16 with round-to-nearest-even (inputs are finite activations and weights).
__attribute__((target_clones("avx2", "default"))) void to_bf16(const float* x, int64_t n, uint16_t* out) {
  for (int64_t j = 0; j < n; ++j) {
    uint32_t bits;
    std::memcpy(&bits, &x[j], sizeof bits);
    bits += 0x7FFFu + ((bits >> 16) & 1u);
    out[j] = static_cast<uint16_t>(bits >> 16);
  }
}

// y = (y - offset * column_offset) * row_scale + bias + residual, in place on one output row.
// column_offset may be null (no offset); bias and residual may be null.
__attribute__((target_clones("avx2", "default"))) void finish_row(float* y, int64_t n, float row_scale, float offset,
                                                                  const float* column_offset, const float* bias,
                                                                  const float* residual) {
  if (column_offset != nullptr) {
    for (int64_t j = 0; j < n; ++j) y[j] = (y[j] - offset * column_offset[j]) * row_scale;
  } else if (row_scale != 1.0f) {
    for (int64_t j = 0; j < n; ++j) y[j] *= row_scale;
  }
  if (bias != nullptr) {
    for (int64_t j = 0; j < n; ++j) y[j] += bias[j];
  }
  if (residual != nullptr) {
    for (int64_t j = 0; j < n; ++j) y[j] += residual[j];
  }
}

// Shared by both precisions: a matmul primitive over a packed [in, out] weight ("ba": the
// [out, in] rows as stored), runtime row count, float32 output.
class OnednnLinear : public PackedLinear {
 public:
  const std::string& implementation() const override { return implementation_; }

 protected:
  OnednnLinear(int64_t out, int64_t in, int64_t rows, dt source_type, dt weight_type,
               const dnnl::primitive_attr& attributes, const char* what)
      : out_(out), in_(in), rows_(rows), source_type_(source_type), weight_type_(weight_type) {
    const dnnl::memory::desc weights_desc({in, out}, weight_type, {1, in});
    try {
      const dnnl::matmul::desc desc(row_major(rows, in, source_type), weights_desc, row_major(rows, out, dt::f32));
      const dnnl::matmul::primitive_desc primitive_desc(desc, attributes, cpu_engine());
      implementation_ = primitive_desc.impl_info_str();
      matmul_ = dnnl::matmul(primitive_desc);
    } catch (const dnnl::error& e) {
      throw unsupported("oneDNN has no {} matmul for this CPU ({}): {}", what, isa_name(dnnl::get_effective_cpu_isa()),
                        e.what());
    }
  }

  void check_rows(int64_t rows) const {
    if (rows_ > 0 && rows != rows_) {
      throw invalid_input("this {}x{} layer was made for {} rows per call, not {}", in_, out_, rows_, rows);
    }
  }

  // out = x_low W^T, where x_low holds `rows` rows of the low-precision activations.
  void multiply(const void* x_low, int64_t rows, const void* weights, float* out) const {
    const dnnl::memory src({{rows, in_}, source_type_, {in_, 1}}, cpu_engine(), const_cast<void*>(x_low));
    const dnnl::memory wei({{in_, out_}, weight_type_, {1, in_}}, cpu_engine(), const_cast<void*>(weights));
    const dnnl::memory dst({{rows, out_}, dt::f32, {out_, 1}}, cpu_engine(), out);
    dnnl::stream stream(cpu_engine());
    matmul_.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
    stream.wait();
  }

  int64_t out_, in_, rows_;

 private:
  dt source_type_, weight_type_;
  dnnl::matmul matmul_;
  std::string implementation_;
};

// Activations as uint8 with a zero point per row, weights as int8: oneDNN's u8 x s8 kernels (the
// s8 x s8 route of oneDNN 2.6's AVX2 gemm returned wrong sums here). Without VNNI/AMX those
// kernels add pairs of u8 x s8 products in 16 bits (vpmaddubsw), which saturates above 32767, so
// there weights get 7 bits (255 x 63 x 2 fits) and activations keep 8: activations, with their
// outliers, lose more to coarse steps than weights do. VNNI and AMX accumulate in 32 bits.
class Int8Linear final : public OnednnLinear {
 public:
  Int8Linear(int64_t out, int64_t in, int64_t rows, const std::vector<float>& channel_scales,
             std::vector<int8_t> quantized)
      : OnednnLinear(out, in, rows, dt::u8, dt::s8, attributes(channel_scales), "int8"),
        quantized_(std::move(quantized)),
        scaled_column_sums_(static_cast<size_t>(out)) {
    // The zero point's share of each output: zero * sum_k W_q[o, k], in the output's units.
    for (int64_t o = 0; o < out; ++o) {
      int64_t sum = 0;
      for (int64_t k = 0; k < in; ++k) sum += quantized_[static_cast<size_t>(o * in + k)];
      scaled_column_sums_[static_cast<size_t>(o)] = static_cast<float>(sum) * channel_scales[static_cast<size_t>(o)];
    }
  }

  void forward(const float* x, int64_t rows, int64_t x_stride, const float* bias, const float* residual,
               float* out) const override {
    check_rows(rows);
    // Per-thread buffers, kept between calls: the activations change every call, their size rarely.
    thread_local std::vector<uint8_t> activations;
    thread_local std::vector<RowQuantization> row_quantization;
    activations.resize(static_cast<size_t>(rows * in_));
    row_quantization.resize(static_cast<size_t>(rows));
    uint8_t* q = activations.data();
    RowQuantization* per_row = row_quantization.data();
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) per_row[r] = quantize_activations(x + r * x_stride, in_, 255.0f, q + r * in_);
    multiply(q, rows, quantized_.data(), out);  // out = (q . W_q) * channel scale
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      finish_row(out + r * out_, out_, per_row[r].scale, per_row[r].zero, scaled_column_sums_.data(), bias,
                 residual == nullptr ? nullptr : residual + r * out_);
    }
  }

 private:
  static dnnl::primitive_attr attributes(const std::vector<float>& channel_scales) {
    dnnl::primitive_attr attributes;
    attributes.set_output_scales(1 << 1, channel_scales);  // one scale per output column
    return attributes;
  }

  std::vector<int8_t> quantized_;           // [out, in] row-major = [in, out] "ba"
  std::vector<float> scaled_column_sums_;   // per output: channel scale * sum of its int8 weights
};

class Bf16Linear final : public OnednnLinear {
 public:
  Bf16Linear(const float* weight, int64_t out, int64_t in, int64_t rows)
      : OnednnLinear(out, in, rows, dt::bf16, dt::bf16, dnnl::primitive_attr(), "bf16"),
        weights_(static_cast<size_t>(out * in)) {
    to_bf16(weight, out * in, weights_.data());
  }

  void forward(const float* x, int64_t rows, int64_t x_stride, const float* bias, const float* residual,
               float* out) const override {
    check_rows(rows);
    thread_local std::vector<uint16_t> activations;
    activations.resize(static_cast<size_t>(rows * in_));
    uint16_t* converted = activations.data();
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) to_bf16(x + r * x_stride, in_, converted + r * in_);
    multiply(converted, rows, weights_.data(), out);
    if (bias == nullptr && residual == nullptr) return;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      finish_row(out + r * out_, out_, 1.0f, 0.0f, nullptr, bias, residual == nullptr ? nullptr : residual + r * out_);
    }
  }

 private:
  std::vector<uint16_t> weights_;
};

}  // namespace

CpuSupport cpu_support() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  CpuSupport support;
  support.isa = isa_name(isa);
  support.avx2 = includes(isa, dnnl::cpu_isa::avx2);
  support.int8_dot_product = includes(isa, dnnl::cpu_isa::avx512_core_vnni) || includes(isa, dnnl::cpu_isa::avx2_vnni);
  support.bf16 = includes(isa, dnnl::cpu_isa::avx512_core_bf16);
  support.amx = includes(isa, dnnl::cpu_isa::avx512_core_amx);
  return support;
}

std::unique_ptr<PackedLinear> make_int8_linear(const float* weight, int64_t out, int64_t in, int64_t rows) {
  std::vector<float> scales(static_cast<size_t>(out));
  std::vector<int8_t> quantized(static_cast<size_t>(out * in));
  const float weight_levels = cpu_support().int8_dot_product ? 127.0f : 63.0f;  // see Int8Linear
  for (int64_t o = 0; o < out; ++o) {
    scales[static_cast<size_t>(o)] = quantize_weights(weight + o * in, in, weight_levels, quantized.data() + o * in);
  }
  return std::make_unique<Int8Linear>(out, in, rows, scales, std::move(quantized));
}

std::unique_ptr<PackedLinear> make_bf16_linear(const float* weight, int64_t out, int64_t in, int64_t rows) {
  return std::make_unique<Bf16Linear>(weight, out, in, rows);
}

}  // namespace memembed::model::onednn
