// The dense kernels: every SIMD path this CPU has gives the bits of the portable dot product.
#include "memembed/retrieval.h"

#include <gtest/gtest.h>

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

}  // namespace memembed::retrieval
