// `memembed tune`: domain fine-tuning — generate, mine, train, evaluate, deploy, and `run` for all
// of them in one resumable run directory (docs/tune.md).
#include "commands.h"
#include "memembed/error.h"
#include "memembed/model.h"
#include "memembed/tune.h"

#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>

namespace memembed::cli {

namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_tune_interrupt(int signal) {
  // Ctrl-C / SIGTERM: checkpoint and stop; a second Ctrl-C kills the process. SIGTERM stays
  // graceful however often it comes: a process that lost its `memembed serve` parent gets one per
  // exiting server thread (PR_SET_PDEATHSIG), and service managers follow up with SIGKILL anyway.
  g_stop.store(true);
  if (signal == SIGINT) std::signal(SIGINT, SIG_DFL);
}

// Runs `body` with Ctrl-C / SIGTERM turned into a graceful stop.
template <typename Body>
void interruptible(Body&& body) {
  g_stop.store(false);
  auto previous_int = std::signal(SIGINT, on_tune_interrupt);
  auto previous_term = std::signal(SIGTERM, on_tune_interrupt);
  try {
    body();
  } catch (...) {
    std::signal(SIGINT, previous_int);
    std::signal(SIGTERM, previous_term);
    throw;
  }
  std::signal(SIGINT, previous_int);
  std::signal(SIGTERM, previous_term);
}

void print_json(const Json& value) { std::printf("%s\n", value.dump(2).c_str()); }

struct LlmFlags {
  std::string url;
  std::string model;
  std::string prompt_file;
  std::string key_env = "OPENAI_API_KEY";
  size_t queries_per_chunk = 2;
  double rate = 4;
  int retries = 5;
  std::string cache_dir;

  void add_to(CLI::App* command) {
    command->add_option("--llm-url", url, "OpenAI-compatible endpoint base URL (…/v1); enables LLM queries");
    command->add_option("--llm-model", model, "Model name sent to the endpoint");
    command->add_option("--llm-prompt", prompt_file, "Prompt file ({chunk} and {count} are filled in)")->check(CLI::ExistingFile);
    command->add_option("--llm-key-env", key_env, "Environment variable holding the API key")->capture_default_str();
    command->add_option("--llm-queries", queries_per_chunk, "Queries per chunk")->capture_default_str();
    command->add_option("--llm-rate", rate, "Requests per second at most")->capture_default_str();
    command->add_option("--llm-retries", retries, "Retries for 429/5xx/transport errors (exponential backoff)")->capture_default_str();
    command->add_option("--llm-cache", cache_dir, "Directory caching the answers");
  }

