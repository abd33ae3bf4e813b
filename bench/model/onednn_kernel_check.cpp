// memembed's int8 and bf16 Linear kernels (src/model/onednn_linear.cpp) next to oneDNN's float32
// sgemm, at the layer shapes of the bench models, on random data, on whatever CPU this runs on.
// No libtorch: the binary needs only libdnnl, libgomp and libfmt, so it can be carried to a machine
// with the instruction sets this one lacks (AVX512_BF16, AVX-512 VNNI, AMX) and run there.
//
// Per layer shape and token count it prints the oneDNN implementation each precision got, the
// agreement with a float64 reference (worst row's cosine; worst row's max |y - ref| / max |ref|),
// and the float32 time divided by the precision's time (> 1: faster than float32), all precisions
// timed interleaved in one process, at 1 thread and at all cores. DNNL_MAX_CPU_ISA caps what oneDNN
// may use, so one capable machine also shows each fallback branch (run.sh in docs/bench.md).
//
//   build/bench/model/onednn_kernel_check [--quick] [--max-seconds S]
#include "onednn_linear.h"

#include <oneapi/dnnl/dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

namespace onednn = memembed::model::onednn;

struct LayerShape {
  const char* where;  // which model layer has it
  int64_t in, out;
};

// The bench models' Linear layers (hidden x intermediate): all-MiniLM-L6-v2 and bge-small
// 384 x 1536, bge-base 768 x 3072, EmbeddingGemma-300M 768 x 1152 (gate and up fused: 2304),
// Qwen3-Embedding-0.6B 1024 x 3072 (fused 6144).
const LayerShape kShapes[] = {
    {"MiniLM/bge-small qkv", 384, 1152},   {"MiniLM/bge-small up", 384, 1536},
    {"MiniLM/bge-small down", 1536, 384},  {"bge-base up", 768, 3072},
    {"bge-base down", 3072, 768},          {"EmbeddingGemma gate_up", 768, 2304},
    {"EmbeddingGemma down", 1152, 768},    {"Qwen3-0.6B gate_up", 1024, 6144},
};
const int64_t kTokenCounts[] = {32, 128, 512};
constexpr int64_t kCheckedRows = 24;  // rows compared with the float64 reference, spread over M

using Clock = std::chrono::steady_clock;

// y = x W^T + bias in float64, for one row.
void reference_row(const float* x, const std::vector<float>& weight, const std::vector<float>& bias, int64_t in,
                   int64_t out, std::vector<double>& y) {
  for (int64_t o = 0; o < out; ++o) {
    double sum = bias[static_cast<size_t>(o)];
    const float* w = weight.data() + o * in;
    for (int64_t k = 0; k < in; ++k) sum += static_cast<double>(x[k]) * w[k];
    y[static_cast<size_t>(o)] = sum;
  }
}

struct Agreement {
  double worst_cosine = 1.0;
  double worst_relative_error = 0.0;  // max |y - ref| / max |ref|, over one row
};

Agreement compare(const std::vector<std::vector<double>>& reference, const std::vector<int64_t>& rows,
                  const std::vector<float>& y, int64_t out) {
  Agreement a;
  for (size_t i = 0; i < rows.size(); ++i) {
    const float* got = y.data() + rows[i] * out;
    const std::vector<double>& want = reference[i];
    double dot = 0, got_norm = 0, want_norm = 0, largest_error = 0, largest = 0;
    for (int64_t o = 0; o < out; ++o) {
      const double g = got[o], w = want[static_cast<size_t>(o)];
      dot += g * w;
      got_norm += g * g;
      want_norm += w * w;
      largest_error = std::max(largest_error, std::fabs(g - w));
      largest = std::max(largest, std::fabs(w));
    }
    const double cosine = got_norm > 0 && want_norm > 0 ? dot / std::sqrt(got_norm * want_norm) : 0.0;
    a.worst_cosine = std::min(a.worst_cosine, std::isfinite(cosine) ? cosine : -1.0);
    a.worst_relative_error = std::max(a.worst_relative_error, largest > 0 ? largest_error / largest : largest_error);
  }
  return a;
}

