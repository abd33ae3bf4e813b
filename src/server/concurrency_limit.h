// At most `limit` store operations run at once; later ones wait their turn, first come first
// served. With far more concurrent requests than cores (200 keep-alive clients on 2 cores), running
// them all at once only adds switching and memory (each concurrent SQLite reader holds its own
// connection and page cache); queueing gives the same throughput with bounded memory and a latency
// that is the queue's, visible in /metrics (memembed_store_waiting).
//
// Load shedding: a waiter gives up its turn when its deadline passes or when `abandoned` says its
// client has gone (checked every kAbandonCheck while it waits), so an overloaded server does not
// spend its capacity on answers nobody will read.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>

namespace memembed::server {

class ConcurrencyLimit {
 public:
  explicit ConcurrencyLimit(size_t limit);

  // Holds one of the `limit` places until destroyed.
  class Slot {
   public:
    explicit Slot(ConcurrencyLimit& owner) : owner_(&owner) {}
    Slot(Slot&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    Slot& operator=(Slot&&) = delete;
    ~Slot() {
      if (owner_) owner_->release();
    }

   private:
    ConcurrencyLimit* owner_;
  };

  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kAbandonCheck{100};

  Slot acquire();  // blocks while `limit` slots are held
  // As acquire(), but nullopt once `deadline` passes or `abandoned()` returns true while waiting.
  std::optional<Slot> acquire(Clock::time_point deadline, const std::function<bool()>& abandoned);
  size_t waiting() const;
  size_t limit() const { return limit_; }

 private:
  struct Waiter {
    std::condition_variable admitted_signal;
    bool admitted = false;
  };
  void release();

  const size_t limit_;
  mutable std::mutex mutex_;
  size_t active_ = 0;
  std::deque<Waiter*> waiting_;
};

}  // namespace memembed::server
