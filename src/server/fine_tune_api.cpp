// The fine-tune job API under /admin/memory/fine-tune (fine_tune_jobs.h, docs/serve.md): runs,
// preflight, checkpoints, and deploy / rollback through the store's model switch (ReindexJob).
#include "fine_tune_jobs.h"
#include "service.h"

#include "memembed/model.h"
#include "memembed/select.h"
#include "memembed/tune.h"

#include <fmt/format.h>

#include <fstream>
#include <set>

namespace memembed::server {

namespace {

// The fields of a run request (POST /fine-tune and /preflight); any other is refused.
void check_request_fields(const Json& body, const std::string& where) {
  check_fields(body,
               {"source_dir", "source", "base_model", "output_dir", "epochs", "learning_rate", "temperature", "top_k",
                "batch_size", "validation_split", "max_steps", "seed"},
               where);
}

FineTuneJobs& jobs_of(Service& service) {
  if (!service.fine_tune) {
    throw ApiError(501, "fine_tune_disabled",
                   "fine-tuning is disabled on this server; start memembed serve with --fine-tune-root DIR");
  }
  return *service.fine_tune;
}

// The store's memories (every agent's, expired ones too) as a BEIR corpus for `tune run --docs`.
size_t write_store_corpus(Service& service, const fs::path& path) {
  std::ofstream out = open_for_write(path);
  size_t written = 0;
  std::string after;
  const std::shared_ptr<memory::MemoryStore> store = service.current_store();
  for (;;) {
    const std::vector<memory::MemoryEntry> batch = store->backend().scan(after, 1000);
    if (batch.empty()) break;
    for (const memory::MemoryEntry& entry : batch) {
      out << Json{{"id", entry.id}, {"text", entry.content}}.dump() << '\n';
      ++written;
    }
    after = batch.back().id;
  }
  if (!out.flush()) throw io_error("{}: write failed", path.string());
  return written;
}

uint64_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  uint64_t kib = 0;
  while (in >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return 0;
}

Json check(const std::string& name, const std::string& status, const std::string& message) {
  return {{"name", name}, {"status", status}, {"message", message}};
}

// POST /fine-tune/preflight: what a run with this request would meet, before it starts.
Json preflight(Service& service, FineTuneJobs& jobs, const FineTuneRequest& request) {
  Json checks = Json::array();
  size_t chunks = 0;
  uintmax_t corpus_bytes = 0;
  if (request.source_dir) {
    try {
      const std::vector<tune::Chunk> loaded = tune::load_chunks({*request.source_dir});
      std::set<std::string> documents;
      for (const tune::Chunk& chunk : loaded) {
        documents.insert(chunk.source);
        corpus_bytes += chunk.text.size();
      }
      chunks = loaded.size();
      checks.push_back(check("documents", chunks == 0 ? "fail" : chunks < 50 ? "warn" : "pass",
                             fmt::format("{} documents, {} chunks in {}{}", documents.size(), chunks,
                                         request.source_dir->string(),
                                         chunks == 0       ? ": nothing to train on"
                                         : chunks < 50 ? " (few: the held-out set for the gate will be small)"
                                                       : "")));
    } catch (const Error& e) {
      checks.push_back(check("documents", "fail", e.what()));
    }
  } else {
    chunks = service.use_store()->status().memories;
    checks.push_back(check("documents", chunks == 0 ? "fail" : chunks < 50 ? "warn" : "pass",
                           fmt::format("{} memories in the store", chunks)));
  }

  size_t parameters = 0, dims = 0;
  uintmax_t model_bytes = 0;
  bool static_model = false;
  try {
    const auto model = model::SentenceTransformer::load(request.base_model);
    for (const at::Tensor& tensor : model->parameters()) parameters += static_cast<size_t>(tensor.numel());
    dims = model->embedding_dimension();
    static_model = model->architecture() == "StaticEmbedding";
    for (const auto& entry : fs::recursive_directory_iterator(request.base_model)) {
      if (entry.is_regular_file()) model_bytes += entry.file_size();
    }
    checks.push_back(check("base_model", "pass",
                           fmt::format("{} loads: {}, {} dimensions, {} parameters", request.base_model.string(),
                                       model->architecture(), dims, parameters)));
  } catch (const std::exception& e) {
    checks.push_back(check("base_model", "fail", e.what()));
  }

  // The run writes the training checkpoint (model + two AdamW moments) and the exported model,
  // plus data files a few times the corpus.
  const uintmax_t disk_needed = model_bytes * 4 + corpus_bytes * 8 + (16u << 20);
  const fs::space_info space = fs::space(jobs.settings().root);
  checks.push_back(check("disk_space",
                         space.available < disk_needed       ? "fail"
                         : space.available < 2 * disk_needed ? "warn"
                                                             : "pass",
                         fmt::format("{} MiB free under the fine-tune root, about {} MiB needed",
                                     space.available >> 20, disk_needed >> 20)));

  // Memory: weights, gradients and the two AdamW moments (4 copies of the parameters), the
  // embeddings GradCache keeps for the whole batch (query, positive, negatives; values and
  // gradients), and one mini-batch of activations (transformers; a static table has none).
  const size_t texts_per_query = 2 + request.top_k;
  auto estimate = [&](size_t batch) {
    const uint64_t weights = uint64_t{16} * parameters;
    const uint64_t cache = uint64_t{8} * batch * texts_per_query * dims;
    const uint64_t activations = static_model ? 0 : uint64_t{4} * std::min<size_t>(32, batch) * 256 * dims * 64;
    return weights + cache + activations;
  };
  const uint64_t available = available_memory_bytes();
  // A batch larger than the training pairs only repeats them; keep it within the pairs and within
  // half the available memory.
  const size_t pairs = static_cast<size_t>(static_cast<double>(chunks) * (1.0 - request.validation_split));
  size_t recommended = request.batch_size;
  while (recommended > 8 && (recommended > std::max<size_t>(8, pairs) || estimate(recommended) > available / 2)) {
    recommended /= 2;
  }
  const uint64_t needed = estimate(request.batch_size);
  checks.push_back(check("memory",
                         available == 0 || parameters == 0 ? "warn"
                         : needed > available              ? "fail"
                         : needed > available / 2          ? "warn"
                                                           : "pass",
                         fmt::format("about {} MiB for batch size {} ({} MiB available); recommended batch size {}",
                                     (needed >> 20) + 1, request.batch_size, available >> 20, recommended)));
  bool can_proceed = true;
  for (const Json& item : checks) can_proceed = can_proceed && item["status"] != "fail";
  return {{"checks", checks}, {"recommended_batch_size", recommended}, {"can_proceed", can_proceed}};
}

// Starts the store's model switch to `model` (the reindex job); 409 when one is running.
Json start_switch(Service& service, const std::string& model) {
  switch (service.reindex->start(model, false)) {
    case ReindexJob::Start::Started: break;
    case ReindexJob::Start::AlreadyRunning:
      throw ApiError(409, "conflict", "a reindex is running; GET /admin/memory/reindex for its progress");
    case ReindexJob::Start::RunningElsewhere:
      throw ApiError(409, "conflict", "another memembed process is reindexing this database");
  }
  return service.reindex->status();
}

bool force_of(const httplib::Request& request) {
  if (request.body.empty()) return false;
  const Json body = parse_json_body(request);
  check_fields(body, {"force"}, "the deploy request");
  if (!body.contains("force")) return false;
  if (!body["force"].is_boolean()) throw ApiError(400, "invalid_request", "force must be true or false");
  return body["force"].get<bool>();
}

}  // namespace

void fine_tune_model_switched(Service& service, const std::string& model) {
  if (!service.fine_tune) return;
  const FineTuneJobs::Deployment before = service.fine_tune->deployment();
  const std::optional<std::string> active = service.fine_tune->switched(model);
  Json fine_tune = {{"enabled", false}};
  if (active) {
    const Json checkpoint = service.fine_tune->checkpoint(*active);
    fine_tune = {{"enabled", true},
                 {"checkpoint_id", *active},
                 {"checkpoint_path", checkpoint["model_path"]},
                 {"base_model", checkpoint["base_model"]}};
  }
  {
    std::lock_guard<std::mutex> lock(service.info_mutex);
    service.parts.embedder_info["fine_tune"] = fine_tune;
  }
  // The embedder config the server was started with follows, so a restart serves the same model.
  const fs::path& config = service.parts.config_file;
  if (config.empty() || !before.pending) return;
  if (*before.pending == "rollback") {
    if (fs::exists(config.string() + ".previous")) tune::rollback_deployment(config);
  } else if (active) {
    const Json checkpoint = service.fine_tune->checkpoint(*active);
    tune::deploy_model({config, checkpoint["model_path"].get<std::string>(), checkpoint["base_model"].get<std::string>(),
                        fs::path(checkpoint["model_path"].get<std::string>()).parent_path() / "data"});
  }
  service.log.write("info", "fine_tune_config_updated", {{"config", config.string()}});
}

void add_fine_tune_routes(httplib::Server& http, Service& service) {
  const std::string base = "/admin/memory/fine-tune";
  add_route(http, service, "POST", base, base, Access::Admin,
            [&service](const httplib::Request& request, httplib::Response& response, const Caller&) {
              FineTuneJobs& jobs = jobs_of(service);
              const Json body = parse_json_body(request);
              check_request_fields(body, "the fine-tune request");
              const FineTuneRequest parsed = jobs.parse_request(body);
              const Json status =
                  jobs.start(parsed, [&service](const fs::path& path) { return write_store_corpus(service, path); });
              service.log.write("info", "fine_tune_started", {{"run_id", status["run_id"]}});
              write_json(response, 202, status);
            });
  add_route(http, service, "GET", base + "/status", base + "/status", Access::Admin,
            [&service](const httplib::Request&, httplib::Response& response, const Caller&) {
              write_json(response, 200, jobs_of(service).status());
            });
  add_route(http, service, "POST", base + "/cancel", base + "/cancel", Access::Admin,
            [&service](const httplib::Request&, httplib::Response& response, const Caller&) {
              write_json(response, 202, jobs_of(service).cancel());
            });
  add_route(http, service, "POST", base + R"(/resume/([^/]+))", base + "/resume/{run_id}", Access::Admin,
            [&service](const httplib::Request& request, httplib::Response& response, const Caller&) {
              write_json(response, 202, jobs_of(service).resume(request.matches[1]));
            });
  add_route(http, service, "GET", base + "/runs", base + "/runs", Access::Admin,
            [&service](const httplib::Request&, httplib::Response& response, const Caller&) {
              write_json(response, 200, jobs_of(service).runs());
            });
  add_route(http, service, "GET", base + R"(/runs/([^/]+))", base + "/runs/{run_id}", Access::Admin,
            [&service](const httplib::Request& request, httplib::Response& response, const Caller&) {
              write_json(response, 200, jobs_of(service).status_of(request.matches[1]));
            });
  add_route(http, service, "POST", base + "/preflight", base + "/preflight", Access::Admin,
            [&service](const httplib::Request& request, httplib::Response& response, const Caller&) {
              FineTuneJobs& jobs = jobs_of(service);
              const Json body = parse_json_body(request);
              check_request_fields(body, "the preflight request");
              write_json(response, 200, preflight(service, jobs, jobs.parse_request(body)));
            });
  add_route(http, service, "GET", base + "/checkpoints", base + "/checkpoints", Access::Admin,
            [&service](const httplib::Request&, httplib::Response& response, const Caller&) {
              write_json(response, 200, jobs_of(service).checkpoints());
            });
  add_route(http, service, "POST", base + R"(/checkpoints/([^/]+)/deploy)", base + "/checkpoints/{id}/deploy",
            Access::Admin, [&service](const httplib::Request& request, httplib::Response& response, const Caller&) {
              FineTuneJobs& jobs = jobs_of(service);
              const std::string id = request.matches[1];
              const bool force = force_of(request);
              const Json checkpoint = jobs.checkpoint(id);
              if (checkpoint["is_active"].get<bool>()) {
                throw ApiError(409, "conflict", "checkpoint " + id + " is already deployed");
              }
              if (!checkpoint["gate_passed"].get<bool>() && !force) {
                write_json(response, 409,
                           {{"error",
                             {{"code", "gate_failed"},
                              {"message", "checkpoint " + id + " did not pass the evaluation gate (" +
                                              checkpoint["gate_reason"].get<std::string>() +
                                              "); send {\"force\": true} to deploy it anyway"}}},
                            {"gate_reason", checkpoint["gate_reason"]},
                            {"eval", checkpoint["eval"]}});
                return;
              }
              if (service.reindex->running()) {
                throw ApiError(409, "conflict", "a reindex is running; GET /admin/memory/reindex for its progress");
              }
              const std::string model = checkpoint["model_path"].get<std::string>();
              jobs.deploying(id, model, jobs.settings().serving_model.string());
              const Json reindex = start_switch(service, model);
              service.log.write("info", "fine_tune_deploy", {{"checkpoint_id", id}, {"forced", force}});
              write_json(response, 202, {{"checkpoint_id", id}, {"model_path", model}, {"forced", force},
                                         {"gate_passed", checkpoint["gate_passed"]}, {"reindex", reindex}});
            });
  add_route(http, service, "POST", base + R"(/checkpoints/([^/]+)/rollback)", base + "/checkpoints/{id}/rollback",
            Access::Admin, [&service](const httplib::Request& request, httplib::Response& response, const Caller&) {
              FineTuneJobs& jobs = jobs_of(service);
              const std::string id = request.matches[1];
              jobs.checkpoint(id);  // 404 when unknown
              if (service.reindex->running()) {
                throw ApiError(409, "conflict", "a reindex is running; GET /admin/memory/reindex for its progress");
              }
              jobs.rolling_back(id);
              const std::string model = jobs.deployment().pending_model;
              const Json reindex = start_switch(service, model);
              service.log.write("info", "fine_tune_rollback", {{"checkpoint_id", id}});
              write_json(response, 202, {{"checkpoint_id", id}, {"model_path", model}, {"reindex", reindex}});
            });
  add_route(http, service, "DELETE", base + R"(/checkpoints/([^/]+))", base + "/checkpoints/{id}", Access::Admin,
            [&service](const httplib::Request& request, httplib::Response& response, const Caller&) {
              jobs_of(service).delete_checkpoint(request.matches[1]);
              response.status = 204;
            });
}

}  // namespace memembed::server
