#include "layers.h"

#include "memembed/error.h"

#include <cmath>
#include <limits>

namespace memembed::model {

Activation parse_activation(const std::string& name, const std::string& where) {
  if (name == "gelu") return Activation::GeluErf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::GeluTanh;
  if (name == "relu") return Activation::Relu;
  if (name == "silu" || name == "swish") return Activation::Silu;
  throw unsupported("{}: unknown activation \"{}\" (known: gelu, gelu_new, gelu_pytorch_tanh, relu, silu)",
                    where, name);
}

at::Tensor activate(const at::Tensor& x, Activation activation) {
  switch (activation) {
    case Activation::GeluErf: return at::gelu(x);
    case Activation::GeluTanh: return at::gelu(x, "tanh");
    case Activation::Relu: return at::relu(x);
    case Activation::Silu: return at::silu(x);
  }
  MEMEMBED_ASSERT(false);
  return x;
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& scale, double eps) {
  const at::Tensor variance = x.pow(2).mean(-1, /*keepdim=*/true);
  return x * at::rsqrt(variance + eps) * scale;
}

at::Tensor attention_bias(const at::Tensor& attention_mask, const AttentionPattern& pattern) {
  const int64_t length = attention_mask.size(1);
  // keys that are real tokens: [B, 1, 1, L]
  at::Tensor allowed = attention_mask.to(at::kBool).unsqueeze(1).unsqueeze(2);
  if (pattern.causal || pattern.window_radius >= 0) {
    const at::Tensor positions = at::arange(length, at::kLong);
    const at::Tensor offset = positions.unsqueeze(0) - positions.unsqueeze(1);  // [Lq, Lk] = j - i
    at::Tensor structural = at::ones({length, length}, at::kBool);
    if (pattern.causal) structural = structural & (offset <= 0);
    if (pattern.window_radius >= 0) structural = structural & (offset.abs() <= pattern.window_radius);
    allowed = allowed & structural.unsqueeze(0).unsqueeze(0);
  }
  at::Tensor bias = at::zeros(allowed.sizes(), at::kFloat);
  bias.masked_fill_(allowed.logical_not(), std::numeric_limits<float>::lowest());
  return bias;
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const at::Tensor& bias, double scale) {
  const int64_t batch = q.size(0), q_heads = q.size(1), length = q.size(2), head_dim = q.size(3);
  const int64_t kv_heads = k.size(1);
  const int64_t group = q_heads / kv_heads;
  at::Tensor context;
  if (group == 1) {
    at::Tensor scores = at::matmul(q, k.transpose(-1, -2)).mul_(scale).add_(bias);
    context = at::matmul(at::softmax(scores, -1), v);
  } else {
    // Fold the query heads that share a key/value head into the row dimension, so each shared
    // head is one matmul instead of `group` copies of k and v.
    at::Tensor grouped_q = q.reshape({batch, kv_heads, group * length, head_dim});
    at::Tensor scores = at::matmul(grouped_q, k.transpose(-1, -2))
                            .view({batch, kv_heads, group, length, length})
                            .mul_(scale)
                            .add_(bias.unsqueeze(2));
    context = at::matmul(at::softmax(scores, -1).view({batch, kv_heads, group * length, length}), v)
                  .view({batch, q_heads, length, head_dim});
  }
  return context.transpose(1, 2).reshape({batch, length, q_heads * head_dim});
}

RopeTables rope_tables(int64_t sequence_length, int64_t head_dim, double base) {
  // Frequencies computed in float32 as the reference implementations do, so angles match bit for bit.
  const at::Tensor exponents = at::arange(0, head_dim, 2, at::kLong).to(at::kFloat) / static_cast<float>(head_dim);
  const at::Tensor inverse_frequency = 1.0 / at::pow(static_cast<float>(base), exponents);
  const at::Tensor positions = at::arange(sequence_length, at::kLong).to(at::kFloat);
  const at::Tensor angles = at::outer(positions, inverse_frequency);  // [L, D/2]
  const at::Tensor full = at::cat({angles, angles}, -1);              // [L, D]
  return {full.cos(), full.sin()};
}

at::Tensor apply_rope(const at::Tensor& x, const RopeTables& tables) {
  const int64_t half = x.size(-1) / 2;
  const at::Tensor first = x.narrow(-1, 0, half);
  const at::Tensor second = x.narrow(-1, half, half);
  const at::Tensor rotated = at::cat({-second, first}, -1);
  return x * tables.cos + rotated * tables.sin;
}

QKV split_heads(const at::Tensor& packed, int64_t q_heads, int64_t kv_heads, int64_t head_dim) {
  const int64_t batch = packed.size(0), length = packed.size(1);
  const auto parts = packed.split_with_sizes({q_heads * head_dim, kv_heads * head_dim, kv_heads * head_dim}, -1);
  auto heads = [&](const at::Tensor& t, int64_t count) {
    return t.view({batch, length, count, head_dim}).transpose(1, 2);
  };
  return {heads(parts[0], q_heads), heads(parts[1], kv_heads), heads(parts[2], kv_heads)};
}

}  // namespace memembed::model
