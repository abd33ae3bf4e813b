// Building blocks shared by the architectures: normalisation, activations, attention, rotary
// position embeddings, packed projections. Pure functions over tensors; no weights live here.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace memembed::model {

enum class Activation { GeluErf, GeluTanh, Relu, Silu };

// Maps a config.json activation name ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu",
// "swish") to the function; unknown names are Unsupported, naming `where` and the known names.
Activation parse_activation(const std::string& name, const std::string& where);
at::Tensor activate(const at::Tensor& x, Activation activation);

// RMSNorm over the last dimension: x / sqrt(mean(x^2) + eps) * scale. Gemma stores `w` and scales
// by (1 + w); fold that into `scale` at load time.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& scale, double eps);

// Additive attention bias [batch, 1, seq, seq] (0 = may attend, lowest float = may not) from the
// padding mask, optionally causal and/or limited to |i - j| <= radius.
struct AttentionPattern {
  bool causal = false;
  int64_t window_radius = -1;  // < 0: unlimited
};
at::Tensor attention_bias(const at::Tensor& attention_mask, const AttentionPattern& pattern);

// Scaled dot-product attention with grouped-query heads. q: [B, Hq, L, D], k/v: [B, Hkv, L, D],
// Hq a multiple of Hkv, bias broadcastable to [B, Hq, L, L]. Returns [B, L, Hq * D].
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const at::Tensor& bias, double scale);

// Rotary embeddings in rotate-half form. Tables are [seq, D] for positions 0..seq-1.
struct RopeTables {
  at::Tensor cos;
  at::Tensor sin;
};
RopeTables rope_tables(int64_t sequence_length, int64_t head_dim, double base);
at::Tensor apply_rope(const at::Tensor& x, const RopeTables& tables);  // x: [B, H, L, D]

// Splits a packed projection [B, L, (Hq + 2 Hkv) * D] into q [B, Hq, L, D], k, v [B, Hkv, L, D].
struct QKV {
  at::Tensor q, k, v;
};
QKV split_heads(const at::Tensor& packed, int64_t q_heads, int64_t kv_heads, int64_t head_dim);

// FLOPs of a [rows x in] x [in x out] product.
inline double matmul_flops(double rows, double in, double out) { return 2.0 * rows * in * out; }

}  // namespace memembed::model
