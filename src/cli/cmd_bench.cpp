// memembed bench: encoder throughput on a reproducible workload, next to the sgemm ceiling of the
// same machine on the model's own matrix shapes, so results read as a fraction of what BLAS allows.
#include "commands.h"
#include "endpoint_options.h"
#include "precision_option.h"
#include "memembed/bench_record.h"
#include "memembed/embed.h"
#include "memembed/error.h"
#include "memembed/json_io.h"
#include "memembed/model.h"
#include "memembed/provider.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

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
  std::vector<std::string> precisions = {"f32"};
  provider::RemoteOptions remote;
  size_t latency_requests = 50;
  std::string endpoint_device = "cuda";
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

// One precision under test: its encoder and its best run so far.
struct Contender {
  Precision precision;
  std::unique_ptr<embed::Encoder> encoder;
  double load_seconds = 0;
  embed::EncodeStats best;
  embed::Embeddings vectors;  // of the workload, for agreement with the baseline
};

// Smallest and mean cosine similarity between corresponding rows.
std::pair<double, double> agreement(const embed::Embeddings& a, const embed::Embeddings& b) {
  double smallest = 1.0, total = 0.0;
  for (size_t r = 0; r < a.rows; ++r) {
    double dot = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < a.dim; ++i) {
      dot += static_cast<double>(a.row(r)[i]) * b.row(r)[i];
      aa += static_cast<double>(a.row(r)[i]) * a.row(r)[i];
      bb += static_cast<double>(b.row(r)[i]) * b.row(r)[i];
    }
    const double cosine = aa > 0 && bb > 0 ? dot / std::sqrt(aa * bb) : (aa == bb ? 1.0 : 0.0);
    smallest = std::min(smallest, cosine);
    total += cosine;
  }
  return {smallest, a.rows > 0 ? total / static_cast<double>(a.rows) : 1.0};
}

// One precision's entry of the report: its bench record (memembed/bench_record.h, the part
// `recommend --bench` reads) and the measurements behind it.
Json contender_report(const Contender& c, double ceiling, const Contender& baseline, BenchRecord record) {
  const embed::EncodeStats& stats = c.best;
  const double achieved = stats.flops / stats.seconds / 1e9;
  const model::PrecisionPlan& plan = c.encoder->precision();
  const auto [min_cosine, mean_cosine] = agreement(c.vectors, baseline.vectors);
  record.texts_per_second = static_cast<double>(stats.texts) / stats.seconds;
  record.tokens_per_second = static_cast<double>(stats.tokens) / stats.seconds;
  record.mean_tokens_per_text = static_cast<double>(stats.tokens) / static_cast<double>(stats.texts);
  record.precision = to_string(plan.requested);
  Json report = to_json(record);
  report.update({
      {"precision_effective", to_string(plan.effective)},
      {"precision_kernel", plan.kernel},
      {"precision_notice", plan.notice},
      {"texts", stats.texts},
      {"tokens", stats.tokens},
      {"batches", stats.batches},
      {"seconds", stats.seconds},
      {"load_seconds", c.load_seconds},
      {"speedup_vs_baseline", baseline.best.seconds / stats.seconds},
      {"min_cosine_vs_baseline", min_cosine},
      {"mean_cosine_vs_baseline", mean_cosine},
      {"achieved_gflops", achieved},
      {"sgemm_ceiling_gflops", ceiling},
      {"fraction_of_sgemm", achieved / ceiling},
      {"padding_waste", 1.0 - static_cast<double>(stats.tokens) / static_cast<double>(stats.padded_tokens)},
  });
  return report;
}

Json latency_json(const provider::LatencySummary& latency) {
  return {{"p50", latency.p50_ms}, {"p99", latency.p99_ms}, {"samples", latency.samples}};
}

