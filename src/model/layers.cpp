#include "layers.h"

#include "memembed/error.h"

#include <ATen/Parallel.h>
#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <cmath>
#include <limits>
#include <vector>

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

namespace {

// Keys row i may attend to, as a contiguous range (padding is checked separately).
struct KeyRange {
  int64_t first, last;  // inclusive
};

// exp(x) for x <= 0, in place, within 1 ulp (measured max relative error 8e-8 on [-87, 0]):
// reduction to [-ln2/2, ln2/2] with the 1.5 * 2^23 rounding trick, a degree-6 polynomial, and the
// exponent added to the bits; below -87 (and for -inf) the result is 0. It is branch-free so the
// compiler vectorises it (this file is built with -O3 -fno-trapping-math), and target_clones adds an
// AVX2/FMA build chosen at load time: libm's scalar expf took a tenth of the encoder's run time.
__attribute__((target_clones("avx2,fma", "default"))) void exp_non_positive(float* values, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    const float v = values[i];
    const float x = v < -87.0f ? -87.0f : v;
    const float shifted = x * 1.44269504088896341f + 12582912.0f;
    const float n = shifted - 12582912.0f;
    const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float e = (p * r * r + r) + 1.0f;
    uint32_t n_bits, e_bits;
    std::memcpy(&n_bits, &shifted, sizeof n_bits);
    std::memcpy(&e_bits, &e, sizeof e_bits);
    // n sits in the low mantissa bits of `shifted`. n <= 0: unsigned arithmetic wraps to the same
    // bits, where shifting a negative int left is undefined behaviour (UBSan's report).
    e_bits += (n_bits - 0x4B400000u) << 23;
    float result;
    std::memcpy(&result, &e_bits, sizeof result);
    values[i] = v < -87.0f ? 0.0f : result;
  }
}

KeyRange key_range(int64_t i, int64_t length, const AttentionPattern& pattern) {
  int64_t first = 0, last = length - 1;
  if (pattern.causal) last = i;
  if (pattern.window_radius >= 0) {
    first = std::max<int64_t>(first, i - pattern.window_radius);
    last = std::min<int64_t>(last, i + pattern.window_radius);
  }
  return {first, last};
}

}  // namespace

