// POST /admin/memory/reindex: the store's model switch (MemoryStore::reindex) as a background job,
// one at a time, with the progress GET /admin/memory/reindex and /metrics report.
#pragma once

#include "memembed/json_io.h"
#include "memembed/memory.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace memembed::server {

class ReindexJob {
 public:
  using ModelLoader = std::function<std::shared_ptr<const memory::Embedder>(const std::string& model)>;
  // Called with the new model once the store has switched to it.
  using OnSwitch = std::function<void(std::shared_ptr<const memory::Embedder>)>;
  // Takes the database-wide reindex lock (null: another process holds it); empty: none needed.
  using Lock = std::function<std::shared_ptr<void>()>;

  // The store the job works on (the service's current one when it starts).
  using StoreSource = std::function<std::shared_ptr<memory::MemoryStore>()>;

  ReindexJob(StoreSource store, ModelLoader load_model, OnSwitch on_switch, Lock lock);
  ~ReindexJob();  // interrupts a running job (it resumes on the next start) and waits for it

  enum class Start { Started, AlreadyRunning, RunningElsewhere };
  // Starts switching to `model` unless a job runs here or (shared database) in another process.
  Start start(const std::string& model, bool prune);
  // {"state": idle|loading_model|embedding|completed|interrupted|failed, "model", "done", "total",
  //  "rate_per_second", "eta_seconds", "started_at", "finished_at", "error", "switched"}
  Json status() const;
  bool running() const { return running_; }
  size_t done() const { return done_; }
  size_t total() const { return total_; }

 private:
  void run(std::string model, bool prune, std::shared_ptr<void> held);

  StoreSource store_;
  ModelLoader load_model_;
  OnSwitch on_switch_;
  Lock lock_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{false};
  std::atomic<size_t> done_{0};
  std::atomic<size_t> total_{0};
  mutable std::mutex mutex_;
  std::string state_ = "idle";
  std::string model_;
  std::string error_;
  bool switched_ = false;
  std::optional<memory::Timestamp> started_at_, finished_at_;
  std::chrono::steady_clock::time_point started_clock_;
  size_t done_at_start_ = 0;
  std::thread thread_;
};

}  // namespace memembed::server