// One precision's way of computing the layer; null `run` when it could not be built here.
struct Candidate {
  std::string name, implementation, note;
  std::function<void()> run;
  std::vector<float> y;
  Agreement agreement;
  double seconds = 0;  // median per call
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Times the candidates interleaved: each round runs every candidate `calls` times in turn; the
// median round per candidate is kept. Rounds stop after `budget` seconds (at least 3 rounds).
void time_interleaved(std::vector<Candidate>& candidates, double budget) {
  std::vector<std::vector<double>> per_round(candidates.size());
  // Calls per round: enough for ~2 ms of the slowest candidate's first run.
  double slowest = 0;
  for (auto& c : candidates) {
    if (!c.run) continue;
    const auto start = Clock::now();
    c.run();
    slowest = std::max(slowest, std::chrono::duration<double>(Clock::now() - start).count());
  }
  const int calls = std::max(1, static_cast<int>(0.002 / std::max(slowest, 1e-7)));
  const auto begin = Clock::now();
  for (int round = 0; round < 3 || (round < 15 && std::chrono::duration<double>(Clock::now() - begin).count() < budget);
       ++round) {
    for (size_t i = 0; i < candidates.size(); ++i) {
      if (!candidates[i].run) continue;
      const auto start = Clock::now();
      for (int c = 0; c < calls; ++c) candidates[i].run();
      per_round[i].push_back(std::chrono::duration<double>(Clock::now() - start).count() / calls);
    }
  }
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (!per_round[i].empty()) candidates[i].seconds = median(per_round[i]);
  }
}

std::string onednn_version() {
  const dnnl_version_t* v = ::dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) + " (" +
         (v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other runtime") + ")";
}

