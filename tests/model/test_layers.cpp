// The fused attention kernel must agree with the composed ATen reference for every mask shape it
// serves: padding on either side, causal, sliding windows, grouped-query heads, strided inputs, and
// sequences spanning several query and key tiles; its scratch must not grow with the square of the
// sequence length.
#include "fixture_support.h"
#include "layers.h"

#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <string>

using namespace memembed::model;

namespace {

struct Case {
  const char* name;
  int64_t q_heads, kv_heads;
  AttentionPattern pattern;
  bool left_padding;
  int64_t length = 11;
};

class AttentionKernel : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionKernel, MatchesTheReference) {
  const Case c = GetParam();
  const int64_t batch = 3, length = c.length, head_dim = 8;
  at::manual_seed(7);
  // A packed projection, so q/k/v are strided views exactly as the backbones pass them.
  const at::Tensor packed = at::randn({batch, length, (c.q_heads + 2 * c.kv_heads) * head_dim});
  const QKV qkv = split_heads(packed, c.q_heads, c.kv_heads, head_dim);
  at::Tensor mask = at::ones({batch, length}, at::kLong);
  const int64_t lengths[batch] = {length, length * 2 / 3, 1};
  for (int64_t b = 0; b < batch; ++b) {
    if (c.left_padding) mask[b].narrow(0, 0, length - lengths[b]).zero_();
    else mask[b].narrow(0, lengths[b], length - lengths[b]).zero_();
  }
  at::Tensor fused;
  {
    c10::InferenceMode guard;
    fused = attention(qkv.q, qkv.k, qkv.v, mask, c.pattern, 0.3);
  }
  const at::Tensor reference = attention_reference(qkv.q, qkv.k, qkv.v, mask, c.pattern, 0.3);
  ASSERT_EQ(fused.sizes(), reference.sizes());
  // Only rows of real tokens matter (padded query rows are never pooled).
  const at::Tensor real = mask.to(at::kBool).unsqueeze(-1).expand_as(fused);
  const double worst = (fused - reference).abs().masked_select(real).max().item<double>();
  EXPECT_LT(worst, 1e-5) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Patterns, AttentionKernel,
    ::testing::Values(Case{"bidirectional", 4, 4, {false, -1}, false}, Case{"causal", 4, 2, {true, -1}, true},
                      Case{"window", 4, 1, {false, 2}, false}, Case{"causal window", 2, 1, {true, 3}, true},
                      Case{"gqa right padding", 6, 2, {false, -1}, false},
                      // Longer than one key tile and many query tiles: the online softmax rescales.
                      Case{"long bidirectional", 2, 2, {false, -1}, false, 3 * kAttentionKeyTile / 2 + 7},
                      Case{"long causal", 2, 1, {true, -1}, true, 2 * kAttentionKeyTile + 3},
                      Case{"long window", 2, 1, {false, kAttentionKeyTile / 2 + 5}, false, 2 * kAttentionKeyTile + 3},
                      Case{"long causal window", 2, 2, {true, kAttentionKeyTile + 9}, true, 3 * kAttentionKeyTile}),
    [](const ::testing::TestParamInfo<Case>& info) {
      std::string name = info.param.name;
      for (char& ch : name) ch = ch == ' ' ? '_' : ch;
      return name;
    });

// Scores far below their row's maximum: the kernel's exponentials span their whole range, down to
// and past -87 where they flush to 0, so the exponent adjustment is negative for nearly every key.
// The sanitizer build caught that adjustment shifting a negative int (undefined behaviour).
TEST(AttentionKernel, ScoresFarBelowTheRowMaximumMatchTheReference) {
  const int64_t length = 40, heads = 2, head_dim = 4;
  at::manual_seed(11);
  const at::Tensor packed = at::randn({1, length, 3 * heads * head_dim}) * 6;
  const QKV qkv = split_heads(packed, heads, heads, head_dim);
  const at::Tensor mask = at::ones({1, length}, at::kLong);
  const AttentionPattern bidirectional{false, -1};
  at::Tensor fused;
  {
    c10::InferenceMode guard;
    fused = attention(qkv.q, qkv.k, qkv.v, mask, bidirectional, 1.0);
  }
  const at::Tensor reference = attention_reference(qkv.q, qkv.k, qkv.v, mask, bidirectional, 1.0);
  EXPECT_LT((fused - reference).abs().max().item<double>(), 1e-4);
}

TEST(AttentionKernel, ScratchStaysBoundedOnLongSequences) {
  // 12k tokens: an L x L score tile would be 576 MiB per worker; the tiled kernel needs a fixed
  // 128 KiB tile plus a row of key biases.
  const int64_t length = 12288, heads = 2, head_dim = 16;
  at::manual_seed(3);
  const at::Tensor q = at::randn({1, length, heads, head_dim});
  const at::Tensor k = at::randn({1, length, heads, head_dim});
  const at::Tensor v = at::randn({1, length, heads, head_dim});
  at::Tensor mask = at::ones({1, length}, at::kLong);
  mask[0].narrow(0, length - 100, 100).zero_();
  at::Tensor output = at::empty({1, length, heads * head_dim});  // touched before the measurement
  output.zero_();

  const int64_t before = memembed::testing::reset_peak_rss_kib();
  if (before < 0) GTEST_SKIP() << "cannot reset VmHWM here";
  {
    c10::InferenceMode guard;
    output = attention(q, k, v, mask, {}, 0.25);
  }
  const int64_t peak = memembed::testing::status_kib("VmHWM");
  EXPECT_LT(peak - before, 64 * 1024) << "attention grew the resident set by " << (peak - before) << " KiB";

  // Spot-check a few rows against a direct double-precision softmax over the real keys.
  const int64_t real = length - 100;
  for (int64_t i : {int64_t{0}, int64_t{4097}, length - 1}) {
    for (int64_t h = 0; h < heads; ++h) {
      const at::Tensor keys = k[0].select(1, h).narrow(0, 0, real).to(at::kDouble);
      const at::Tensor values = v[0].select(1, h).narrow(0, 0, real).to(at::kDouble);
      const at::Tensor weights = at::softmax(keys.matmul(q[0][i][h].to(at::kDouble)) * 0.25, 0);
      const at::Tensor expected = weights.matmul(values);
      const at::Tensor actual = output[0][i].narrow(0, h * head_dim, head_dim).to(at::kDouble);
      EXPECT_LT((actual - expected).abs().max().item<double>(), 1e-5) << "row " << i << " head " << h;
    }
  }
}

TEST(RotaryEmbedding, RotatesPairsByPositionAngle) {
  const RopeTables tables = rope_tables(3, 4, 100.0);
  const at::Tensor x = at::ones({1, 3, 1, 4});
  const at::Tensor y = apply_rope(x, tables);
  // Position 0 is unrotated; position p rotates (x_i, x_{i+2}) by p * base^(-2i/D).
  EXPECT_TRUE(at::allclose(y[0][0], x[0][0]));
  const double angle = 2.0 * std::pow(100.0, -0.5);  // position 2, pair 1
  EXPECT_NEAR(y[0][2][0][1].item<double>(), std::cos(angle) - std::sin(angle), 1e-6);
  EXPECT_NEAR(y[0][2][0][3].item<double>(), std::sin(angle) + std::cos(angle), 1e-6);
}

}  // namespace
