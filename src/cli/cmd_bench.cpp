// memembed bench: encoder throughput on a reproducible workload, next to the sgemm ceiling of the
// same machine on the model's own matrix shapes, so results read as a fraction of what BLAS allows.
#include "commands.h"
#include "memembed/embed.h"
#include "memembed/error.h"
#include "memembed/json_io.h"
#include "memembed/model.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>

namespace memembed::cli {

namespace {

struct BenchArguments {
  std::string model;
  std::string workload;
  size_t texts = 2000;
  uint64_t seed = 42;
  int threads = 0;
  size_t batch_size = 64;
  size_t batch_tokens = 8192;
  size_t max_seq_length = 0;
  int repeats = 3;
  std::string json_output;
  std::string random_dir;
  uint64_t random_seed = 1;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

uint64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports kilobytes
}

// GFLOP/s of plain sgemm (at::mm -> OpenBLAS) on the model's linear shapes with `rows` rows: the
// best the linear layers could do on this machine with these threads. Every layer gets its own
// operands, as in the model, so no weight matrix is still in cache from the previous call.
double sgemm_ceiling(const std::vector<std::pair<int64_t, int64_t>>& shapes, int64_t rows) {
  c10::InferenceMode guard;
  std::vector<std::pair<at::Tensor, at::Tensor>> operands;
  double flops = 0;
  for (const auto& [in, out] : shapes) {
    operands.emplace_back(at::randn({rows, in}), at::randn({out, in}));
    flops += 2.0 * static_cast<double>(rows) * static_cast<double>(in) * static_cast<double>(out);
  }
  for (const auto& [a, w] : operands) at::mm(a, w.t());  // warm up
  const auto start = std::chrono::steady_clock::now();
  for (const auto& [a, w] : operands) at::mm(a, w.t());
  return flops / seconds_since(start) / 1e9;
}

void run_bench(const BenchArguments& args) {
  if (!args.random_dir.empty()) {
    model::write_random_weights(args.random_dir, args.random_seed);
    std::printf("wrote random weights (seed %llu) into %s\n", static_cast<unsigned long long>(args.random_seed),
                args.random_dir.c_str());
    return;
  }
  if (args.model.empty()) throw invalid_input("--model is required (or --random-weights DIR)");
  const std::vector<std::string> texts =
      args.workload.empty() ? embed::synthetic_workload(args.texts, args.seed) : read_texts(args.workload);
  if (texts.empty()) throw invalid_input("the workload has no texts");

  model::configure_compute({args.threads});
  embed::EncoderOptions options;
  options.max_batch_size = args.batch_size;
  options.max_batch_tokens = args.batch_tokens;
  options.max_seq_length = args.max_seq_length;
  const auto load_start = std::chrono::steady_clock::now();
  const embed::Encoder encoder(args.model, options);
  const double load_seconds = seconds_since(load_start);

  // Warm-up on a slice, so first-touch allocation and thread start-up are not timed.
  encoder.encode(std::vector<std::string>(texts.begin(), texts.begin() + std::min<size_t>(texts.size(), 64)));

  // Best of `repeats` for both the encoder and the sgemm probe, interleaved, so that a slow
  // moment of a shared machine does not decide the ratio.
  if (args.repeats < 1) throw invalid_input("--repeats must be at least 1");
  embed::EncodeStats stats;
  double ceiling = 0;
  uint64_t peak_rss = 0;
  for (int round = 0; round < args.repeats; ++round) {
    embed::EncodeStats attempt;
    encoder.encode(texts, "", &attempt);
    if (round == 0) peak_rss = peak_rss_bytes();  // the encoder's high-water mark, before any probe
    if (round == 0 || attempt.seconds < stats.seconds) stats = attempt;
    const auto mean_rows = static_cast<int64_t>(attempt.padded_tokens / std::max<size_t>(1, attempt.batches));
    ceiling = std::max(ceiling, sgemm_ceiling(encoder.model().linear_shapes(), std::max<int64_t>(1, mean_rows)));
  }
  const double achieved = stats.flops / stats.seconds / 1e9;
  const double padding_waste = 1.0 - static_cast<double>(stats.tokens) / static_cast<double>(stats.padded_tokens);

  const Json report = {
      {"model", encoder.model_name()},
      {"model_dir", args.model},
      {"architecture", encoder.model().architecture()},
      {"workload", args.workload.empty() ? fmt::format("synthetic(count={}, seed={})", args.texts, args.seed) : args.workload},
      {"threads", model::compute_threads()},
      {"batch_policy", fmt::format("length-sorted, <= {} texts and <= {} padded tokens per batch, max_seq_length {}",
                                   options.max_batch_size, options.max_batch_tokens, encoder.max_seq_length())},
      {"repeats", args.repeats},
      {"texts", stats.texts},
      {"tokens", stats.tokens},
      {"mean_tokens_per_text", static_cast<double>(stats.tokens) / static_cast<double>(stats.texts)},
      {"batches", stats.batches},
      {"seconds", stats.seconds},
      {"load_seconds", load_seconds},
      {"texts_per_second", static_cast<double>(stats.texts) / stats.seconds},
      {"tokens_per_second", static_cast<double>(stats.tokens) / stats.seconds},
      {"achieved_gflops", achieved},
      {"sgemm_ceiling_gflops", ceiling},
      {"fraction_of_sgemm", achieved / ceiling},
      {"padding_waste", padding_waste},
      {"peak_rss_bytes", peak_rss},
  };
  std::printf("model            %s (%s)\n", encoder.model_name().c_str(), encoder.model().architecture().c_str());
  std::printf("workload         %s: %zu texts, %zu tokens (%.1f per text)\n", report["workload"].get<std::string>().c_str(),
              stats.texts, stats.tokens, report["mean_tokens_per_text"].get<double>());
  std::printf("threads          %d\n", model::compute_threads());
  std::printf("batch policy     %s\n", report["batch_policy"].get<std::string>().c_str());
  std::printf("throughput       %.1f texts/s, %.0f tokens/s (%.2f s, best of %d)\n", report["texts_per_second"].get<double>(),
              report["tokens_per_second"].get<double>(), stats.seconds, args.repeats);
  std::printf("compute          %.1f GFLOP/s achieved; sgemm ceiling %.1f GFLOP/s on the same shapes -> %.0f%%\n",
              achieved, ceiling, 100.0 * achieved / ceiling);
  std::printf("padding waste    %.1f%% of %zu padded tokens\n", 100.0 * padding_waste, stats.padded_tokens);
  std::printf("peak memory      %.1f MiB RSS (model load + encoding)\n", static_cast<double>(peak_rss) / (1024.0 * 1024.0));
  if (!args.json_output.empty()) write_json_file(args.json_output, report);
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto args = std::make_shared<BenchArguments>();
  CLI::App* command = app.add_subcommand("bench", "Measure encoder throughput against the machine's sgemm ceiling");
  command->add_option("--model", args->model, "Model directory (or ORG/NAME from the local cache)");
  command->add_option("--workload", args->workload, "Texts to embed (.jsonl or plain text); default: synthetic");
  command->add_option("--texts", args->texts, "Size of the synthetic workload")->capture_default_str();
  command->add_option("--seed", args->seed, "Seed of the synthetic workload")->capture_default_str();
  command->add_option("--threads", args->threads, "Compute threads (default: all cores)");
  command->add_option("--batch-size", args->batch_size, "Most texts per batch")->capture_default_str();
  command->add_option("--batch-tokens", args->batch_tokens, "Most padded tokens per batch")->capture_default_str();
  command->add_option("--max-seq-length", args->max_seq_length, "Truncate inputs to N tokens (default: the model's)");
  command->add_option("--repeats", args->repeats, "Runs of the workload; the best is reported")->capture_default_str();
  command->add_option("--json", args->json_output, "Also write the results as JSON to this file");
  command->add_option("--random-weights", args->random_dir,
                      "Instead of benchmarking: fill this model directory's missing weights with random ones");
  command->add_option("--random-seed", args->random_seed, "Seed for --random-weights")->capture_default_str();
  command->callback([args] { run_bench(*args); });
}

}  // namespace memembed::cli
