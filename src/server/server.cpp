#include "memembed/server.h"

#include "service.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <filesystem>
#include <thread>

namespace memembed::server {

namespace {

// httplib's thread pool with a size we choose: a keep-alive connection holds a worker while open.
class WorkerPool : public httplib::ThreadPool {
 public:
  explicit WorkerPool(size_t threads) : httplib::ThreadPool(threads) {}
};

// The request this thread is handling (set around every route handler) and the socket of its
// connection, once looked up. httplib runs a connection's requests on one worker thread but does
// not hand its socket to handlers: it is found among this process's descriptors by the two ends'
// addresses, once per connection.
thread_local const httplib::Request* t_request = nullptr;
struct ConnectionSocket {
  std::string remote_addr;
  int remote_port = -1;
  int local_port = -1;
  int fd = -1;
};
thread_local ConnectionSocket t_connection;

std::optional<std::pair<std::string, int>> address_of(const sockaddr_storage& address, socklen_t length) {
  char host[NI_MAXHOST], port[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&address), length, host, sizeof host, port, sizeof port,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return std::nullopt;
  }
  return std::make_pair(std::string(host), std::atoi(port));
}

// Whether `fd` is the TCP connection between `request`'s two ends.
bool is_connection_of(int fd, const httplib::Request& request) {
  sockaddr_storage local{}, peer{};
  socklen_t local_length = sizeof local, peer_length = sizeof peer;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_length) != 0 ||
      getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_length) != 0) {
    return false;
  }
  const auto here = address_of(local, local_length);
  const auto there = address_of(peer, peer_length);
  return here && there && here->second == request.local_port && there->second == request.remote_port &&
         there->first == request.remote_addr;
}

// The socket of the request's connection; -1 when it cannot be told.
int connection_socket(const httplib::Request& request) {
  ConnectionSocket& known = t_connection;
  if (known.fd >= 0 && known.remote_port == request.remote_port && known.local_port == request.local_port &&
      known.remote_addr == request.remote_addr) {
    return known.fd;
  }
  known = {request.remote_addr, request.remote_port, request.local_port, -1};
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", error)) {
    const int fd = std::atoi(entry.path().filename().c_str());
    if (is_connection_of(fd, request)) return known.fd = fd;
  }
  return -1;
}

// httplib listens with a backlog of 5; a burst of new connections (many clients starting at once)
// would overflow it and stall. Calling listen() again on the bound socket raises the backlog.
class HttpServer : public httplib::Server {
 public:
  void widen_backlog() { ::listen(svr_sock_, SOMAXCONN); }
};

}  // namespace

