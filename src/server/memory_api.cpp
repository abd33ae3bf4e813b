// The memory store's operations over HTTP: /memories and /shared.
#include "service.h"

namespace memembed::server {

namespace {

using memory::Category;

std::optional<std::string> optional_text(const Json& body, const char* field) {
  if (!body.contains(field) || body[field].is_null()) return std::nullopt;
  if (!body[field].is_string()) throw ApiError(400, "invalid_request", std::string(field) + " must be a string");
  return body[field].get<std::string>();
}

std::string required_text(const Json& body, const char* field) {
  auto value = optional_text(body, field);
  if (!value) throw ApiError(400, "invalid_request", std::string(field) + " is required");
  return *value;
}

std::vector<std::string> text_list(const Json& body, const char* field) {
  std::vector<std::string> values;
  if (!body.contains(field) || body[field].is_null()) return values;
  if (!body[field].is_array()) throw ApiError(400, "invalid_request", std::string(field) + " must be an array of strings");
  for (const Json& item : body[field]) {
    if (!item.is_string()) throw ApiError(400, "invalid_request", std::string(field) + " must be an array of strings");
    values.push_back(item.get<std::string>());
  }
  return values;
}

std::optional<memory::Timestamp> optional_time(const Json& body, const char* field) {
  const auto text = optional_text(body, field);
  if (!text) return std::nullopt;
  return memory::parse_timestamp(*text, field);
}

// A query's fields (shared by /memories/search and /shared/search).
memory::Query parse_query(const Json& body) {
  memory::Query query;
  query.text = optional_text(body, "text");
  for (const std::string& name : text_list(body, "categories")) {
    query.categories.push_back(memory::parse_category(name, "categories"));
  }
  query.namespaces = text_list(body, "namespaces");
  query.tags = text_list(body, "tags");
  query.since = optional_time(body, "since");
  query.until = optional_time(body, "until");
  if (body.contains("min_relevance") && !body["min_relevance"].is_null()) {
    if (!body["min_relevance"].is_number()) throw ApiError(400, "invalid_request", "min_relevance must be a number");
    query.min_relevance = body["min_relevance"].get<double>();
  }
  if (body.contains("limit") && !body["limit"].is_null()) {
    if (!body["limit"].is_number_integer()) throw ApiError(400, "invalid_request", "limit must be an integer");
    const auto limit = body["limit"].get<int64_t>();
    if (limit < 1) throw ApiError(400, "invalid_request", "limit must be between 1 and 1000, got " + std::to_string(limit));
    query.limit = static_cast<size_t>(limit);
  }
  return query;
}

Json results_json(const std::vector<memory::MemoryEntry>& entries) {
  Json results = Json::array();
  for (const auto& entry : entries) {
    Json result = memory::to_json(entry);
    result["score"] = entry.relevance_score;
    results.push_back(std::move(result));
  }
  return {{"results", results}};
}

std::optional<std::string> query_param(const httplib::Request& request, const char* name) {
  if (!request.has_param(name)) return std::nullopt;
  return request.get_param_value(name);
}

}  // namespace

void add_memory_routes(httplib::Server& http, Service& service) {
  const std::string id = R"(([A-Za-z0-9_.:-]{1,256}))";

  add_route(http, service, "POST", "/memories", "/memories", Access::Agent,
            [&service](const httplib::Request& request, httplib::Response& response, const Caller& caller) {
              const Json body = parse_json_body(request);
              check_fields(body, {"agent_id", "category", "content", "namespace", "metadata", "expires_at"},
                           "the memory");
              const std::string agent = acting_agent(caller, optional_text(body, "agent_id"));
              memory::StoreRequest store;
              store.category = memory::parse_category(required_text(body, "category"));
              store.content = required_text(body, "content");
              if (auto ns = optional_text(body, "namespace")) store.namespace_ = *ns;
              if (body.contains("metadata") && !body["metadata"].is_null()) store.metadata = memory::metadata_from_json(body["metadata"], "request body");
              store.expires_at = optional_time(body, "expires_at");
              const std::string memory_id = service.use_store()->store(agent, store);
              response.set_header("Location", "/memories/" + memory_id);
              write_json(response, 201, {{"id", memory_id}});
            });

  add_route(http, service, "POST", "/memories/search", "/memories/search", Access::Agent,
            [&service](const httplib::Request& request, httplib::Response& response, const Caller& caller) {
              const Json body = parse_json_body(request);
              check_fields(body, {"agent_id", "text", "categories", "namespaces", "tags", "since", "until",
                                  "min_relevance", "limit"},
                           "the search");
              const std::string agent = acting_agent(caller, optional_text(body, "agent_id"));
              write_json(response, 200, results_json(service.use_store()->retrieve(agent, parse_query(body))));
            });

  add_route(http, service, "GET", "/memories/count", "/memories/count", Access::Agent,
            [&service](const httplib::Request& request, httplib::Response& response, const Caller& caller) {
              const std::string agent = acting_agent(caller, query_param(request, "agent_id"));
              std::optional<Category> category;
              if (auto name = query_param(request, "category"); name && !name->empty()) {
                category = memory::parse_category(*name);
              }
              Json body = {{"agent_id", agent}, {"count", service.use_store()->count(agent, category)}};
              if (category) body["category"] = memory::to_string(*category);
              write_json(response, 200, body);
            });

  add_route(http, service, "GET", "/memories/" + id, "/memories/{id}", Access::Agent,
            [&service](const httplib::Request& request, httplib::Response& response, const Caller& caller) {
              const std::string agent = acting_agent(caller, query_param(request, "agent_id"));
              write_json(response, 200, memory::to_json(service.use_store()->get(agent, request.matches[1])));
            });

  add_route(http, service, "PATCH", "/memories/" + id, "/memories/{id}", Access::Agent,
            [&service](const httplib::Request& request, httplib::Response& response, const Caller& caller) {
              const Json body = parse_json_body(request);
              check_fields(body, {"agent_id", "content", "metadata", "expires_at"}, "the update");
              const std::string agent = acting_agent(caller, optional_text(body, "agent_id"));
              memory::UpdateRequest update;
              update.content = optional_text(body, "content");
              if (body.contains("metadata")) update.metadata = memory::metadata_from_json(body["metadata"], "request body");
              if (body.contains("expires_at")) {
                if (body["expires_at"].is_null()) update.clear_expiry = true;
                else update.expires_at = optional_time(body, "expires_at");
              }
              if (!update.content && !update.metadata && !update.expires_at && !update.clear_expiry) {
                throw ApiError(400, "invalid_request", "nothing to update: give content, metadata or expires_at");
              }
              write_json(response, 200, memory::to_json(service.use_store()->update(agent, request.matches[1], update)));
            });

  add_route(http, service, "DELETE", "/memories/" + id, "/memories/{id}", Access::Agent,
            [&service](const httplib::Request& request, httplib::Response& response, const Caller& caller) {
              const std::string agent = acting_agent(caller, query_param(request, "agent_id"));
              service.use_store()->remove(agent, request.matches[1]);
              response.status = 204;
            });

  add_route(http, service, "POST", "/shared/publish", "/shared/publish", Access::Agent,
            [&service](const httplib::Request& request, httplib::Response& response, const Caller& caller) {
              const Json body = parse_json_body(request);
              check_fields(body, {"agent_id", "memory_id"}, "the publish request");
              const std::string agent = acting_agent(caller, optional_text(body, "agent_id"));
              const std::string memory_id = required_text(body, "memory_id");
              service.use_store()->publish(agent, memory_id);
              write_json(response, 200, {{"id", memory_id}, {"shared", true}});
            });

  add_route(http, service, "POST", "/shared/search", "/shared/search", Access::Agent,
            [&service](const httplib::Request& request, httplib::Response& response, const Caller& caller) {
              const Json body = parse_json_body(request);
              check_fields(body, {"agent_id", "text", "categories", "namespaces", "tags", "since", "until",
                                  "min_relevance", "limit", "exclude_agent"},
                           "the shared search");
              // Shared knowledge is readable by every agent; an agent_id given must still be the caller's.
              if (caller.agent_id || body.contains("agent_id")) acting_agent(caller, optional_text(body, "agent_id"));
              write_json(response, 200,
                         results_json(service.use_store()->search_shared(parse_query(body), optional_text(body, "exclude_agent"))));
            });

  add_route(http, service, "DELETE", "/shared/" + id, "/shared/{id}", Access::Agent,
            [&service](const httplib::Request& request, httplib::Response& response, const Caller& caller) {
              const std::string agent = acting_agent(caller, query_param(request, "agent_id"));
              service.use_store()->retract(agent, request.matches[1]);
              response.status = 204;
            });
}

}  // namespace memembed::server
