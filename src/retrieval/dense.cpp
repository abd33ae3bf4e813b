#include "memembed/retrieval.h"

#include <algorithm>
#include <cmath>
#include <thread>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// Every kernel keeps eight partial sums, lane k summing the products at positions k, k + 8, ...,
// added in the same tree and followed by the same scalar tail, so all paths give the same bits.
// This file is compiled with -ffp-contract=off: a fused multiply-add would change them.

namespace memembed::retrieval {

namespace {

float reduce_lanes(const float* lanes) {
  return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

float dot_portable(const float* a, const float* b, size_t dim) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= dim; i += 8) {
    for (size_t k = 0; k < 8; ++k) acc[k] += a[i + k] * b[i + k];
  }
  float sum = reduce_lanes(acc);
  for (; i < dim; ++i) sum += a[i] * b[i];
  return sum;
}

int32_t dot_i8_portable(const int8_t* a, const int8_t* b, size_t dim) {
  int32_t sum = 0;
  for (size_t i = 0; i < dim; ++i) sum += int32_t{a[i]} * int32_t{b[i]};
  return sum;
}

void dot_rows_portable(const float* query, const float* rows, size_t count, size_t dim, float* out) {
  for (size_t r = 0; r < count; ++r) out[r] = dot_portable(query, rows + r * dim, dim);
}

#if defined(__x86_64__)

__attribute__((target("avx2"))) float dot_avx2(const float* a, const float* b, size_t dim) {
  __m256 acc = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= dim; i += 8) acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  float sum = reduce_lanes(lanes);
  for (; i < dim; ++i) sum += a[i] * b[i];
  return sum;
}

// Four rows per pass share each load of the query.
__attribute__((target("avx2"))) void dot_rows_avx2(const float* query, const float* rows, size_t count, size_t dim,
                                                   float* out) {
  size_t r = 0;
  const size_t body = dim - dim % 8;
  for (; r + 4 <= count; r += 4) {
    const float* row[4] = {rows + r * dim, rows + (r + 1) * dim, rows + (r + 2) * dim, rows + (r + 3) * dim};
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (size_t i = 0; i < body; i += 8) {
      const __m256 q = _mm256_loadu_ps(query + i);
      for (int j = 0; j < 4; ++j) acc[j] = _mm256_add_ps(acc[j], _mm256_mul_ps(q, _mm256_loadu_ps(row[j] + i)));
    }
    for (int j = 0; j < 4; ++j) {
      alignas(32) float lanes[8];
      _mm256_store_ps(lanes, acc[j]);
      float sum = reduce_lanes(lanes);
      for (size_t i = body; i < dim; ++i) sum += query[i] * row[j][i];
      out[r + j] = sum;
    }
  }
  for (; r < count; ++r) out[r] = dot_avx2(query, rows + r * dim, dim);
}

// 32 codes per step: |a| times b with a's sign (codes are never -128, so |a| fits a byte and a
// pair of products fits 16 bits), pairs summed to 16 then 32 bits.
__attribute__((target("avx2"))) int32_t dot_i8_avx2(const int8_t* a, const int8_t* b, size_t dim) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i));
    const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i));
    const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
  }
  alignas(32) int32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), acc);
  int32_t sum = 0;
  for (int32_t lane : lanes) sum += lane;
  for (; i < dim; ++i) sum += int32_t{a[i]} * int32_t{b[i]};
  return sum;
}

// Eight floats of `a` in the low half, eight of `b` in the high half.
__attribute__((target("avx512f"))) inline __m512 pair(const float* a, const float* b) {
  return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_zextpd256_pd512(_mm256_castps_pd(_mm256_loadu_ps(a))),
                                             _mm256_castps_pd(_mm256_loadu_ps(b)), 1));
}

// Two rows per 512-bit register: lanes 0-7 hold one row's eight partial sums, lanes 8-15 the other's.
__attribute__((target("avx512f"))) void dot_rows_avx512(const float* query, const float* rows, size_t count,
                                                       size_t dim, float* out) {
  size_t r = 0;
  const size_t body = dim - dim % 8;
  for (; r + 4 <= count; r += 4) {
    const float* row[4] = {rows + r * dim, rows + (r + 1) * dim, rows + (r + 2) * dim, rows + (r + 3) * dim};
    __m512 acc01 = _mm512_setzero_ps(), acc23 = _mm512_setzero_ps();
    for (size_t i = 0; i < body; i += 8) {
      const __m512 q = pair(query + i, query + i);
      acc01 = _mm512_add_ps(acc01, _mm512_mul_ps(q, pair(row[0] + i, row[1] + i)));
      acc23 = _mm512_add_ps(acc23, _mm512_mul_ps(q, pair(row[2] + i, row[3] + i)));
    }
    alignas(64) float lanes[32];
    _mm512_store_ps(lanes, acc01);
    _mm512_store_ps(lanes + 16, acc23);
    for (int j = 0; j < 4; ++j) {
      float sum = reduce_lanes(lanes + 8 * j);
      for (size_t i = body; i < dim; ++i) sum += query[i] * row[j][i];
      out[r + j] = sum;
    }
  }
  for (; r < count; ++r) out[r] = dot_avx2(query, rows + r * dim, dim);
}

#endif

SimdPath detect_simd_path() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return SimdPath::Avx512;
  if (__builtin_cpu_supports("avx2")) return SimdPath::Avx2;
#endif
  return SimdPath::Portable;
}

}  // namespace

const char* to_string(SimdPath path) {
  switch (path) {
    case SimdPath::Avx512: return "avx512";
    case SimdPath::Avx2: return "avx2";
    case SimdPath::Portable: break;
  }
  return "portable";
}

SimdPath best_simd_path() {
  static const SimdPath path = detect_simd_path();
  return path;
}

namespace {
bool has_avx2() {
  static const bool avx2 = best_simd_path() != SimdPath::Portable;
  return avx2;
}
}  // namespace

float dot(const float* a, const float* b, size_t dim) {
#if defined(__x86_64__)
  if (has_avx2()) return dot_avx2(a, b, dim);
#endif
  return dot_portable(a, b, dim);
}

void dot_rows(const float* query, const float* rows, size_t count, size_t dim, float* out, SimdPath path) {
  if (static_cast<int>(path) > static_cast<int>(best_simd_path())) path = best_simd_path();
#if defined(__x86_64__)
  if (path == SimdPath::Avx512) return dot_rows_avx512(query, rows, count, dim, out);
  if (path == SimdPath::Avx2) return dot_rows_avx2(query, rows, count, dim, out);
#endif
  dot_rows_portable(query, rows, count, dim, out);
}

void dot_rows(const float* query, const float* rows, size_t count, size_t dim, float* out) {
  dot_rows(query, rows, count, dim, out, best_simd_path());
}

float quantize_i8(const float* values, size_t dim, int8_t* codes) {
  float largest = 0.0f;
  for (size_t i = 0; i < dim; ++i) largest = std::max(largest, std::fabs(values[i]));
  if (!(largest > 0.0f) || !std::isfinite(largest)) {
    std::fill(codes, codes + dim, int8_t{0});
    return 0.0f;
  }
  const float scale = 127.0f / largest;
  for (size_t i = 0; i < dim; ++i) codes[i] = static_cast<int8_t>(std::lround(values[i] * scale));
  return largest / 127.0f;
}

int32_t dot_i8(const int8_t* a, const int8_t* b, size_t dim) {
#if defined(__x86_64__)
  if (has_avx2()) return dot_i8_avx2(a, b, dim);
#endif
  return dot_i8_portable(a, b, dim);
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
