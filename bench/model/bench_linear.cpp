// One linear layer, [tokens x in] x [in x out], at the shapes of the bench models, by every int8
// route this build has: memembed's (oneDNN matmul, per-token activation scales), libtorch's own
// dynamic quantized linear on its ONEDNN and QNNPACK engines (Debian's libtorch has no FBGEMM),
// next to float32 (OpenBLAS through at::linear) and bf16 where the CPU has it. This is the
// measurement behind keeping memembed's own oneDNN route (docs/bench.md has the figures).
//
//   MEMEMBED_BENCH_THREADS=2 build/bench/model/bench_linear --benchmark_filter=384x1536
#include "linear.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/native/quantized/PackedParams.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <benchmark/benchmark.h>
#include <c10/core/InferenceMode.h>

#include <cstdlib>
#include <string>
#include <thread>

namespace {

constexpr int64_t kTokens = 2048;  // about one padded batch of the synthetic workload

struct Operands {
  at::Tensor x, weight, bias;
};

Operands operands(const benchmark::State& state) {
  at::manual_seed(5);
  const int64_t in = state.range(0), out = state.range(1);
  return {at::randn({kTokens, in}), at::randn({out, in}) * 0.05, at::randn({out})};
}

void report(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations() * kTokens);  // tokens per second
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(kTokens * state.range(0) * state.range(1)),
                                                 benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

void Float32(benchmark::State& state) {
  const Operands o = operands(state);
  c10::InferenceMode guard;
  for (auto _ : state) benchmark::DoNotOptimize(at::linear(o.x, o.weight, o.bias));
  report(state);
}

void Memembed(benchmark::State& state, memembed::Precision precision) {
  if (memembed::model::plan_precision(precision).effective != precision) {
    state.SkipWithError("this CPU has no such path");
    return;
  }
  const Operands o = operands(state);
  const memembed::model::Linear linear(o.weight, o.bias, precision);
  c10::InferenceMode guard;
  for (auto _ : state) benchmark::DoNotOptimize(linear(o.x));
  report(state);
}
void MemembedInt8(benchmark::State& state) { Memembed(state, memembed::Precision::Int8); }
void MemembedBf16(benchmark::State& state) { Memembed(state, memembed::Precision::Bf16); }

// quantized::linear_prepack + apply_dynamic: weights per output channel, activations quantized
// per tensor (u8, asymmetric) on every call, as torch.ao.quantization.quantize_dynamic does.
void Libtorch(benchmark::State& state, at::QEngine engine) {
  const Operands o = operands(state);
  at::globalContext().setQEngine(engine);
  const at::Tensor scales = o.weight.abs().amax(1).clamp_min(1e-8) / 127.0;
  const at::Tensor quantized =
      at::quantize_per_channel(o.weight, scales.to(at::kDouble), at::zeros({o.weight.size(0)}, at::kLong), 0, at::kQInt8);
  const auto prepack = c10::Dispatcher::singleton()
                           .findSchemaOrThrow("quantized::linear_prepack", "")
                           .typed<c10::intrusive_ptr<LinearPackedParamsBase>(at::Tensor, c10::optional<at::Tensor>)>();
  c10::intrusive_ptr<LinearPackedParamsBase> packed;
  try {
    packed = prepack.call(quantized, o.bias);
    packed->apply_dynamic(o.x.narrow(0, 0, 1));
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  c10::InferenceMode guard;
  for (auto _ : state) benchmark::DoNotOptimize(packed->apply_dynamic(o.x));
  report(state);
}
void LibtorchOnednn(benchmark::State& state) { Libtorch(state, at::QEngine::ONEDNN); }
void LibtorchQnnpack(benchmark::State& state) { Libtorch(state, at::QEngine::QNNPACK); }

}  // namespace

int main(int argc, char** argv) {
  const char* threads = std::getenv("MEMEMBED_BENCH_THREADS");
  at::set_num_threads(threads ? std::stoi(threads) : static_cast<int>(std::thread::hardware_concurrency()));
  // Shape by shape, every route back to back, so each comparison is made minutes apart at most.
  // (in, out) of the linear layers of MiniLM / bge-small (384) and bge-base (768).
  const std::pair<const char*, void (*)(benchmark::State&)> routes[] = {
      {"f32", Float32}, {"memembed_int8", MemembedInt8}, {"memembed_bf16", MemembedBf16},
      {"libtorch_onednn_int8", LibtorchOnednn}, {"libtorch_qnnpack_int8", LibtorchQnnpack}};
  for (const auto& [in, out] : std::vector<std::pair<int64_t, int64_t>>{
           {384, 1152}, {384, 1536}, {1536, 384}, {768, 2304}, {768, 3072}, {3072, 768}}) {
    for (const auto& [name, function] : routes) {
      const std::string label = std::to_string(in) + "x" + std::to_string(out) + "/" + name;
      benchmark::RegisterBenchmark(label.c_str(), function)->Args({in, out})->Unit(benchmark::kMillisecond)->MinTime(0.3);
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
