// The dense kernels: every SIMD path this CPU has gives the bits of the portable dot product.
#include "memembed/retrieval.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

namespace memembed::retrieval {

TEST(DenseKernels, EveryPathGivesThePortableBits) {
  std::mt19937 random(5);
  std::normal_distribution<float> normal;
  for (const size_t dim : {1u, 7u, 8u, 25u, 384u, 1027u}) {
    const size_t rows = 13;  // not a multiple of the kernels' row blocks
    std::vector<float> query(dim), data(rows * dim);
    for (float& x : query) x = normal(random);
    for (float& x : data) x = normal(random);
    std::vector<float> expected(rows);
    dot_rows(query.data(), data.data(), rows, dim, expected.data(), SimdPath::Portable);
    for (size_t r = 0; r < rows; ++r) {
      // the reference: eight partial sums in order, written out here
      float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      size_t i = 0;
      for (; i + 8 <= dim; i += 8) {
        for (size_t k = 0; k < 8; ++k) lanes[k] += query[i + k] * data[r * dim + i + k];
      }
      float sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
      for (; i < dim; ++i) sum += query[i] * data[r * dim + i];
      EXPECT_EQ(std::memcmp(&sum, &expected[r], sizeof(float)), 0) << dim;
    }
    for (SimdPath path : {SimdPath::Avx2, SimdPath::Avx512}) {
      if (static_cast<int>(path) > static_cast<int>(best_simd_path())) continue;  // not on this CPU
      std::vector<float> got(rows);
      dot_rows(query.data(), data.data(), rows, dim, got.data(), path);
      EXPECT_EQ(std::memcmp(got.data(), expected.data(), rows * sizeof(float)), 0) << to_string(path) << " " << dim;
      for (size_t r = 0; r < rows; ++r) {
        const float single = dot(query.data(), data.data() + r * dim, dim);
        EXPECT_EQ(std::memcmp(&single, &expected[r], sizeof(float)), 0) << dim;
      }
    }
  }
}

// int8 copies: codes within [-127, 127] (the AVX2 kernel's sign trick needs no -128), each value
// within half a step of code * factor; dot_i8 (AVX2 where the CPU has it) is the exact integer sum,
// extremes included (+-127 everywhere over 1027 dims).
TEST(DenseKernels, Int8CopiesAndTheirExactIntegerDot) {
  std::mt19937 random(9);
  std::normal_distribution<float> normal;
  for (const size_t dim : {1u, 31u, 32u, 33u, 384u, 1027u}) {
    std::vector<float> values(dim);
    for (float& x : values) x = normal(random);
    std::vector<int8_t> codes(dim), other(dim);
    const float factor = quantize_i8(values.data(), dim, codes.data());
    float largest = 0.0f;
    for (float x : values) largest = std::max(largest, std::fabs(x));
    EXPECT_FLOAT_EQ(factor, largest / 127.0f);
    for (size_t i = 0; i < dim; ++i) {
      EXPECT_GE(codes[i], -127);
      EXPECT_LE(std::fabs(values[i] - codes[i] * factor), 0.5f * factor * 1.0001f) << i;
    }
    for (int8_t& c : other) c = static_cast<int8_t>(static_cast<int>(random() % 255) - 127);
    int32_t expected = 0;
    for (size_t i = 0; i < dim; ++i) expected += int32_t{codes[i]} * int32_t{other[i]};
    EXPECT_EQ(dot_i8(codes.data(), other.data(), dim), expected) << dim;
    std::vector<int8_t> high(dim, 127), low(dim, -127);
    EXPECT_EQ(dot_i8(high.data(), low.data(), dim), -127 * 127 * static_cast<int32_t>(dim));
    EXPECT_EQ(dot_i8(low.data(), low.data(), dim), 127 * 127 * static_cast<int32_t>(dim));
  }
  std::vector<float> zeros(16, 0.0f);
  std::vector<int8_t> codes(16, 5);
  EXPECT_EQ(quantize_i8(zeros.data(), zeros.size(), codes.data()), 0.0f);  // a zero vector: zero codes
  EXPECT_EQ(codes, std::vector<int8_t>(16, 0));
}

}  // namespace memembed::retrieval
