// The admin API under /admin/memory/: what embeds the memories, and switching it (reindex).
#include "service.h"

namespace memembed::server {

void add_admin_routes(httplib::Server& http, Service& service) {
  add_route(http, service, "GET", "/admin/memory/embedder", "/admin/memory/embedder", Access::Admin,
            [&service](const httplib::Request&, httplib::Response& response, const Caller&) {
              Json info;
              {
                std::lock_guard<std::mutex> lock(service.info_mutex);
                info = service.parts.embedder_info;
              }
              const memory::StoreStatus status = service.current_store()->status();
              info["backend"] = status.backend;
              info["fusion"] = status.fusion;
              info["fusion_weight"] = status.fusion_weight;
              Json sets = Json::array();
              for (const memory::VectorSet& set : status.vector_sets) {
                sets.push_back({{"id", set.id}, {"model", set.model.name}, {"fingerprint", set.model.fingerprint},
                                {"dims", set.model.dims}, {"state", memory::to_string(set.state)},
                                {"vectors", set.vectors}});
              }
              info["vector_sets"] = std::move(sets);
              write_json(response, 200, info);
            });

  add_route(http, service, "POST", "/admin/memory/reindex", "/admin/memory/reindex", Access::Admin,
            [&service](const httplib::Request& request, httplib::Response& response, const Caller&) {
              const Json body = parse_json_body(request);
              check_fields(body, {"model", "prune"}, "the reindex request");
              if (!body.contains("model") || !body["model"].is_string() || body["model"].get<std::string>().empty()) {
                throw ApiError(400, "invalid_request", "model is required: a model directory or ORG/NAME");
              }
              if (!service.parts.load_model) {
                throw ApiError(400, "invalid_request", "this server was started without a way to load models");
              }
              bool prune = false;
              if (body.contains("prune")) {
                if (!body["prune"].is_boolean()) throw ApiError(400, "invalid_request", "prune must be true or false");
                prune = body["prune"].get<bool>();
              }
              std::unique_lock<std::mutex> switching(service.model_mutex, std::try_to_lock);
              if (!switching) {
                throw ApiError(409, "conflict", "this process is switching to the model another process chose; retry");
              }
              switch (service.reindex->start(body["model"].get<std::string>(), prune)) {
                case ReindexJob::Start::Started: break;
                case ReindexJob::Start::AlreadyRunning:
                  throw ApiError(409, "conflict", "a reindex is already running; GET /admin/memory/reindex for its progress");
                case ReindexJob::Start::RunningElsewhere:
                  throw ApiError(409, "conflict", "another memembed process is reindexing this database");
              }
              write_json(response, 202, service.reindex->status());
            });

  add_route(http, service, "GET", "/admin/memory/reindex", "/admin/memory/reindex", Access::Admin,
            [&service](const httplib::Request&, httplib::Response& response, const Caller&) {
              write_json(response, 200, service.reindex->status());
            });
}

}  // namespace memembed::server