// An endpoint (openai:URL#MODEL): query latency and throughput at --concurrency, as the JSON
// `recommend --bench` reads (its query_latency_ms.p50 replaces the registry's latency estimate).
void run_endpoint_bench(const BenchArguments& args, const std::vector<std::string>& texts) {
  provider::ProviderOptions options;
  options.remote = args.remote;
  const auto endpoint = provider::open_provider(args.model, options);
  provider::EndpointBenchOptions bench;
  bench.latency_requests = args.latency_requests;
  bench.batch_texts = args.remote.max_batch_texts;
  bench.concurrency = args.remote.concurrency;
  const provider::EndpointBenchResult result = provider::bench_endpoint(*endpoint, texts, bench);
  size_t bytes = 0;
  for (const std::string& text : texts) bytes += text.size();
  // The endpoint's tokenizer is not here: tokens are estimated as the client's batching does.
  const double tokens_per_text = std::max(1.0, static_cast<double>(bytes) / 3.0 / static_cast<double>(texts.size()));
  const std::string workload =
      args.workload.empty() ? fmt::format("synthetic(count={}, seed={})", args.texts, args.seed) : args.workload;
  const Json report = {
      {"model", args.model.substr(args.model.rfind('#') + 1)},
      {"model_dir", endpoint->model_name()},
      {"provider", "openai"},
      {"device", args.endpoint_device},
      {"precision", "f32"},
      {"workload", workload},
      {"texts", result.texts},
      {"seconds", result.seconds},
      {"texts_per_second", result.texts_per_second},
      {"tokens_per_second", result.texts_per_second * tokens_per_text},
      {"mean_tokens_per_text", tokens_per_text},
      {"tokens_estimated", true},
      {"threads", args.remote.concurrency},
      {"concurrency", args.remote.concurrency},
      {"batch_texts", bench.batch_texts},
      {"dims", endpoint->dimension()},
      {"query_latency_ms", latency_json(result.query_latency)},
      {"request_latency_ms", latency_json(result.call_latency)},
      {"peak_rss_bytes", peak_rss_bytes()},
  };
  std::printf("endpoint         %s (%zu dims)\n", endpoint->model_name().c_str(), endpoint->dimension());
  std::printf("query latency    p50 %.1f ms, p99 %.1f ms (%zu single-text requests, one at a time)\n",
              result.query_latency.p50_ms, result.query_latency.p99_ms, result.query_latency.samples);
  std::printf("throughput       %.1f texts/s (%s: %zu texts in %.2f s; %zu texts per request, %zu in flight)\n",
              result.texts_per_second, workload.c_str(), result.texts, result.seconds, bench.batch_texts,
              bench.concurrency);
  std::printf("request latency  p50 %.1f ms, p99 %.1f ms under that load\n", result.call_latency.p50_ms,
              result.call_latency.p99_ms);
  if (!args.json_output.empty()) write_json_file(args.json_output, report);
}