at::Tensor attention_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               const at::Tensor& attention_mask, const AttentionPattern& pattern, double scale) {
  const int64_t batch = q.size(0), length = q.size(1), q_heads = q.size(2), head_dim = q.size(3);
  const int64_t group = q_heads / k.size(2);
  at::Tensor allowed = attention_mask.to(at::kBool).view({batch, 1, 1, length});
  const at::Tensor positions = at::arange(length, at::kLong);
  const at::Tensor offset = positions.unsqueeze(0) - positions.unsqueeze(1);  // [i, j] = j - i
  at::Tensor structural = at::ones({length, length}, at::kBool);
  if (pattern.causal) structural = structural & (offset <= 0);
  if (pattern.window_radius >= 0) structural = structural & (offset.abs() <= pattern.window_radius);
  allowed = allowed & structural.view({1, 1, length, length});

  const at::Tensor qh = q.transpose(1, 2);                                 // [B, Hq, L, D]
  const at::Tensor kh = k.transpose(1, 2).repeat_interleave(group, 1);    // [B, Hq, L, D]
  const at::Tensor vh = v.transpose(1, 2).repeat_interleave(group, 1);
  const at::Tensor scores = at::matmul(qh, kh.transpose(-1, -2)) * scale;
  const at::Tensor probabilities =
      at::softmax(scores.masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity()), -1)
          .nan_to_num(0.0);  // a row with no visible key (a padded query) attends to nothing
  return at::matmul(probabilities, vh).transpose(1, 2).reshape({batch, length, q_heads * head_dim});
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& attention_mask,
                     const AttentionPattern& pattern, double scale) {
  if (at::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad())) {
    return attention_reference(q, k, v, attention_mask, pattern, scale);
  }
  const int64_t batch = q.size(0), length = q.size(1), q_heads = q.size(2), head_dim = q.size(3);
  const int64_t kv_heads = k.size(2);
  const int64_t group = q_heads / kv_heads;
  MEMEMBED_ASSERT(q.stride(3) == 1 && k.stride(3) == 1 && v.stride(3) == 1);
  MEMEMBED_ASSERT(q.scalar_type() == at::kFloat && k.scalar_type() == at::kFloat && v.scalar_type() == at::kFloat);

  at::Tensor output = at::empty({batch, length, q_heads * head_dim}, q.options());
  const at::Tensor mask = attention_mask.to(at::kLong).contiguous();
  const float* q_data = q.data_ptr<float>();
  const float* k_data = k.data_ptr<float>();
  const float* v_data = v.data_ptr<float>();
  const int64_t* mask_data = mask.data_ptr<int64_t>();
  float* out_data = output.data_ptr<float>();
  const int64_t out_row = q_heads * head_dim;
  const bool structural = pattern.causal || pattern.window_radius >= 0;
  constexpr float kMinusInfinity = -std::numeric_limits<float>::infinity();

  // One task per (batch row, query head). Inside the parallel region OpenBLAS runs each sgemm on
  // the calling thread, so the tasks are the only parallelism and nothing waits on a barrier.
  at::parallel_for(0, batch * q_heads, 1, [&](int64_t begin, int64_t end) {
    // The worker's whole scratch: a fixed tile of scores, the padding bias of one row of keys (so
    // the inner loops add instead of branching) and two numbers per query.
    std::vector<float> scores(static_cast<size_t>(kAttentionQueryTile * kAttentionKeyTile));
    std::vector<float> key_bias(static_cast<size_t>(length));
    float running_max[kAttentionQueryTile], running_sum[kAttentionQueryTile];
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / q_heads, h = task % q_heads, kv = h / group;
      const float* qb = q_data + b * q.stride(0) + h * q.stride(2);
      const float* kb = k_data + b * k.stride(0) + kv * k.stride(2);
      const float* vb = v_data + b * v.stride(0) + kv * v.stride(2);
      float* ob = out_data + b * length * out_row + h * head_dim;
      const int64_t* keep = mask_data + b * length;
      // Keys outside [first_key, last_key] are padding for every query: never computed.
      int64_t first_key = length, last_key = -1;
      for (int64_t j = 0; j < length; ++j) {
        key_bias[static_cast<size_t>(j)] = keep[j] != 0 ? 0.0f : kMinusInfinity;
        if (keep[j] != 0) {
          first_key = std::min(first_key, j);
          last_key = j;
        }
      }

      for (int64_t q0 = 0; q0 < length; q0 += kAttentionQueryTile) {
        const int64_t rows = std::min(kAttentionQueryTile, length - q0);
        // Keys any query of this tile may see.
        const KeyRange tile_keys{std::max(first_key, key_range(q0, length, pattern).first),
                                 std::min(last_key, key_range(q0 + rows - 1, length, pattern).last)};
        std::fill(running_max, running_max + rows, kMinusInfinity);
        std::fill(running_sum, running_sum + rows, 0.0f);
        bool first_tile = true;
        for (int64_t k0 = tile_keys.first; k0 <= tile_keys.last; k0 += kAttentionKeyTile) {
          const int64_t columns = std::min(kAttentionKeyTile, tile_keys.last + 1 - k0);
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(rows),
                      static_cast<blasint>(columns), static_cast<blasint>(head_dim), static_cast<float>(scale),
                      qb + q0 * q.stride(1), static_cast<blasint>(q.stride(1)), kb + k0 * k.stride(1),
                      static_cast<blasint>(k.stride(1)), 0.0f, scores.data(), static_cast<blasint>(kAttentionKeyTile));
          // Online softmax: each row keeps its running maximum and sum; the output accumulated so
          // far is rescaled whenever the maximum grows, and divided by the sum at the end.
          for (int64_t i = 0; i < rows; ++i) {
            float* row = scores.data() + i * kAttentionKeyTile;
            const float* bias = key_bias.data() + k0;
            int64_t lo = 0, hi = columns - 1;  // visible columns, before padding
            if (structural) {
              const KeyRange range = key_range(q0 + i, length, pattern);
              lo = std::clamp<int64_t>(range.first - k0, 0, columns);
              hi = std::clamp<int64_t>(range.last - k0, lo - 1, columns - 1);
            }
            float tile_max = kMinusInfinity;
            for (int64_t j = lo; j <= hi; ++j) tile_max = std::max(tile_max, row[j] + bias[j]);
            const float new_max = std::max(running_max[i], tile_max);
            if (new_max == kMinusInfinity) {  // nothing visible yet: the row stays empty
              std::fill(row, row + columns, 0.0f);
              continue;
            }
            for (int64_t j = 0; j < lo; ++j) row[j] = kMinusInfinity;
            for (int64_t j = lo; j <= hi; ++j) row[j] = row[j] + bias[j] - new_max;
            for (int64_t j = hi + 1; j < columns; ++j) row[j] = kMinusInfinity;
            exp_non_positive(row, columns);
            float total = 0.0f;
            for (int64_t j = 0; j < columns; ++j) total += row[j];
            const float correction = std::exp(running_max[i] - new_max);  // 0 on the first visible tile
            running_sum[i] = running_sum[i] * correction + total;
            running_max[i] = new_max;
            if (!first_tile && correction != 1.0f) {
              float* accumulated = ob + (q0 + i) * out_row;
              for (int64_t d = 0; d < head_dim; ++d) accumulated[d] *= correction;
            }
          }
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(rows),
                      static_cast<blasint>(head_dim), static_cast<blasint>(columns), 1.0f, scores.data(),
                      static_cast<blasint>(kAttentionKeyTile), vb + k0 * v.stride(1),
                      static_cast<blasint>(v.stride(1)), first_tile ? 0.0f : 1.0f, ob + q0 * out_row,
                      static_cast<blasint>(out_row));
          first_tile = false;
        }
        for (int64_t i = 0; i < rows; ++i) {
          float* accumulated = ob + (q0 + i) * out_row;
          // A row with no visible key (a padded query under a causal mask) attends to nothing.
          const float inverse = running_sum[i] > 0.0f ? 1.0f / running_sum[i] : 0.0f;
          for (int64_t d = 0; d < head_dim; ++d) accumulated[d] = first_tile ? 0.0f : accumulated[d] * inverse;
        }
      }
    }
  });
  return output;
}

RopeTables rope_tables(int64_t sequence_length, int64_t head_dim, double base) {
  // Frequencies computed in float32 as the reference implementations do, so angles match bit for bit.
  const at::Tensor exponents = at::arange(0, head_dim, 2, at::kLong).to(at::kFloat) / static_cast<float>(head_dim);
  const at::Tensor inverse_frequency = 1.0 / at::pow(static_cast<float>(base), exponents);
  const at::Tensor positions = at::arange(sequence_length, at::kLong).to(at::kFloat);
  const at::Tensor angles = at::outer(positions, inverse_frequency);  // [L, D/2]
  const at::Tensor full = at::cat({angles, angles}, -1);              // [L, D]
  // Shaped [L, 1, D] to broadcast over the heads of a [B, L, H, D] tensor.
  return {full.cos().unsqueeze(1), full.sin().unsqueeze(1)};
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
  return {parts[0].view({batch, length, q_heads, head_dim}), parts[1].view({batch, length, kv_heads, head_dim}),
          parts[2].view({batch, length, kv_heads, head_dim})};
}

}  // namespace memembed::model
