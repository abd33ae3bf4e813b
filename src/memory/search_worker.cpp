#include "search_worker.h"

namespace memembed::memory {

struct SearchWorker::Pending::State {
  std::mutex mutex;
  std::condition_variable done_signal;
  bool done = false;
  std::exception_ptr error;
};

SearchWorker::SearchWorker() : thread_([this] { loop(); }) {}

SearchWorker::~SearchWorker() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

SearchWorker::Pending SearchWorker::start(std::function<void()> task) {
  Pending pending;
  {
    std::lock_guard lock(mutex_);
    if (!busy_ && !stopping_) {
      busy_ = true;
      task_ = std::move(task);
      task_state_ = pending.state_ = std::make_shared<Pending::State>();
    }
  }
  if (pending.state_) wake_.notify_one();
  else pending.inline_task_ = std::move(task);
  return pending;
}

void SearchWorker::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || task_; });
    if (!task_) return;  // stopping, nothing in hand
    std::function<void()> task = std::move(task_);
    task_ = nullptr;
    std::shared_ptr<Pending::State> state = std::move(task_state_);
    lock.unlock();
    std::exception_ptr error;
    try {
      task();
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    busy_ = false;  // before the caller hears of it: once wait() returns, the worker is free
    lock.unlock();
    {
      std::lock_guard done(state->mutex);
      state->done = true;
      state->error = error;
    }
    state->done_signal.notify_all();
    lock.lock();
  }
}

void SearchWorker::Pending::wait() {
  if (inline_task_) {
    std::function<void()> task = std::move(inline_task_);
    inline_task_ = nullptr;
    task();
    return;
  }
  if (!state_) return;
  const std::shared_ptr<State> state = std::move(state_);
  std::unique_lock lock(state->mutex);
  state->done_signal.wait(lock, [&] { return state->done; });
  if (state->error) std::rethrow_exception(state->error);
}

SearchWorker::Pending::~Pending() {
  if (!state_) return;  // waited, or ran inline (or never run: a task not started is dropped)
  std::unique_lock lock(state_->mutex);
  state_->done_signal.wait(lock, [&] { return state_->done; });
}

}  // namespace memembed::memory
