// memembed serve: the memory service over HTTP (include/memembed/server.h, docs/serve.md).
#include "commands.h"
#include "memembed/embed.h"
#include "memembed/error.h"
#include "memembed/hub.h"
#include "memembed/model.h"
#include "memembed/memory.h"
#include "memembed/postgres.h"
#include "memembed/provider.h"
#include "memembed/select.h"
#include "memembed/server.h"
#include "memembed/text.h"

#include <csignal>
#include <cstdio>
#include <thread>

namespace memembed::cli {

namespace {

struct ServeArguments {
  std::string config;
  std::string data;
  std::string database;
  std::string model;
  int threads = 0;
  double queue_timeout_seconds = 30;
  server::ServeOptions options;
};

// The tokenizer of a model directory (sentence-transformers keeps it at the top, a static
// embedding model in its module folder), for /v1/embeddings' token counts; null when none is there.
std::shared_ptr<const text::Tokenizer> find_tokenizer(const std::filesystem::path& dir) {
  const auto has_tokenizer = [](const std::filesystem::path& path) {
    return std::filesystem::exists(path / "tokenizer.json") || std::filesystem::exists(path / "tokenizer.model");
  };
  if (has_tokenizer(dir)) return text::load_tokenizer(dir);
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_directory() && has_tokenizer(entry.path())) return text::load_tokenizer(entry.path());
  }
  return nullptr;
}

server::ServiceParts load_service(const ServeArguments& args) {
  server::ServiceParts parts;
  embed::EncoderOptions encoder;
  model::configure_compute({args.threads});
  std::string model = args.model;
  if (!args.config.empty()) {
    const select::EmbedderConfig config = select::load_embedder_config(args.config);
    std::vector<std::string> warnings;
    parts.embedder = memory::load_config_embedder(config, encoder, warnings);
    for (const std::string& warning : warnings) std::fprintf(stderr, "memembed: warning: %s\n", warning.c_str());
    model = config.fine_tune.enabled && config.fine_tune.checkpoint_path &&
                    std::filesystem::is_directory(*config.fine_tune.checkpoint_path)
                ? *config.fine_tune.checkpoint_path
                : config.model_path.value_or(config.model);
    parts.embedder_info = select::to_json(config);
    parts.embedder_info.erase("selection");
    parts.embedder_info.erase("format");
    parts.config_file = std::filesystem::absolute(args.config);
  } else if (!model.empty()) {
    parts.embedder = memory::load_model_embedder(model, encoder);
    parts.embedder_info = {{"provider", provider::is_remote_address(model) ? "openai" : "local"},
                           {"fine_tune", {{"enabled", false}}}};
  } else {
    std::fprintf(stderr, "memembed: warning: no --model or --config: serving BM25 and metadata search only\n");
    parts.embedder_info = {{"provider", nullptr}, {"model", nullptr}, {"dims", 0}, {"fine_tune", {{"enabled", false}}}};
  }
  if (parts.embedder) {
    const memory::ModelIdentity identity = parts.embedder->identity();
    parts.embedder_info["model"] = identity.name;
    parts.embedder_info["dims"] = identity.dims;
    parts.embedder_info["fingerprint"] = identity.fingerprint;
    // An endpoint's tokenizer is not here: its usage counts stay 0.
    const bool local = parts.embedder_info["provider"] == "local";
    if (local) parts.serving_model = hub::resolve_model(model);
    if (const auto tokenizer = local ? find_tokenizer(parts.serving_model) : nullptr) {
      parts.count_tokens = [tokenizer](const std::string& text) { return tokenizer->encode(text, {}).ids.size(); };
    }
  }
  parts.load_model = [encoder](const std::string& target) { return memory::load_model_embedder(target, encoder); };
  if (!args.database.empty()) {
    const std::string url = args.database;
    parts.open_backend = [url] { return postgres::open_postgres_backend(url); };
    parts.lock_reindex = [url] { return postgres::try_lock_reindex(url); };
    parts.watch_active_model = [url](auto on_change) { return postgres::watch_active_model(url, std::move(on_change)); };
    // The store names the database by its backend's description (password redacted).
  } else {
    const std::string data = args.data;
    parts.open_backend = [data] { return memory::open_sqlite_backend(data); };
    parts.store_options.data_label = data;
  }
  return parts;
}

