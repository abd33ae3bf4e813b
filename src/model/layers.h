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

// Which keys each query may see, besides the padding mask.
struct AttentionPattern {
  bool causal = false;
  int64_t window_radius = -1;  // |i - j| <= radius; < 0: unlimited
};

// Scaled dot-product attention with grouped-query heads, in [batch, seq, heads, head_dim] layout.
// q: [B, L, Hq, D]; k, v: [B, L, Hkv, D] with Hq a multiple of Hkv (query head h reads key/value
// head h / (Hq / Hkv)); each may be a strided view (e.g. into a packed projection) as long as D is
// contiguous. attention_mask: [B, L] int64, 0 marks padded keys. Returns [B, L, Hq * D].
//
// Inference runs a fused per-(batch, head) kernel tiled over queries and keys with an online
// softmax (running maximum and sum per query, as in FlashAttention): per key tile, two sgemm calls
// with the exponentials in between. Each worker's scratch is one kAttentionQueryTile x
// kAttentionKeyTile score tile plus O(L) floats, whatever the sequence length, so 32k-token contexts
// need no L x L matrix. Keys that are padding for the whole row, and key tiles outside a causal or
// sliding-window pattern, are skipped. When autograd needs the graph it runs attention_reference.
constexpr int64_t kAttentionQueryTile = 64;
constexpr int64_t kAttentionKeyTile = 512;
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& attention_mask,
                     const AttentionPattern& pattern, double scale);
// The same computation composed from differentiable ATen ops (matmul, masked softmax).
at::Tensor attention_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               const at::Tensor& attention_mask, const AttentionPattern& pattern, double scale);

// Rotary embeddings in rotate-half form. Tables are [seq, D] for positions 0..seq-1.
struct RopeTables {
  at::Tensor cos;
  at::Tensor sin;
};
RopeTables rope_tables(int64_t sequence_length, int64_t head_dim, double base);
at::Tensor apply_rope(const at::Tensor& x, const RopeTables& tables);  // x: [B, L, H, D]

// Views of a packed projection [B, L, (Hq + 2 Hkv) * D] as q [B, L, Hq, D], k, v [B, L, Hkv, D].
struct QKV {
  at::Tensor q, k, v;
};
QKV split_heads(const at::Tensor& packed, int64_t q_heads, int64_t kv_heads, int64_t head_dim);

// FLOPs of a [rows x in] x [in x out] product.
inline double matmul_flops(double rows, double in, double out) { return 2.0 * rows * in * out; }

}  // namespace memembed::model
