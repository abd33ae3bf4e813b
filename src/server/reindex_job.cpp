#include "reindex_job.h"

#include <cmath>

namespace memembed::server {

ReindexJob::ReindexJob(StoreSource store, ModelLoader load_model, OnSwitch on_switch, Lock lock)
    : store_(store), load_model_(std::move(load_model)), on_switch_(std::move(on_switch)), lock_(std::move(lock)) {}

ReindexJob::~ReindexJob() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

ReindexJob::Start ReindexJob::start(const std::string& model, bool prune) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (running_) return Start::AlreadyRunning;
  std::shared_ptr<void> held;
  if (lock_) {
    held = lock_();
    if (!held) return Start::RunningElsewhere;
  }
  if (thread_.joinable()) thread_.join();  // the previous job has finished
  running_ = true;
  stop_ = false;
  done_ = 0;
  total_ = 0;
  state_ = "loading_model";
  model_ = model;
  error_.clear();
  switched_ = false;
  started_at_ = memory::now_micros();
  finished_at_.reset();
  started_clock_ = std::chrono::steady_clock::now();
  done_at_start_ = 0;
  thread_ = std::thread([this, model, prune, held] { run(model, prune, held); });
  return Start::Started;
}

void ReindexJob::run(std::string model, bool prune, std::shared_ptr<void> held) {
  std::string state;
  try {
    std::shared_ptr<const memory::Embedder> target = load_model_(model);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      state_ = "embedding";
      started_clock_ = std::chrono::steady_clock::now();
    }
    memory::ReindexOptions options;
    options.prune = prune;
    options.stop = &stop_;
    bool first = true;
    options.on_progress = [&](size_t done, size_t total) {
      if (first) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_at_start_ = done;  // a resumed reindex starts part-way
        first = false;
      }
      done_ = done;
      total_ = total;
    };
    const memory::ReindexResult result = store_()->reindex(target, options);
    total_ = result.total;
    if (result.switched) {
      done_ = result.total;
      on_switch_(target);
    }
    std::lock_guard<std::mutex> lock(mutex_);
    switched_ = result.switched;
    state = result.interrupted ? "interrupted" : "completed";
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = e.what();
    state = "failed";
  }
  held.reset();  // another process may reindex now
  std::lock_guard<std::mutex> lock(mutex_);
  state_ = state;
  finished_at_ = memory::now_micros();
  running_ = false;
}

Json ReindexJob::status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  Json out = {{"state", state_}, {"done", done_.load()}, {"total", total_.load()}, {"switched", switched_}};
  if (!model_.empty()) out["model"] = model_;
  if (started_at_) out["started_at"] = memory::format_timestamp(*started_at_);
  if (finished_at_) out["finished_at"] = memory::format_timestamp(*finished_at_);
  if (!error_.empty()) out["error"] = error_;
  if (state_ == "embedding") {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_clock_).count();
    const size_t done_here = done_ > done_at_start_ ? done_ - done_at_start_ : 0;
    const double rate = seconds > 0 ? static_cast<double>(done_here) / seconds : 0;
    out["rate_per_second"] = rate;
    if (rate > 0 && total_ >= done_) out["eta_seconds"] = std::ceil(static_cast<double>(total_ - done_) / rate);
  }
  return out;
}

}  // namespace memembed::server