bool calling_client_gone() {
  if (t_request == nullptr) return false;
  const int fd = connection_socket(*t_request);
  if (fd < 0) return false;
  // The peer's FIN (or a reset) shows without reading what a keep-alive client may have sent next.
  pollfd connection{fd, POLLRDHUP, 0};
  return ::poll(&connection, 1, 0) > 0 && (connection.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

Service::StoreLease Service::use_store() {
  const auto timeout = options.queue_timeout;
  const auto deadline = timeout.count() > 0 ? ConcurrencyLimit::Clock::now() + timeout
                                            : ConcurrencyLimit::Clock::time_point::max();
  // The slot first, then the store: a model switch while waiting is seen.
  std::optional<ConcurrencyLimit::Slot> slot = store_limit->acquire(deadline, calling_client_gone);
  if (!slot) {
    const bool gone = calling_client_gone();
    metrics.count_shed(gone ? "client_gone" : "queue_timeout");
    if (gone) throw ApiError(503, "client_gone", "the client closed the connection while the request was queued");
    throw ApiError(503, "overloaded",
                   fmt::format("the server is overloaded: the request waited {:.1f} s for one of the {} store "
                               "operations allowed at once (--store-concurrency, --queue-timeout); retry later",
                               std::chrono::duration<double>(timeout).count(), store_limit->limit()),
                   1);
  }
  return StoreLease(std::move(*slot), current_store());
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  in_addr address{};
  if (inet_pton(AF_INET, host.c_str(), &address) == 1) return (ntohl(address.s_addr) >> 24) == 127;
  return false;
}

// ---- Route plumbing ------------------------------------------------------------------------------

void write_json(httplib::Response& response, int status, const Json& body) {
  response.status = status;
  response.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json");
}

Json parse_json_body(const httplib::Request& request) {
  Json body;
  try {
    body = Json::parse(request.body);
  } catch (const Json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    throw ApiError(400, "invalid_json", std::string("the request body is not valid JSON: ") + e.what());
  }
  if (!body.is_object()) throw ApiError(400, "invalid_json", "the request body must be a JSON object");
  return body;
}

void check_fields(const Json& body, std::initializer_list<const char*> allowed, const std::string& where) {
  for (const auto& [field, value] : body.items()) {
    bool known = false;
    for (const char* name : allowed) known = known || field == name;
    if (!known) {
      std::string names;
      for (const char* name : allowed) names += std::string(names.empty() ? "" : ", ") + name;
      throw ApiError(400, "unknown_field", "unknown field \"" + field + "\" in " + where + " (accepted: " + names + ")");
    }
  }
}

std::string acting_agent(const Caller& caller, const std::optional<std::string>& given) {
  if (caller.agent_id) {
    if (given && *given != *caller.agent_id) {
      throw ApiError(403, "forbidden", "this API key acts for agent \"" + *caller.agent_id + "\", not \"" + *given + "\"");
    }
    return *caller.agent_id;
  }
  if (!given || given->empty()) throw ApiError(400, "invalid_request", "agent_id is required");
  return *given;
}

void add_route(httplib::Server& http, Service& service, const std::string& method, const std::string& pattern,
               const std::string& route, Access access, Handler handler) {
  auto wrapped = [&service, method, route, access, handler](const httplib::Request& request,
                                                             httplib::Response& response) {
    const auto started = std::chrono::steady_clock::now();
    t_request = &request;
    struct Forget {
      ~Forget() { t_request = nullptr; }
    } forget;
    Caller caller;
    std::string error_message;
    try {
      if (access == Access::Admin) {
        if (!service.admin_token) throw ApiError(404, "not_found", "the admin API is disabled (no --admin-token-file)");
        const auto token = bearer_token(request.get_header_value("Authorization"));
        if (!token || !service.admin_token->matches(*token)) {
          response.set_header("WWW-Authenticate", "Bearer");
          throw ApiError(401, "unauthorized", "the admin API needs Authorization: Bearer <admin token>");
        }
      }
      if (access == Access::Agent && service.api_keys) {
        const auto token = bearer_token(request.get_header_value("Authorization"));
        if (!token) {
          response.set_header("WWW-Authenticate", "Bearer");
          throw ApiError(401, "unauthorized", "this server needs Authorization: Bearer <API key>");
        }
        caller.agent_id = service.api_keys->agent_for(*token);
        if (!caller.agent_id) {
          response.set_header("WWW-Authenticate", "Bearer");
          throw ApiError(401, "unauthorized", "the API key is not valid");
        }
      }
      if (access != Access::Open && !service.ready) {
        response.set_header("Retry-After", "1");
        throw ApiError(503, "starting", service.stopping ? "the server is stopping" : "the server is starting");
      }
      if (access == Access::Agent) {
        if (const auto unavailable = std::atomic_load(&service.unavailable)) {
          response.set_header("Retry-After", "1");
          throw *unavailable;
        }
      }
      handler(request, response, caller);
    } catch (const ApiError& e) {
      if (e.retry_after() > 0) response.set_header("Retry-After", std::to_string(e.retry_after()));
      write_error(response, e.status(), e.code(), e.what());
      error_message = e.what();
    } catch (const Error& e) {
      const int status = status_for(e.kind());
      write_error(response, status, code_for_status(status), e.what());
      error_message = e.what();
    } catch (const Json::exception& e) {
      write_error(response, 400, "invalid_request", e.what());
      error_message = e.what();
    } catch (const std::exception& e) {
      write_error(response, 500, "internal_error", e.what());
      error_message = e.what();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    service.metrics.observe_request(route, method, response.status, seconds);
    if (route == "/health" || route == "/ready" || route == "/metrics") return;  // probes: metrics only
    Json fields = {{"method", method},          {"route", route},
                   {"status", response.status}, {"duration_ms", std::round(seconds * 1e5) / 100},
                   {"bytes_in", request.body.size()}, {"bytes_out", response.body.size()},
                   {"remote", request.remote_addr}};
    if (caller.agent_id) fields["agent_id"] = *caller.agent_id;
    // Library errors can quote input; the log keeps only the status class for client errors.
    if (response.status >= 500) fields["error"] = error_message;
    service.log.write(response.status >= 500 ? "error" : "info", "request", std::move(fields));
  };
  if (method == "GET") http.Get(pattern, wrapped);
  else if (method == "POST") http.Post(pattern, wrapped);
  else if (method == "PATCH") http.Patch(pattern, wrapped);
  else if (method == "DELETE") http.Delete(pattern, wrapped);
  else MEMEMBED_ASSERT(false && "unsupported method");
}

// ---- Operations routes ---------------------------------------------------------------------------

namespace {

std::vector<Gauge> scrape_gauges(Service& service) {
  std::vector<Gauge> gauges;
  gauges.push_back({"memembed_ready", "1 once the store and model are loaded.", service.ready ? 1.0 : 0.0, ""});
  if (!service.ready) return gauges;
  const memory::StoreStatus status = service.current_store()->status();
  gauges.push_back({"memembed_memories", "Memories in the store (all agents, expired included).",
                    static_cast<double>(status.memories), ""});
  for (const memory::VectorSet& set : status.vector_sets) {
    gauges.push_back({"memembed_vector_set_vectors", "Vectors in each vector set.", static_cast<double>(set.vectors),
                      "model=\"" + escape_label(set.model.name) + "\",state=\"" + memory::to_string(set.state) + "\""});
  }
  const auto embedder = std::atomic_load(&service.embedder);
  gauges.push_back({"memembed_store_waiting", "Requests queued for a store operation slot (--store-concurrency).",
                    static_cast<double>(service.store_limit->waiting()), ""});
  gauges.push_back({"memembed_encoder_queued_texts", "Texts waiting for the encoder.",
                    embedder ? static_cast<double>(embedder->queued_texts()) : 0.0, ""});
  gauges.push_back({"memembed_reindex_running", "1 while a reindex runs.", service.reindex->running() ? 1.0 : 0.0, ""});
  gauges.push_back({"memembed_reindex_done", "Memories embedded by the current or last reindex.",
                    static_cast<double>(service.reindex->done()), ""});
  gauges.push_back({"memembed_reindex_total", "Memories the current or last reindex covers.",
                    static_cast<double>(service.reindex->total()), ""});
  return gauges;
}

void add_operations_routes(httplib::Server& http, Service& service) {
  add_route(http, service, "GET", "/health", "/health", Access::Open,
            [](const httplib::Request&, httplib::Response& response, const Caller&) {
              write_json(response, 200, {{"status", "ok"}});
            });
  add_route(http, service, "GET", "/ready", "/ready", Access::Open,
            [&service](const httplib::Request&, httplib::Response& response, const Caller&) {
              if (service.stopping) return write_json(response, 503, {{"status", "stopping"}});
              if (!service.ready) return write_json(response, 503, {{"status", "starting"}});
              if (const auto unavailable = std::atomic_load(&service.unavailable)) {
                return write_json(response, 503, {{"status", unavailable->code()}, {"error", unavailable->what()}});
              }
              write_json(response, 200, {{"status", "ready"}});
            });
  add_route(http, service, "GET", "/metrics", "/metrics", Access::Open,
            [&service](const httplib::Request&, httplib::Response& response, const Caller&) {
              response.set_content(service.metrics.render(scrape_gauges(service)), "text/plain; version=0.0.4");
            });
}

}  // namespace

// ---- Server --------------------------------------------------------------------------------------

struct Server::Impl {
  Service service;
  ServiceLoader loader;
  HttpServer http;
  std::thread listener;
  std::thread loading;
  std::exception_ptr load_failure;
  std::mutex stop_mutex;
  bool started = false;
  bool stopped = false;

  void load() {
    try {
      ServiceParts parts = loader();
      if (parts.embedder) {
        service.embedder =
            std::make_shared<BatchingEmbedder>(parts.embedder, service.options.max_batch_texts, service.metrics);
      }
      parts.store_options.embedder = service.embedder;
      service.store = std::make_shared<memory::MemoryStore>(parts.open_backend(), parts.store_options);
      service.parts = std::move(parts);
      service.reindex = std::make_unique<ReindexJob>(
          [this] { return service.current_store(); },
          [this](const std::string& model) -> std::shared_ptr<const memory::Embedder> {
            if (!service.parts.load_model) throw ApiError(400, "invalid_request", "this server cannot load models");
            auto loaded = std::make_shared<BatchingEmbedder>(service.parts.load_model(model),
                                                             service.options.max_batch_texts, service.metrics);
            // Other processes on the database load the new model from where this one found it.
            service.current_store()->backend().set_setting(model_source_setting(loaded->identity().fingerprint), model);
            return loaded;
          },
          [this](std::shared_ptr<const memory::Embedder> model) {
            use_model(service, std::const_pointer_cast<BatchingEmbedder>(
                                   std::dynamic_pointer_cast<const BatchingEmbedder>(std::move(model))));
            fine_tune_model_switched(service, service.reindex->status().value("model", ""));
          },
          service.parts.lock_reindex);
      service.follower = std::make_unique<ModelFollower>(service);
      if (service.fine_tune) service.fine_tune->set_serving_model(service.parts.serving_model);
      service.ready = true;
      Json fields = {{"backend", service.current_store()->backend().describe()}};
      if (service.embedder) fields["model"] = service.embedder->identity().name;
      service.log.write("info", "ready", std::move(fields));
    } catch (...) {
      load_failure = std::current_exception();
      std::string message = "unknown error";
      try {
        throw;
      } catch (const std::exception& e) {
        message = e.what();
      }
      service.log.write("error", "start_failed", {{"error", message}});
      request_stop();
    }
  }

  void request_stop() {
    std::lock_guard<std::mutex> lock(stop_mutex);
    if (stopped) return;
    stopped = true;
    service.stopping = true;
    service.ready = false;
    service.log.write("info", "stopping", {{"reason", load_failure ? "start failed" : "stop requested"}});
    http.stop();
  }
};

Server::Server(ServeOptions options, ServiceLoader loader) : impl_(std::make_unique<Impl>()) {
  Service& service = impl_->service;
  service.options = std::move(options);
  impl_->loader = std::move(loader);
  if (!service.options.api_keys_file.empty()) service.api_keys = ApiKeys::load(service.options.api_keys_file);
  if (!service.options.admin_token_file.empty()) {
    service.admin_token = AdminToken::load(service.options.admin_token_file);
  }
  if (!service.api_keys && !is_loopback_host(service.options.host)) {
    throw invalid_input(
        "--host {} is not a loopback address: without --api-keys-file any caller could act as any agent; "
        "give --api-keys-file (lines \"agent_id key\") or listen on 127.0.0.1",
        service.options.host);
  }
  if (service.options.http_threads < 2) throw invalid_input("--http-threads must be at least 2");
  // 16: PostgreSQL's pool size, whose queries run in the database's processes (fewer left a 100k
  // database's searches queued behind an idle pool); SQLite readers stay bounded either way.
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  service.store_limit = std::make_unique<ConcurrencyLimit>(
      service.options.store_concurrency > 0 ? service.options.store_concurrency : std::max<size_t>(16, 2 * cores));
  if (!service.options.fine_tune_root.empty()) {
    service.fine_tune = std::make_unique<FineTuneJobs>(
        FineTuneSettings{service.options.fine_tune_root, service.options.fine_tune_threads, {}, {}});
  }

  httplib::Server& http = impl_->http;
  const size_t threads = service.options.http_threads;
  http.new_task_queue = [threads] { return new WorkerPool(threads); };
  http.set_payload_max_length(service.options.max_body_bytes);
  http.set_keep_alive_max_count(100000);
  http.set_keep_alive_timeout(5);
  http.set_read_timeout(30, 0);
  http.set_write_timeout(30, 0);
  http.set_tcp_nodelay(true);
  // A request with neither Content-Length nor Transfer-Encoding has an empty body (RFC 9112 6.3),
  // as `curl -X POST URL` sends it; cpp-httplib 0.11 instead fails to read a body for POST and
  // DELETE (400). Saying so before it reads makes the bodyless admin calls work.
  http.set_pre_routing_handler([](const httplib::Request& request, httplib::Response&) {
    if (!request.has_header("Content-Length") && !request.has_header("Transfer-Encoding")) {
      const_cast<httplib::Request&>(request).headers.emplace("Content-Length", "0");  // httplib's own, non-const object
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Unrouted paths and bodies over the limit reach here without a body: answer JSON like the rest.
  http.set_error_handler(httplib::Server::HandlerWithResponse([&service](const httplib::Request& request,
                                                                         httplib::Response& response) {
    if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const size_t limit = service.options.max_body_bytes;
    if (response.status == 413) {
      write_error(response, 413, "payload_too_large",
                  "the request body is larger than the limit of " + std::to_string(limit) + " bytes");
    } else if (response.status == 404) {
      write_error(response, 404, "not_found", "no route " + request.method + " " + request.path);
    } else {
      write_error(response, response.status, code_for_status(response.status), "the request could not be read");
    }
    service.metrics.observe_request("(unmatched)", request.method, response.status, 0);
    service.log.write("info", "request",
                      {{"method", request.method}, {"route", "(unmatched)"}, {"status", response.status},
                       {"remote", request.remote_addr}});
    return httplib::Server::HandlerResponse::Handled;
  }));

  add_operations_routes(http, service);
  add_memory_routes(http, service);
  add_embeddings_routes(http, service);
  add_admin_routes(http, service);
  add_fine_tune_routes(http, service);
}

Server::~Server() {
  stop();
  if (impl_->listener.joinable()) impl_->listener.join();
  if (impl_->loading.joinable()) impl_->loading.join();
}

int Server::start() {
  Service& service = impl_->service;
  const auto& options = service.options;
  int port = options.port;
  if (port == 0) {
    port = impl_->http.bind_to_any_port(options.host);
    if (port < 0) throw io_error("cannot listen on {}: no free port", options.host);
  } else if (!impl_->http.bind_to_port(options.host, port)) {
    throw io_error("cannot listen on {}:{} (in use, or not an address of this machine)", options.host, port);
  }
  impl_->http.widen_backlog();
  impl_->started = true;
  impl_->listener = std::thread([this] { impl_->http.listen_after_bind(); });
  // stop() is a no-op until the listener runs; wait for it so an early stop is never lost.
  while (!impl_->http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  Json fields = {{"host", options.host}, {"port", port}, {"api_keys", service.api_keys.has_value()},
                 {"admin_api", service.admin_token.has_value()}};
  service.log.write("info", "listening", fields);
  if (!service.api_keys) {
    service.log.write("warning", "no_api_keys",
                      {{"message", "no --api-keys-file: listening on loopback only; any local process can act as "
                                   "any agent"}});
  }
  impl_->loading = std::thread([this] { impl_->load(); });
  return port;
}

void Server::wait() {
  if (impl_->listener.joinable()) impl_->listener.join();  // returns once stopped and drained
  if (impl_->loading.joinable()) impl_->loading.join();
  Service& service = impl_->service;
  // Requests have finished: stop the training process (it checkpoints), following other
  // processes, the reindex, the encoder and close the store, in that order.
  service.fine_tune.reset();
  service.follower.reset();
  service.reindex.reset();
  service.store.reset();
  service.embedder.reset();
  service.log.write("info", "stopped");
  if (impl_->load_failure) std::rethrow_exception(impl_->load_failure);
}

void Server::stop() {
  if (!impl_->started) return;
  impl_->request_stop();
}

}  // namespace memembed::server