  std::optional<tune::LlmOptions> options() const {
    if (url.empty()) return std::nullopt;
    tune::LlmOptions llm;
    llm.url = url;
    llm.model = model;
    llm.prompt_file = prompt_file;
    llm.api_key_env = key_env;
    llm.queries_per_chunk = queries_per_chunk;
    llm.requests_per_second = rate;
    llm.max_retries = retries;
    llm.cache_dir = cache_dir;
    return llm;
  }
};

void add_generate(CLI::App* tune) {
  auto* command = tune->add_subcommand("generate", "Documents -> chunks -> (query, positive) pairs + held-out BEIR set");
  struct State {
    tune::GenerateOptions options;
    std::vector<std::string> docs;
    std::string generator = "auto";
    std::string out;
    LlmFlags llm;
  };
  auto state = std::make_shared<State>();
  command->add_option("--docs", state->docs, "Documents: a directory of .md/.txt files, a corpus.jsonl, or a file (repeatable)")->required();
  command->add_option("--out", state->out, "Output directory: data/ (chunks, pairs) and eval/ (held-out BEIR set)")->required();
  command->add_option("--generator", state->generator, "auto | inverse-cloze | dialogue | llm")->capture_default_str();
  command->add_option("--held-out", state->options.held_out_fraction, "Fraction of chunks held out for evaluation")->capture_default_str();
  command->add_option("--max-held-out", state->options.max_held_out, "At most this many held-out queries")->capture_default_str();
  command->add_option("--max-pairs", state->options.max_train_pairs, "At most this many training pairs (0 = all)")->capture_default_str();
  command->add_option("--chunk-words", state->options.chunking.max_words, "Longest chunk, in words")->capture_default_str();
  command->add_option("--seed", state->options.seed, "Random seed")->capture_default_str();
  state->llm.add_to(command);
  command->callback([state] {
    for (const auto& doc : state->docs) state->options.docs.emplace_back(doc);
    state->options.data_dir = fs::path(state->out) / "data";
    state->options.eval_dir = fs::path(state->out) / "eval";
    state->options.generator = tune::generator_from_string(state->generator);
    state->options.llm = state->llm.options();
    print_json(tune::generate_training_data(state->options).to_json());
  });
}

void add_data_parallel_options(CLI::App* command, tune::DataParallel& parallel, const char* what) {
  command->add_option("--world-size", parallel.world_size, std::string("Ranks in data-parallel ") + what)->capture_default_str();
  command->add_option("--rank", parallel.rank, "This process's rank (0 hosts the rendezvous)")->capture_default_str();
  command->add_option("--master", parallel.master, "HOST:PORT of rank 0's TCPStore (needed with --world-size > 1)");
}

void add_mine(CLI::App* tune) {
  auto* command = tune->add_subcommand("mine", "Hard negatives for every training query, with the positive-aware filter");
  struct State {
    tune::MineOptions options;
    std::string data;
    std::string model;
    int threads = 0;
  };
  auto state = std::make_shared<State>();
  command->add_option("--data", state->data, "The data/ directory `tune generate` wrote")->required()->check(CLI::ExistingDirectory);
  command->add_option("--model", state->model, "Base model that ranks the candidates")->required();
  command->add_option("-k,--negatives", state->options.negatives, "Negatives per query")->capture_default_str();
  command->add_option("--threshold", state->options.threshold, "Drop candidates scoring above this x the positive's score")->capture_default_str();
  command->add_option("--candidates", state->options.candidates, "Ranked candidates examined per query (0 = max(64, 16k))")->capture_default_str();
  command->add_option("--block-rows", state->options.block_rows, "Corpus rows scored at a time (bounds memory)")->capture_default_str();
  command->add_option("--seed", state->options.seed, "Seed of the random fill")->capture_default_str();
  command->add_option("--threads", state->threads, "libtorch threads (0 = all cores)")->capture_default_str();
  add_data_parallel_options(command, state->options.parallel, "mining");
  command->callback([state] {
    model::configure_compute({state->threads});
    state->options.data_dir = state->data;
    state->options.base_model = state->model;
    state->options.show_progress = true;
    const tune::MiningReport report = tune::mine_hard_negatives(state->options);
    std::fprintf(stderr,
                 "memembed tune mine: %zu queries, %zu negative slots: %zu mined, %zu random (%.1f%% left unfilled by "
                 "the filter), %zu empty\n",
                 report.queries, report.slots, report.hard, report.random, 100.0 * report.unfilled_fraction(), report.empty);
    print_json(report.to_json());
  });
}

void add_train_options(CLI::App* command, tune::TrainOptions& options, int& threads, std::optional<double>& lr,
                       std::optional<double>& temperature, std::optional<int>& epochs) {
  command->add_option("--lr", lr, "Peak learning rate (default per model kind: 1e-5 transformers, 1e-2 static)");
  command->add_option("--temperature", temperature, "InfoNCE temperature (default 0.02 transformers, 0.05 static)");
  command->add_option("--epochs", epochs, "Epochs (default 3 transformers, 10 static)");
  command->add_option("--batch-size", options.batch_size, "Queries per optimiser step (global)")->capture_default_str();
  command->add_option("--mini-batch", options.mini_batch, "Texts per forward/backward (GradCache)")->capture_default_str();
  command->add_option("--max-steps", options.max_steps, "Stop after this many steps (0 = all epochs)")->capture_default_str();
  command->add_option("--seed", options.seed, "Random seed (data order)")->capture_default_str();
  command->add_option("--threads", threads, "libtorch threads (0 = all cores)")->capture_default_str();
}

void add_train(CLI::App* tune) {
  auto* command = tune->add_subcommand("train", "InfoNCE training (GradCache, AdamW, warmup + cosine), resumable");
  struct State {
    tune::TrainOptions options;
    std::optional<double> lr, temperature;
    std::optional<int> epochs;
    std::string data, model, out;
    int threads = 0;
    bool no_in_batch = false;
  };
  auto state = std::make_shared<State>();
  command->add_option("--data", state->data, "The data/ directory (chunks.jsonl, negatives.jsonl)")->required()->check(CLI::ExistingDirectory);
  command->add_option("--model", state->model, "Base model directory")->required();
  command->add_option("--out", state->out, "Output: train/ (checkpoint, log.jsonl, loss.svg) and model/")->required();
  add_train_options(command, state->options, state->threads, state->lr, state->temperature, state->epochs);
  command->add_option("--weight-decay", state->options.weight_decay, "AdamW weight decay")->capture_default_str();
  command->add_option("--warmup", state->options.warmup_fraction, "Warmup share of all steps")->capture_default_str();
  command->add_option("--grad-clip", state->options.grad_clip, "Max gradient L2 norm")->capture_default_str();
  command->add_option("--negatives", state->options.negatives, "Hard negatives per query")->capture_default_str();
  command->add_option("--max-seq-length", state->options.max_seq_length, "Token limit of training inputs")->capture_default_str();
  command->add_option("--checkpoint-every", state->options.checkpoint_every, "Steps between checkpoints")->capture_default_str();
  command->add_flag("--no-in-batch-negatives", state->no_in_batch, "Only each query's own negatives");
  add_data_parallel_options(command, state->options.parallel, "training");
  command->callback([state] {
    auto& options = state->options;
    model::configure_compute({state->threads});
    options.data_dir = state->data;
    options.base_model = state->model;
    options.train_dir = fs::path(state->out) / "train";
    options.export_dir = fs::path(state->out) / "model";
    options.learning_rate = state->lr;
    options.temperature = state->temperature;
    options.epochs = state->epochs;
    options.in_batch_negatives = !state->no_in_batch;
    options.stop = &g_stop;
    tune::TrainResult result;
    interruptible([&] { result = tune::train_model(options); });
    if (result.interrupted) std::fprintf(stderr, "memembed tune train: stopped at step %zu; rerun to resume\n", result.steps);
    print_json(result.to_json());
  });
}

void add_evaluate(CLI::App* tune) {
  auto* command = tune->add_subcommand("evaluate", "Base vs tuned on the held-out set (NDCG@10, R@10, R@60), gate");
  struct State {
    tune::EvaluateOptions options;
    std::string eval_dir, base, tuned, out;
    std::vector<std::string> tasks;
  };
  auto state = std::make_shared<State>();
  command->add_option("--eval", state->eval_dir, "Held-out BEIR folder (eval/ of `tune generate`)")->required();
  command->add_option("--base-model", state->base, "Base model")->required();
  command->add_option("--model", state->tuned, "Tuned model")->required();
  command->add_option("--out", state->out, "Output directory (evaluation.json and both models' results)")->required();
  command->add_option("--tasks", state->tasks, "More task trees to compare on, reported per subset (repeatable)");
  command->add_option("--alpha", state->options.alpha, "Significance level of the paired test")->capture_default_str();
  command->add_option("--threads", state->options.threads, "libtorch threads (0 = all cores)")->capture_default_str();
  command->callback([state] {
    model::configure_compute({state->options.threads});
    state->options.eval_dir = state->eval_dir;
    state->options.base_model = state->base;
    state->options.tuned_model = state->tuned;
    state->options.out_dir = state->out;
    for (const auto& tasks : state->tasks) state->options.extra_tasks.emplace_back(tasks);
    const tune::GateDecision decision = tune::evaluate_gate(state->options);
    std::fprintf(stderr, "memembed tune evaluate: gate %s: %s\n", decision.passed ? "passed" : "failed",
                 decision.reason.c_str());
    print_json(decision.to_json());
  });
}

void add_deploy(CLI::App* tune) {
  auto* command = tune->add_subcommand("deploy", "Point the embedder config at the tuned model (previous kept for rollback)");
  struct State {
    std::string config, model, base, data;
    bool rollback = false;
  };
  auto state = std::make_shared<State>();
  command->add_option("--config", state->config, "Embedder config file (created when absent)")->required();
  command->add_option("--model", state->model, "Tuned model directory");
  command->add_option("--base-model", state->base, "Base model directory");
  command->add_option("--data", state->data, "Training data directory (recorded in the config)");
  command->add_flag("--rollback", state->rollback, "Restore the previous config instead");
  command->callback([state] {
    if (state->rollback) {
      tune::rollback_deployment(state->config);
      std::fprintf(stderr, "memembed tune deploy: %s restored from %s.previous\n", state->config.c_str(), state->config.c_str());
      return;
    }
    if (state->model.empty() || state->base.empty()) throw invalid_input("deploy needs --model and --base-model");
    const fs::path backup = tune::deploy_model({state->config, state->model, state->base, state->data});
    std::fprintf(stderr, "memembed tune deploy: %s now uses %s%s\n", state->config.c_str(), state->model.c_str(),
                 backup.empty() ? "" : fmt::format(" (previous config: {})", backup.string()).c_str());
  });
}

void add_run(CLI::App* tune) {
  auto* command = tune->add_subcommand("run", "All stages in one resumable run directory");
  struct State {
    tune::RunOptions options;
    std::vector<std::string> docs;
    std::string base, out, generator = "auto";
    tune::TrainOptions train;  // holds the shared training flags
    LlmFlags llm;
  };
  auto state = std::make_shared<State>();
  command->add_option("--docs", state->docs, "Documents: directory of .md/.txt, corpus.jsonl, or a file (repeatable)")->required();
  command->add_option("--base-model", state->base, "Base model directory")->required();
  command->add_option("--out", state->out, "RUN_DIR: everything is written inside it; a rerun resumes")->required();
  add_train_options(command, state->train, state->options.threads, state->options.learning_rate,
                    state->options.temperature, state->options.epochs);
  command->add_option("--generator", state->generator, "auto | inverse-cloze | dialogue | llm")->capture_default_str();
  command->add_option("-k,--negatives", state->options.negatives, "Hard negatives per query (mined and trained on)")
      ->capture_default_str();
  command->add_option("--held-out", state->options.held_out_fraction, "Fraction of chunks held out for the gate")
      ->capture_default_str();
  command->add_flag("--force-deploy", state->options.force_deploy, "Deploy even when the gate fails");
  state->llm.add_to(command);
  command->callback([state] {
    auto& options = state->options;
    for (const auto& doc : state->docs) options.docs.emplace_back(doc);
    options.base_model = state->base;
    options.run_dir = state->out;
    options.batch_size = state->train.batch_size;
    options.mini_batch = state->train.mini_batch;
    options.max_steps = state->train.max_steps;
    options.seed = state->train.seed;
    model::configure_compute({options.threads});
    options.generator = tune::generator_from_string(state->generator);
    options.llm = state->llm.options();
    options.stop = &g_stop;
    Json report;
    interruptible([&] { report = tune::run_pipeline(options); });
    print_json(report);
  });
}

}  // namespace

void add_tune_command(CLI::App& app) {
  auto* tune = app.add_subcommand("tune", "Fine-tune an embedding model on your own documents (docs/tune.md)");
  tune->require_subcommand(1);
  add_generate(tune);
  add_mine(tune);
  add_train(tune);
  add_evaluate(tune);
  add_deploy(tune);
  add_run(tune);
}

}  // namespace memembed::cli
