// `memembed bench` on any provider: query latency and batched throughput, measured from the outside
// (what a memory search and an evaluation each wait for).
#include "memembed/error.h"
#include "memembed/provider.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

namespace memembed::provider {

namespace {

using Clock = std::chrono::steady_clock;

double milliseconds_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

LatencySummary summarise_latencies(std::vector<double> milliseconds) {
  LatencySummary summary;
  summary.samples = milliseconds.size();
  if (milliseconds.empty()) return summary;
  std::sort(milliseconds.begin(), milliseconds.end());
  const auto rank = [&](double p) {
    const size_t index = static_cast<size_t>(std::ceil(p * static_cast<double>(milliseconds.size())));
    return milliseconds[std::clamp<size_t>(index, 1, milliseconds.size()) - 1];
  };
  summary.p50_ms = rank(0.50);
  summary.p99_ms = rank(0.99);
  return summary;
}

EndpointBenchResult bench_endpoint(const EmbeddingProvider& provider, const std::vector<std::string>& texts,
                                   const EndpointBenchOptions& options) {
  if (texts.empty()) throw invalid_input("bench: the workload has no texts");
  if (options.batch_texts == 0 || options.concurrency == 0) throw invalid_input("bench: batch and concurrency must be at least 1");
  EndpointBenchResult result;

  provider.embed({texts.front()});  // warm-up: connection, model pages, server-side caches
  std::vector<double> query_ms;
  for (size_t i = 0; i < options.latency_requests; ++i) {
    const auto start = Clock::now();
    provider.embed({texts[i % texts.size()]});
    query_ms.push_back(milliseconds_since(start));
  }
  result.query_latency = summarise_latencies(std::move(query_ms));

  std::vector<std::vector<std::string>> calls;
  for (size_t begin = 0; begin < texts.size(); begin += options.batch_texts) {
    calls.emplace_back(texts.begin() + begin, texts.begin() + std::min(texts.size(), begin + options.batch_texts));
  }
  std::vector<double> call_ms(calls.size());
  std::atomic<size_t> next{0};
  std::mutex mutex;
  std::exception_ptr failure;
  const auto work = [&] {
    for (size_t c = next++; c < calls.size(); c = next++) {
      try {
        const auto start = Clock::now();
        provider.embed(calls[c]);
        call_ms[c] = milliseconds_since(start);
      } catch (...) {
        std::lock_guard lock(mutex);
        if (!failure) failure = std::current_exception();
        next = calls.size();
      }
    }
  };
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (size_t t = 0; t < std::min(options.concurrency, calls.size()); ++t) threads.emplace_back(work);
  for (auto& thread : threads) thread.join();
  if (failure) std::rethrow_exception(failure);
  result.seconds = milliseconds_since(start) / 1000.0;
  result.texts = texts.size();
  result.texts_per_second = static_cast<double>(texts.size()) / result.seconds;
  result.call_latency = summarise_latencies(std::move(call_ms));
  return result;
}

}  // namespace memembed::provider
