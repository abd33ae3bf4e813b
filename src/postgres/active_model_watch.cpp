// watch_active_model: one connection that LISTENs for vector set switches (postgres_backend.cpp
// notifies kVectorSetsChannel in the switching transaction) and re-reads the active set's model.
#include "pg_connection.h"
#include "vector_sets_channel.h"

#include "memembed/postgres.h"

#include <poll.h>

#include <atomic>
#include <thread>

namespace memembed::postgres {

namespace {

using ActiveModel = std::optional<memory::ModelIdentity>;

ActiveModel read_active_model(PgConnection& conn) {
  const PgResult r = conn.run("SELECT model_name, fingerprint, dims FROM memembed_vector_sets WHERE state = 'active'");
  if (r.rows() == 0) return std::nullopt;
  return memory::ModelIdentity{r.text(0, 0), r.text(0, 1), static_cast<size_t>(r.integer(0, 2))};
}

// Waits up to `timeout` for a notification on `conn`; true when at least one arrived.
bool wait_for_notification(PgConnection& conn, std::chrono::milliseconds timeout) {
  PGconn* handle = conn.handle();
  bool notified = false;
  auto drain = [&] {
    while (PGnotify* notification = PQnotifies(handle)) {
      PQfreemem(notification);
      notified = true;
    }
  };
  drain();  // some may have come in with the last statement's result
  if (notified) return true;
  pollfd socket{PQsocket(handle), POLLIN, 0};
  if (::poll(&socket, 1, static_cast<int>(timeout.count())) > 0) {
    if (PQconsumeInput(handle) == 0) {
      throw make_error(ErrorKind::Network, "PostgreSQL: the watch connection was lost: {}", PQerrorMessage(handle));
    }
    drain();
  }
  return notified;
}

class ActiveModelWatch {
 public:
  ActiveModelWatch(std::string url, std::function<void(const ActiveModel&)> on_change, std::chrono::milliseconds recheck)
      : url_(std::move(url)), on_change_(std::move(on_change)), recheck_(recheck), thread_([this] { run(); }) {}
  ~ActiveModelWatch() {
    stop_ = true;
    thread_.join();
  }

 private:
  static constexpr std::chrono::milliseconds kStep{100};  // how often the thread looks at stop_

  void run() {
    std::optional<ActiveModel> reported;
    std::unique_ptr<PgConnection> conn;
    auto next_read = std::chrono::steady_clock::now();
    while (!stop_) {
      try {
        if (!conn || !conn->healthy()) {
          conn = std::make_unique<PgConnection>(url_);
          conn->run(std::string("LISTEN ") + kVectorSetsChannel);
          next_read = std::chrono::steady_clock::now();  // a switch may have been missed meanwhile
        }
        if (std::chrono::steady_clock::now() >= next_read) {
          ActiveModel active = read_active_model(*conn);
          next_read = std::chrono::steady_clock::now() + recheck_;
          if (!reported || !(*reported == active)) {
            reported = active;
            on_change_(active);
          }
        }
        if (wait_for_notification(*conn, kStep)) next_read = std::chrono::steady_clock::now();
      } catch (const std::exception&) {
        // The database is away (restart, network): retry after a pause; the re-read on reconnect
        // catches any switch made meanwhile.
        conn.reset();
        for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(kStep);
      }
    }
  }

  std::string url_;
  std::function<void(const ActiveModel&)> on_change_;
  std::chrono::milliseconds recheck_;
  std::atomic<bool> stop_{false};
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace

std::shared_ptr<void> watch_active_model(const std::string& url, std::function<void(const ActiveModel&)> on_change,
                                         std::chrono::milliseconds recheck) {
  return std::make_shared<ActiveModelWatch>(url, std::move(on_change), recheck);
}

}  // namespace memembed::postgres
