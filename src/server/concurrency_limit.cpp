#include "concurrency_limit.h"

#include <algorithm>

namespace memembed::server {

ConcurrencyLimit::ConcurrencyLimit(size_t limit) : limit_(std::max<size_t>(1, limit)) {}

ConcurrencyLimit::Slot ConcurrencyLimit::acquire() {
  return *acquire(Clock::time_point::max(), [] { return false; });
}

std::optional<ConcurrencyLimit::Slot> ConcurrencyLimit::acquire(Clock::time_point deadline,
                                                                const std::function<bool()>& abandoned) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (active_ < limit_ && waiting_.empty()) {
    ++active_;
    return Slot(*this);
  }
  Waiter waiter;
  waiting_.push_back(&waiter);
  for (;;) {
    const auto now = Clock::now();
    const auto until = deadline - now > kAbandonCheck ? now + kAbandonCheck : deadline;
    if (waiter.admitted_signal.wait_until(lock, until, [&] { return waiter.admitted; })) {
      return Slot(*this);  // the releasing request handed its place over
    }
    lock.unlock();
    const bool gone = abandoned();  // outside the lock: it may look at a socket
    lock.lock();
    if (waiter.admitted) return Slot(*this);
    if (gone || Clock::now() >= deadline) {
      waiting_.erase(std::find(waiting_.begin(), waiting_.end(), &waiter));
      return std::nullopt;
    }
  }
}

void ConcurrencyLimit::release() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (waiting_.empty()) {
    --active_;
    return;
  }
  Waiter* next = waiting_.front();
  waiting_.pop_front();
  next->admitted = true;
  next->admitted_signal.notify_one();
}

size_t ConcurrencyLimit::waiting() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return waiting_.size();
}

}  // namespace memembed::server
