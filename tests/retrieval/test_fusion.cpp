#include "memembed/error.h"
#include "memembed/retrieval.h"

#include <gtest/gtest.h>

namespace memembed::retrieval {

namespace {
std::vector<size_t> keys(const std::vector<Scored>& list) {
  std::vector<size_t> out;
  for (const Scored& s : list) out.push_back(s.key);
  return out;
}
}  // namespace

TEST(Fusion, WeightZeroIsBm25AndWeightOneIsDense) {
  const Side lexical = make_side({{0, 9.0}, {1, 5.0}, {2, 1.0}}, 10, 0.0);
  const Side dense = make_side({{2, 0.9}, {3, 0.8}, {1, 0.1}}, 3, std::nullopt);
  FusionOptions options;
  options.weight = 0.0;
  EXPECT_EQ(keys(fuse(lexical, dense, options)), (std::vector<size_t>{0, 1, 2, 3}));
  options.weight = 1.0;
  const auto dense_order = keys(fuse(lexical, dense, options));
  // doc 0 is not among the dense candidates: it scores at most the last one's 0.1 there
  EXPECT_EQ(std::vector<size_t>(dense_order.begin(), dense_order.begin() + 2), (std::vector<size_t>{2, 3}));
  options.method = Fusion::MinMax;
  options.weight = 0.0;
  EXPECT_EQ(keys(fuse(lexical, dense, options)).front(), 0u);
}

TEST(Fusion, ScoreAwareKeepsAStrongLexicalWinnerThatRrfLoses) {
  // BM25 is sure about doc 0 (far ahead of 19 weak matches); dense has it last by a hair.
  // RRF sees only the ranks and lets doc 1 win.
  std::vector<Scored> bm25 = {{0, 30.0}}, cosine;
  for (size_t d = 1; d < 20; ++d) bm25.push_back({d, 2.0 - 0.05 * static_cast<double>(d)});
  for (size_t d = 1; d < 20; ++d) cosine.push_back({d, 0.60 - 0.001 * static_cast<double>(d)});
  cosine.push_back({0, 0.58});
  const Side lexical = make_side(bm25, 100, 0.0);
  const Side dense = make_side(cosine, 100, std::nullopt);
  FusionOptions z;
  z.weight = 0.5;
  EXPECT_EQ(fuse(lexical, dense, z).front().key, 0u);
  FusionOptions rrf;
  rrf.method = Fusion::Rrf;
  rrf.weight = 0.5;
  EXPECT_NE(fuse(lexical, dense, rrf).front().key, 0u);
}

TEST(Fusion, AnEmptySideLeavesTheOtherInCharge) {
  const Side lexical = make_side({}, 10, 0.0);
  const Side dense = make_side({{4, 0.2}, {5, 0.9}}, 10, std::nullopt);
  FusionOptions options;
  options.weight = 0.0;
  EXPECT_EQ(keys(fuse(lexical, dense, options)), (std::vector<size_t>{5, 4}));
  EXPECT_THROW(fuse(lexical, dense, FusionOptions{Fusion::ZScore, 1.5, 60}), Error);
  EXPECT_THROW(parse_fusion("blend"), Error);
  EXPECT_EQ(parse_fusion("rrf"), Fusion::Rrf);
}

TEST(Fusion, RelevanceIsMonotoneOnZeroOne) {
  FusionOptions z;
  EXPECT_NEAR(fused_relevance(0.0, z), 0.5, 1e-12);
  EXPECT_LT(fused_relevance(-1.0, z), fused_relevance(1.0, z));
  FusionOptions rrf{Fusion::Rrf, 0.5, 60};
  EXPECT_NEAR(fused_relevance(2.0 / 61.0, rrf), 1.0, 1e-12);
}

TEST(Dense, TopKAndDotProducts) {
  const float docs[] = {1, 0, 0, 1, 0.6f, 0.8f};
  const float query[] = {0, 1};
  std::vector<float> scores;
  dot_products(query, 1, docs, 3, 2, 2, scores);
  EXPECT_EQ(keys(top_k(scores.data(), 3, 2)), (std::vector<size_t>{1, 2}));
  float v[] = {3, 4};
  l2_normalize(v, 2);
  EXPECT_FLOAT_EQ(v[0], 0.6f);
  float zero[] = {0, 0};
  l2_normalize(zero, 2);
  EXPECT_EQ(zero[0], 0.0f);
}

}  // namespace memembed::retrieval