void run_serve(const ServeArguments& args) {
  if (args.data.empty() == args.database.empty()) {
    throw invalid_input("give exactly one of --data DIR (embedded SQLite store) or --database postgresql://...");
  }
  if (!args.config.empty() && !args.model.empty()) throw invalid_input("give either --config or --model, not both");

  // SIGTERM/SIGINT are taken by one thread (sigwait) that stops the server gracefully; every other
  // thread inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  server::ServeOptions options = args.options;
  options.queue_timeout = std::chrono::milliseconds(static_cast<int64_t>(args.queue_timeout_seconds * 1000));
  server::Server server(options, [&args] { return load_service(args); });
  server.start();
  std::atomic<bool> done{false};
  std::thread signal_waiter([&] {
    const timespec poll{0, 200 * 1000 * 1000};
    while (!done) {
      const int signal = sigtimedwait(&signals, nullptr, &poll);
      if (signal == SIGTERM || signal == SIGINT) {
        server.stop();
        return;
      }
    }
  });
  try {
    server.wait();
  } catch (...) {
    done = true;
    signal_waiter.join();
    throw;
  }
  done = true;
  signal_waiter.join();
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto args = std::make_shared<ServeArguments>();
  auto* command = app.add_subcommand("serve", "Serve agents' memories over HTTP (JSON API, OpenAI-compatible embeddings)");
  command->add_option("--config", args->config, "Embedder config (from `memembed recommend --write-config`)");
  command->add_option("--data", args->data, "Data directory of the embedded SQLite store (created when missing)");
  command->add_option("--database", args->database, "PostgreSQL URL (postgresql://user@host:port/db), pgvector installed");
  command->add_option("--model", args->model,
                      "Model directory, ORG/NAME or openai:URL#MODEL (without it: BM25 only)");
  command->add_option("--host", args->options.host, "Address to listen on (non-loopback needs --api-keys-file)")
      ->capture_default_str();
  command->add_option("--port", args->options.port, "Port (0: any free port)")->capture_default_str();
  command->add_option("--admin-token-file", args->options.admin_token_file,
                      "File holding the admin bearer token (without it the admin API is off)");
  command->add_option("--api-keys-file", args->options.api_keys_file,
                      "File of \"agent_id key\" lines; every request then needs its agent's key");
  command->add_option("--threads", args->threads, "Model compute threads (default: all cores)");
  command->add_option("--http-threads", args->options.http_threads,
                      "HTTP worker threads (each open keep-alive connection holds one)")
      ->capture_default_str();
  command->add_option("--store-concurrency", args->options.store_concurrency,
                      "Store operations run at once; more requests queue (0: max(16, 2 x cores))")
      ->capture_default_str();
  command->add_option("--queue-timeout", args->queue_timeout_seconds,
                      "Seconds a store operation may wait for its turn before 503 + Retry-After (0: no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  command->add_option("--max-body-bytes", args->options.max_body_bytes, "Largest request body (413 above)")
      ->capture_default_str();
  command->add_option("--max-batch", args->options.max_batch_texts, "Most texts per model call (dynamic batching)")
      ->capture_default_str();
  command->add_option("--fine-tune-root", args->options.fine_tune_root,
                      "Enables fine-tuning jobs (/admin/memory/fine-tune); every path they use stays in DIR");
  command->add_option("--fine-tune-threads", args->options.fine_tune_threads,
                      "libtorch threads of a fine-tuning run's process")
      ->capture_default_str();
  command->callback([args] { run_serve(*args); });
}

}  // namespace memembed::cli
