#include "memembed/retrieval.h"

#include <algorithm>
#include <cmath>
#include <thread>

namespace memembed::retrieval {

float dot(const float* a, const float* b, size_t dim) {
  // Eight partial sums let the compiler vectorise without reassociation flags.
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= dim; i += 8) {
    for (size_t k = 0; k < 8; ++k) acc[k] += a[i + k] * b[i + k];
  }
  float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < dim; ++i) sum += a[i] * b[i];
  return sum;
}

void l2_normalize(float* values, size_t dim) {
  double squares = 0.0;
  for (size_t i = 0; i < dim; ++i) squares += static_cast<double>(values[i]) * values[i];
  if (squares <= 0.0) return;
  const float scale = static_cast<float>(1.0 / std::sqrt(squares));
  for (size_t i = 0; i < dim; ++i) values[i] *= scale;
}

void dot_products(const float* queries, size_t query_count, const float* docs, size_t doc_count,
                  size_t dim, int threads, std::vector<float>& scores) {
  scores.assign(query_count * doc_count, 0.0f);
  auto work = [&](size_t begin, size_t end) {
    for (size_t d = begin; d < end; ++d) {
      const float* doc = docs + d * dim;
      for (size_t q = 0; q < query_count; ++q) scores[q * doc_count + d] = dot(queries + q * dim, doc, dim);
    }
  };
  const size_t cores = threads > 0 ? static_cast<size_t>(threads) : std::thread::hardware_concurrency();
  const size_t workers = std::max<size_t>(1, std::min<size_t>(cores, doc_count / 64 + 1));
  if (workers == 1) {
    work(0, doc_count);
    return;
  }
  std::vector<std::thread> pool;
  const size_t step = (doc_count + workers - 1) / workers;
  for (size_t w = 0; w < workers; ++w) {
    const size_t begin = w * step, end = std::min(doc_count, begin + step);
    if (begin < end) pool.emplace_back(work, begin, end);
  }
  for (auto& t : pool) t.join();
}

}  // namespace memembed::retrieval
