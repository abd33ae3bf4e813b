#include "deployment.h"

#include "memembed/error.h"

#include <cctype>
#include <cmath>
#include <limits>
#include <string>

namespace memembed::select {

namespace {

// Weights dominate inference memory. libtorch runs CPU inference in float32 (its bfloat16 CPU
// kernels are slow), while GPUs run bfloat16, which every model here supports (EmbeddingGemma's
// activations overflow float16, so f16 is not the default).
constexpr double kCpuBytesPerParam = 4.0;
constexpr double kGpuBytesPerParam = 2.0;
// Activations of one encoding batch plus allocator slack, as a share of the weight bytes. A
// heuristic: a measured peak RSS from `memembed bench` replaces the whole estimate.
constexpr double kActivationShare = 0.20;
// Process, libtorch and tokenizer on CPU; CUDA context and kernels on GPU.
constexpr double kCpuRuntimeBytes = 256.0 * 1024 * 1024;
constexpr double kGpuRuntimeBytes = 512.0 * 1024 * 1024;

constexpr double kOneBillion = 1e9;
constexpr double kServerTierParams = 6e9;

}  // namespace

std::string format_bytes(double bytes) {
  if (bytes >= 1e9) return fmt::format("{:.2f} GB", bytes / 1e9);
  return fmt::format("{:.0f} MB", bytes / 1e6);
}

std::string format_params(double params) {
  if (params >= 1e9) return fmt::format("{:.2f}B", params / 1e9);
  return fmt::format("{:.0f}M", params / 1e6);
}

const char* to_string(Instructions setting) { return setting == Instructions::On ? "on" : "off"; }

const char* to_string(Device device) { return device == Device::Gpu ? "cuda" : "cpu"; }

const char* to_string(Tier tier) {
  switch (tier) {
    case Tier::Cpu: return "cpu";
    case Tier::ConsumerGpu: return "consumer-gpu";
    case Tier::GpuServer: return "gpu-server";
  }
  return "cpu";
}

const char* describe(Tier tier) {
  switch (tier) {
    case Tier::Cpu: return "CPU-only (<1B)";
    case Tier::ConsumerGpu: return "consumer GPU (1B-6B)";
    case Tier::GpuServer: return "GPU server (6B+)";
  }
  return "";
}

Tier parse_tier(std::string_view name) {
  for (const Tier tier : {Tier::Cpu, Tier::ConsumerGpu, Tier::GpuServer}) {
    if (name == to_string(tier)) return tier;
  }
  throw invalid_input("unknown tier \"{}\": expected cpu, consumer-gpu or gpu-server", name);
}

std::optional<Tier> tier_of(const ModelInfo& model) {
  if (!model.params) return std::nullopt;
  if (model.params->value < kOneBillion) return Tier::Cpu;
  if (model.params->value < kServerTierParams) return Tier::ConsumerGpu;
  return Tier::GpuServer;
}

std::optional<MemoryEstimate> estimate_memory(const ModelInfo& model, Device device) {
  if (device == Device::Cpu && model.throughput && model.throughput->device == "cpu" &&
      model.throughput->peak_rss_bytes > 0) {
    return MemoryEstimate{model.throughput->peak_rss_bytes, true,
                          fmt::format("peak RSS measured by memembed bench ({})", model.throughput->source)};
  }
  if (!model.params) return std::nullopt;
  const bool gpu = device == Device::Gpu;
  const double weights = model.params->value * (gpu ? kGpuBytesPerParam : kCpuBytesPerParam);
  const double runtime = gpu ? kGpuRuntimeBytes : kCpuRuntimeBytes;
  const double total = weights * (1.0 + kActivationShare) + runtime;
  return MemoryEstimate{
      total, false,
      fmt::format("estimated: {} params x {} B ({}) = {} weights, +{:.0f}% activations, +{} runtime",
                  format_params(model.params->value), gpu ? 2 : 4, gpu ? "bf16" : "f32", format_bytes(weights),
                  kActivationShare * 100, format_bytes(runtime))};
}

std::optional<LatencyEstimate> estimate_latency(const Registry& registry, const ModelInfo& model,
                                                Device device) {
  const std::string device_name = to_string(device);
  if (model.throughput && model.throughput->device == device_name && model.throughput->query_p50_ms) {
    return LatencyEstimate{*model.throughput->query_p50_ms, true,
                           fmt::format("measured by memembed bench on the endpoint: p50 of single-query requests "
                                       "(p99 {:.1f} ms)",
                                       model.throughput->query_p99_ms.value_or(0))};
  }
  if (model.throughput && model.throughput->device == device_name) {
    return LatencyEstimate{1000.0 / model.throughput->texts_per_second, true,
                           fmt::format("measured by memembed bench ({} threads, {:.0f} tokens/text)",
                                       model.throughput->threads, model.throughput->mean_tokens_per_text)};
  }
  if (!model.params) return std::nullopt;
  // Encoder cost grows about linearly with parameters at a fixed text length, so the closest-sized
  // benchmarked model is the least-extrapolated reference.
  const ModelInfo* reference = nullptr;
  double best_distance = std::numeric_limits<double>::infinity();
  for (const ModelInfo& other : registry.models()) {
    if (!other.throughput || other.throughput->device != device_name || !other.params) continue;
    const double distance = std::fabs(std::log(model.params->value / other.params->value));
    if (distance < best_distance) {
      best_distance = distance;
      reference = &other;
    }
  }
  if (!reference) return std::nullopt;
  const double reference_ms = 1000.0 / reference->throughput->texts_per_second;
  return LatencyEstimate{
      reference_ms * model.params->value / reference->params->value, false,
      fmt::format("scaled by parameter count from the bench of {} ({:.1f} ms per text, {} threads)",
                  reference->name, reference_ms, reference->throughput->threads)};
}

}  // namespace memembed::select
