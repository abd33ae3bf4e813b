// The fused attention kernel must agree with the composed ATen reference for every mask shape it
// serves: padding on either side, causal, sliding windows, grouped-query heads, strided inputs.
#include "layers.h"

#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

using namespace memembed::model;

namespace {

struct Case {
  const char* name;
  int64_t q_heads, kv_heads;
  AttentionPattern pattern;
  bool left_padding;
};

class AttentionKernel : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionKernel, MatchesTheReference) {
  const Case c = GetParam();
  const int64_t batch = 3, length = 11, head_dim = 8;
  at::manual_seed(7);
  // A packed projection, so q/k/v are strided views exactly as the backbones pass them.
  const at::Tensor packed = at::randn({batch, length, (c.q_heads + 2 * c.kv_heads) * head_dim});
  const QKV qkv = split_heads(packed, c.q_heads, c.kv_heads, head_dim);
  at::Tensor mask = at::ones({batch, length}, at::kLong);
  const int64_t lengths[batch] = {11, 7, 1};
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
                      Case{"gqa right padding", 6, 2, {false, -1}, false}),
    [](const ::testing::TestParamInfo<Case>& info) {
      std::string name = info.param.name;
      for (char& ch : name) ch = ch == ' ' ? '_' : ch;
      return name;
    });

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