void check_shape(const LayerShape& shape, int64_t tokens, int threads, const onednn::CpuSupport& cpu, double budget) {
  const int64_t in = shape.in, out = shape.out;
  std::mt19937 random(static_cast<unsigned>(in * 7919 + out * 31 + tokens));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  // LayerNorm-like activations with a few large channels (as real hidden states have); weights
  // at the scale of a trained layer.
  std::vector<float> x(static_cast<size_t>(tokens * in)), weight(static_cast<size_t>(out * in)),
      bias(static_cast<size_t>(out));
  for (int64_t k = 0; k < in; ++k) {
    const float channel_scale = (k % 97 == 3) ? 8.0f : 1.0f;
    for (int64_t r = 0; r < tokens; ++r) x[static_cast<size_t>(r * in + k)] = normal(random) * channel_scale;
  }
  for (auto& w : weight) w = normal(random) * 0.04f;
  for (auto& b : bias) b = normal(random) * 0.1f;

  std::vector<int64_t> rows;
  for (int64_t i = 0; i < std::min(kCheckedRows, tokens); ++i) rows.push_back(i * tokens / std::min(kCheckedRows, tokens));
  std::vector<std::vector<double>> reference(rows.size(), std::vector<double>(static_cast<size_t>(out)));
  for (size_t i = 0; i < rows.size(); ++i) reference_row(x.data() + rows[i] * in, weight, bias, in, out, reference[i]);

  // memembed makes its layers for any row count; the "@M" ones are made for exactly `tokens` rows,
  // which some oneDNN kernels (AMX brgemm) require.
  std::vector<Candidate> candidates(5);
  std::unique_ptr<onednn::PackedLinear> linears[4];
  Candidate& f32 = candidates[0];
  f32.name = "f32";
  f32.implementation = "dnnl_sgemm";
  f32.y.resize(static_cast<size_t>(tokens * out));
  f32.run = [&] {
    dnnl_sgemm('N', 'T', tokens, out, in, 1.0f, x.data(), in, weight.data(), in, 0.0f, f32.y.data(), out);
    float* y = f32.y.data();
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < tokens; ++r) {
      for (int64_t o = 0; o < out; ++o) y[r * out + o] += bias[static_cast<size_t>(o)];
    }
  };
  const auto packed_candidate = [&](Candidate& c, const char* name, std::unique_ptr<onednn::PackedLinear>& linear,
                                    auto make, int64_t fixed_rows, bool memembed_uses) {
    c.name = name;
    c.y.resize(static_cast<size_t>(tokens * out));
    if (!memembed_uses) c.note = fixed_rows > 0 ? "(not used by memembed)" : "(memembed computes f32 here)";
    try {
      linear = make(weight.data(), out, in, fixed_rows);
    } catch (const std::exception& e) {
      c.implementation = std::string("none: ") + e.what();
      return;
    }
    c.implementation = linear->implementation();
    onednn::PackedLinear* l = linear.get();
    c.run = [&c, l, &x, &bias, tokens, in] { l->forward(x.data(), tokens, in, bias.data(), nullptr, c.y.data()); };
  };
  packed_candidate(candidates[1], "int8", linears[0], onednn::make_int8_linear, 0, cpu.avx2);
  packed_candidate(candidates[2], "bf16", linears[1], onednn::make_bf16_linear, 0, cpu.bf16);
  packed_candidate(candidates[3], "int8@M", linears[2], onednn::make_int8_linear, tokens, false);
  packed_candidate(candidates[4], "bf16@M", linears[3], onednn::make_bf16_linear, tokens, false);

  for (auto& c : candidates) {
    if (!c.run) continue;
    c.run();
    c.agreement = compare(reference, rows, c.y, out);
  }
  time_interleaved(candidates, budget);

  std::printf("%s %lldx%lld M=%lld threads=%d\n", shape.where, static_cast<long long>(in), static_cast<long long>(out),
              static_cast<long long>(tokens), threads);
  for (const auto& c : candidates) {
    if (!c.run) {
      std::printf("  %-6s %s %s\n", c.name.c_str(), c.implementation.c_str(), c.note.c_str());
      continue;
    }
    std::printf("  %-6s %-26s cos %.6f err %.2e", c.name.c_str(), c.implementation.c_str(), c.agreement.worst_cosine,
                c.agreement.worst_relative_error);
    if (&c == &f32) {
      std::printf(" %8.3f ms %6.1f GFLOP/s\n", c.seconds * 1e3, 2.0 * tokens * in * out / c.seconds * 1e-9);
    } else {
      std::printf(" x%.2f vs f32 %s\n", f32.seconds / c.seconds, c.note.c_str());
    }
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  double max_seconds = 0.25;  // timing budget per shape, token count and thread setting
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--max-seconds") == 0 && i + 1 < argc) {
      max_seconds = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--max-seconds S]\n  unknown argument: %s\n", argv[0], argv[i]);
      return 2;
    }
  }
  const onednn::CpuSupport cpu = onednn::cpu_support();
  const char* cap = std::getenv("DNNL_MAX_CPU_ISA");
  std::printf("oneDNN %s; DNNL_MAX_CPU_ISA=%s; effective ISA %s; avx2 %d, int8 dot product (VNNI/AMX) %d, bf16 %d, "
              "amx %d; int8 weights %s; cores %d\n",
              onednn_version().c_str(), cap != nullptr ? cap : "(unset)", cpu.isa.c_str(), cpu.avx2,
              cpu.int8_dot_product, cpu.bf16, cpu.amx, cpu.int8_dot_product ? "8-bit" : "7-bit", omp_get_num_procs());
  std::printf("cos: worst row's cosine vs float64; err: worst row's max|y-ref|/max|ref|; xN: f32 time / its time\n");
  std::fflush(stdout);
  const int all_cores = omp_get_num_procs();
  std::vector<int> thread_counts = {1};
  if (all_cores > 1) thread_counts.push_back(all_cores);
  for (int threads : thread_counts) {
    omp_set_num_threads(threads);  // before the primitives are made: oneDNN plans for this many
    for (const LayerShape& shape : kShapes) {
      if (quick && shape.in != 384 && shape.in != 768) continue;
      for (int64_t tokens : kTokenCounts) {
        if (quick && tokens != 128) continue;
        check_shape(shape, tokens, threads, cpu, max_seconds);
      }
    }
  }
  return 0;
}
