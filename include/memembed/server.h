// server: `memembed serve`, the memory service over HTTP.
//
// Routes (docs/serve.md): the memory store's operations (/memories, /shared), an OpenAI-compatible
// POST /v1/embeddings, GET /health, /ready and /metrics (Prometheus), and the admin API under
// /admin/memory/. Every error is JSON {"error": {"code", "message"}} with the status that fits.
//
// Start-up: start() binds the port at once and answers /health; the store and the model are built
// by the ServiceLoader on a background thread, and until they are there /ready and every API route
// answer 503. A loader failure stops the server and wait() rethrows it.
//
// Who may read what: with an API keys file every memory and embeddings request carries
// `Authorization: Bearer <key>` and acts only as the key's agent (401 without a valid key, 403 for
// another agent's id). Without one the server accepts any agent id and therefore refuses to listen
// anywhere but on a loopback address. The admin API needs the admin token's bearer; without an
// admin token file it does not exist (404).
//
// Shutdown: stop() (SIGTERM/SIGINT in `memembed serve`) stops accepting connections, lets every
// request in flight finish, then closes the store; nothing acknowledged is lost.
#pragma once

#include "memembed/json_io.h"
#include "memembed/memory.h"

#include <cstddef>
#include <filesystem>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace memembed::server {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8420;                          // 0: any free port (start() returns it)
  std::filesystem::path api_keys_file;      // empty: no keys, loopback only
  std::filesystem::path admin_token_file;   // empty: admin API disabled (404)
  size_t max_body_bytes = 1 << 20;          // larger request bodies get 413
  size_t http_threads = 256;                // each keep-alive connection holds one while open
  size_t store_concurrency = 0;             // store operations at once, the rest queue; 0: max(16, 2 x cores)
  // Load shedding: a queued store operation not started within this is answered 503 "overloaded"
  // with Retry-After (0: wait as long as it takes); one whose client has closed the connection
  // while it waited is not run either.
  std::chrono::milliseconds queue_timeout{30000};
  size_t max_batch_texts = 256;             // dynamic batching: texts per model call
  size_t max_embedding_inputs = 2048;       // inputs per /v1/embeddings request
  // Fine-tuning jobs (/admin/memory/fine-tune): off when empty (501); every path of a request must
  // lie inside this directory, which also holds the runs, their checkpoints and job records.
  std::filesystem::path fine_tune_root;
  int fine_tune_threads = 1;                // libtorch threads of the training process
};

// What the loader builds: the database, the model, and what the admin API reports.
struct ServiceParts {
  // Opens the database: at start, and again when following another process's model switch.
  std::function<std::unique_ptr<memory::MemoryBackend>()> open_backend;
  std::shared_ptr<const memory::Embedder> embedder;  // null: BM25 and metadata search only
  memory::StoreOptions store_options;                 // its embedder is set by the server
  // GET /admin/memory/embedder: provider, model, dims, fingerprint, fine_tune, ...
  Json embedder_info = Json::object();
  // Loads the model a reindex switches to (POST /admin/memory/reindex {"model"}); null: refused.
  std::function<std::shared_ptr<const memory::Embedder>(const std::string& model)> load_model;
  // The database-wide reindex lock when several processes share the store (null result: another
  // process holds it); empty when the store has one process.
  std::function<std::shared_ptr<void>()> lock_reindex;
  // When several processes share the store: watches the database's active model, calling back at
  // start, after every switch and periodically, until the handle is released
  // (postgres::watch_active_model); the server then follows another process's switch. Empty when
  // the store has one process.
  std::function<std::shared_ptr<void>(std::function<void(const std::optional<memory::ModelIdentity>&)>)>
      watch_active_model;
  // Tokens of one input as the model counts them, for the `usage` of /v1/embeddings.
  std::function<size_t(const std::string& text)> count_tokens;
  // The model directory the embedder was loaded from (a fine-tune run's default base model, and
  // what rolling back the first deployed checkpoint returns to); empty: none.
  std::filesystem::path serving_model;
  // The embedder config file the server was started with; a fine-tune deploy or rollback rewrites
  // it (the previous one kept as <file>.previous) so a restart serves the same model. Empty: none.
  std::filesystem::path config_file;
};
using ServiceLoader = std::function<ServiceParts()>;

class Server {
 public:
  // Reads the key and token files (errors name the file and line) and checks that a server without
  // API keys listens on a loopback address only.
  Server(ServeOptions options, ServiceLoader loader);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds (Io error naming host:port when it cannot), starts serving and the loader; returns the port.
  int start();
  // Blocks until the server has stopped and every request in flight has finished; rethrows a
  // loader failure.
  void wait();
  // Graceful stop; safe from any thread, idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(const std::string& host);

}  // namespace memembed::server