void run_bench(const BenchArguments& args) {
  if (!args.random_dir.empty()) {
    model::write_random_weights(args.random_dir, args.random_seed);
    std::printf("wrote random weights (seed %llu) into %s\n", static_cast<unsigned long long>(args.random_seed),
                args.random_dir.c_str());
    return;
  }
  if (args.model.empty()) throw invalid_input("--model is required (or --random-weights DIR)");
  if (args.repeats < 1) throw invalid_input("--repeats must be at least 1");
  const std::vector<std::string> texts =
      args.workload.empty() ? embed::synthetic_workload(args.texts, args.seed) : read_texts(args.workload);
  if (texts.empty()) throw invalid_input("the workload has no texts");
  if (provider::is_remote_address(args.model)) return run_endpoint_bench(args, texts);

  model::configure_compute({args.threads});
  embed::EncoderOptions options;
  options.max_batch_size = args.batch_size;
  options.max_batch_tokens = args.batch_tokens;
  options.max_seq_length = args.max_seq_length;
  std::vector<Contender> contenders;
  for (const std::string& name : args.precisions) {
    Contender c;
    c.precision = parse_precision(name, "--precision");
    announce_precision(c.precision);
    options.precision = c.precision;
    const auto load_start = std::chrono::steady_clock::now();
    c.encoder = std::make_unique<embed::Encoder>(args.model, options);
    c.load_seconds = seconds_since(load_start);
    // Warm-up on a slice, so first-touch allocation and thread start-up are not timed.
    c.encoder->encode(std::vector<std::string>(texts.begin(), texts.begin() + std::min<size_t>(texts.size(), 64)));
    contenders.push_back(std::move(c));
  }
  const embed::Encoder& first = *contenders.front().encoder;

  // Best of `repeats` for every precision and the sgemm probe, interleaved round by round, so that
  // a slow moment of a shared machine does not decide a ratio.
  double ceiling = 0;
  uint64_t peak_rss = 0;
  for (int round = 0; round < args.repeats; ++round) {
    for (Contender& c : contenders) {
      embed::EncodeStats attempt;
      c.vectors = c.encoder->encode(texts, "", &attempt);
      if (round == 0 || attempt.seconds < c.best.seconds) c.best = attempt;
    }
    if (round == 0) peak_rss = peak_rss_bytes();  // the encoders' high-water mark, before any probe
    const embed::EncodeStats& shape = contenders.front().best;
    const auto mean_rows = static_cast<int64_t>(shape.padded_tokens / std::max<size_t>(1, shape.batches));
    ceiling = std::max(ceiling, sgemm_ceiling(first.model().linear_shapes(), std::max<int64_t>(1, mean_rows)));
  }

  const Contender& baseline = contenders.front();
  BenchRecord machine;  // what every precision's record shares
  machine.model = first.model_name();
  machine.model_dir = args.model;
  machine.threads = model::compute_threads();
  machine.peak_rss_bytes = static_cast<double>(peak_rss);
  // The top level is the first precision's record (the one `recommend --bench` reads), the
  // others follow under "precisions", each with its speed-up over the first.
  Json report = contender_report(baseline, ceiling, baseline, machine);
  report.update({
      {"architecture", first.model().architecture()},
      {"workload", args.workload.empty() ? fmt::format("synthetic(count={}, seed={})", args.texts, args.seed) : args.workload},
      {"batch_policy", fmt::format("length-sorted, <= {} texts and <= {} padded tokens per batch, max_seq_length {}",
                                   options.max_batch_size, options.max_batch_tokens, first.max_seq_length())},
      {"repeats", args.repeats},
  });
  Json all = Json::array();
  for (const Contender& c : contenders) all.push_back(contender_report(c, ceiling, baseline, machine));
  report["precisions"] = all;

  const embed::EncodeStats& stats = baseline.best;
  std::printf("model            %s (%s)\n", first.model_name().c_str(), first.model().architecture().c_str());
  std::printf("workload         %s: %zu texts, %zu tokens (%.1f per text)\n", report["workload"].get<std::string>().c_str(),
              stats.texts, stats.tokens, report["mean_tokens_per_text"].get<double>());
  std::printf("threads          %d\n", model::compute_threads());
  std::printf("batch policy     %s\n", report["batch_policy"].get<std::string>().c_str());
  std::printf("sgemm ceiling    %.1f GFLOP/s on the model's linear shapes\n", ceiling);
  for (const Json& run : all) {
    std::printf("%-5s %-9s %.1f texts/s, %.0f tokens/s (%.2f s, best of %d), %.2fx %s, %.1f GFLOP/s = %.0f%% of sgemm, "
                "cosine vs %s >= %.5f; %s\n",
                run["precision"].get<std::string>().c_str(),
                run["precision_effective"].get<std::string>() == run["precision"].get<std::string>() ? "" : "(as f32)",
                run["texts_per_second"].get<double>(), run["tokens_per_second"].get<double>(),
                run["seconds"].get<double>(), args.repeats, run["speedup_vs_baseline"].get<double>(),
                to_string(baseline.precision), run["achieved_gflops"].get<double>(),
                100.0 * run["fraction_of_sgemm"].get<double>(), to_string(baseline.precision),
                run["min_cosine_vs_baseline"].get<double>(), run["precision_kernel"].get<std::string>().c_str());
  }
  std::printf("padding waste    %.1f%% of %zu padded tokens\n", 100.0 * report["padding_waste"].get<double>(),
              stats.padded_tokens);
  std::printf("peak memory      %.1f MiB RSS (model load%s + encoding)\n", static_cast<double>(peak_rss) / (1024.0 * 1024.0),
              contenders.size() > 1 ? "s of every precision" : "");
  if (!args.json_output.empty()) write_json_file(args.json_output, report);
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto args = std::make_shared<BenchArguments>();
  CLI::App* command = app.add_subcommand("bench", "Measure encoder throughput against the machine's sgemm ceiling, or an endpoint's latency and throughput");
  command->add_option("--model", args->model, "Model directory, ORG/NAME from the local cache, or openai:URL#MODEL");
  command->add_option("--workload", args->workload, "Texts to embed (.jsonl or plain text); default: synthetic");
  command->add_option("--texts", args->texts, "Size of the synthetic workload")->capture_default_str();
  command->add_option("--seed", args->seed, "Seed of the synthetic workload")->capture_default_str();
  command->add_option("--threads", args->threads, "Compute threads (default: all cores)");
  command->add_option("--batch-size", args->batch_size, "Most texts per batch")->capture_default_str();
  command->add_option("--batch-tokens", args->batch_tokens, "Most padded tokens per batch")->capture_default_str();
  command->add_option("--max-seq-length", args->max_seq_length, "Truncate inputs to N tokens (default: the model's)");
  command->add_option("--repeats", args->repeats, "Runs of the workload; the best is reported")->capture_default_str();
  command->add_option("--json", args->json_output, "Also write the results as JSON to this file");
  command->add_option("--precision", args->precisions,
                      "Linear-layer precisions to measure, comma-separated (f32, bf16, int8), interleaved in one "
                      "run; speed-ups are against the first")
      ->delimiter(',')
      ->check(CLI::IsMember({"f32", "bf16", "int8"}))
      ->capture_default_str();
  command->add_option("--random-weights", args->random_dir,
                      "Instead of benchmarking: fill this model directory's missing weights with random ones");
  command->add_option("--random-seed", args->random_seed, "Seed for --random-weights")->capture_default_str();
  add_endpoint_options(command, args->remote);
  command->add_option("--latency-requests", args->latency_requests,
                      "Endpoint: single-text requests timed for the query latency")
      ->capture_default_str();
  command->add_option("--endpoint-device", args->endpoint_device, "Endpoint: the device it runs on, for recommend")
      ->check(CLI::IsMember({"cuda", "cpu"}))
      ->capture_default_str();
  command->callback([args] { run_bench(*args); });
}

}  // namespace memembed::cli
