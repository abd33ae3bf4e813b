// The state every route shares, and how routes are registered: authentication, readiness, error
// mapping, metrics and the request log are done once here, around each handler.
#pragma once

#include "api_error.h"
#include "auth.h"
#include "concurrency_limit.h"
#include "embedding_batcher.h"
#include "fine_tune_jobs.h"
#include "metrics.h"
#include "model_follower.h"
#include "reindex_job.h"
#include "request_log.h"

#include "memembed/server.h"

#include <httplib.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace memembed::server {

struct Service {
  ServeOptions options;
  Metrics metrics;
  RequestLog log;
  std::optional<ApiKeys> api_keys;
  std::optional<AdminToken> admin_token;

  std::atomic<bool> ready{false};
  std::atomic<bool> stopping{false};
  // Set by the loader thread before `ready` turns true. `store` and `embedder` are replaced when
  // the model changes (std::atomic_load/store): routes take them once per request.
  std::shared_ptr<memory::MemoryStore> store;
  std::shared_ptr<BatchingEmbedder> embedder;  // null: no model
  ServiceParts parts;
  std::mutex info_mutex;  // guards parts.embedder_info, which a model switch rewrites
  std::unique_ptr<ReindexJob> reindex;
  std::unique_ptr<FineTuneJobs> fine_tune;  // null: fine-tuning disabled (501)
  // Held while this process changes its model: starting its own reindex, following another's.
  std::mutex model_mutex;
  // Set while another process's model switch keeps this one from serving (ModelFollower):
  // memory and embeddings routes answer it (503), /ready fails.
  std::shared_ptr<const ApiError> unavailable;
  std::unique_ptr<ModelFollower> follower;

  // Store operations running at once (ServeOptions::store_concurrency); the others queue.
  std::unique_ptr<ConcurrencyLimit> store_limit;

  std::shared_ptr<memory::MemoryStore> current_store() const { return std::atomic_load(&store); }

  // The current store for one operation, holding a place of `store_limit` while it runs:
  // `service.use_store()->retrieve(...)` waits its turn, then runs - unless the turn does not come
  // within options.queue_timeout (503 "overloaded", Retry-After) or the client leaves meanwhile.
  class StoreLease {
   public:
    StoreLease(ConcurrencyLimit::Slot slot, std::shared_ptr<memory::MemoryStore> store)
        : slot_(std::move(slot)), store_(std::move(store)) {}
    memory::MemoryStore* operator->() const { return store_.get(); }

   private:
    ConcurrencyLimit::Slot slot_;
    std::shared_ptr<memory::MemoryStore> store_;
  };
  StoreLease use_store();
};

// Whether the client of the request this thread is handling has closed its connection.
bool calling_client_gone();

// Who is calling: the agent of the presented API key (when the server has keys).
struct Caller {
  std::optional<std::string> agent_id;
};

enum class Access {
  Open,   // /health, /ready, /metrics
  Agent,  // memory and embeddings routes: the API key when the server has keys
  Admin,  // /admin/...: the admin token; 404 when the server has none
};

using Handler = std::function<void(const httplib::Request&, httplib::Response&, const Caller&)>;

// Registers `handler` for `method` on `pattern` (a regex; capture groups in request.matches),
// labelled `route` in metrics and logs. Agent and Admin routes answer 503 until the service is ready,
// Agent routes also while `unavailable` is set.
void add_route(httplib::Server& http, Service& service, const std::string& method, const std::string& pattern,
               const std::string& route, Access access, Handler handler);

// The agent a request acts as: `given` (the body's or query's agent_id) checked against the API
// key's agent (403 when they differ); without keys `given` is required (400).
std::string acting_agent(const Caller& caller, const std::optional<std::string>& given);

// The request body as a JSON object (400 naming the parse error otherwise).
Json parse_json_body(const httplib::Request& request);
// 400 naming the first field of `body` that is not in `allowed`, and the accepted ones.
void check_fields(const Json& body, std::initializer_list<const char*> allowed, const std::string& where);

void write_json(httplib::Response& response, int status, const Json& body);

void add_memory_routes(httplib::Server& http, Service& service);
void add_embeddings_routes(httplib::Server& http, Service& service);
void add_admin_routes(httplib::Server& http, Service& service);
void add_fine_tune_routes(httplib::Server& http, Service& service);
// After every completed model switch of the store: fine-tune deployment bookkeeping, the
// embedder info and the embedder config file follow the model now serving.
void fine_tune_model_switched(Service& service, const std::string& model);

}  // namespace memembed::server
