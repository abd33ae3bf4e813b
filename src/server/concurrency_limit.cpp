#include "concurrency_limit.h"

#include <algorithm>

namespace memembed::server {

ConcurrencyLimit::ConcurrencyLimit(size_t limit) : limit_(std::max<size_t>(1, limit)) {}

ConcurrencyLimit::Slot ConcurrencyLimit::acquire() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (active_ < limit_ && waiting_.empty()) {
    ++active_;
    return Slot(*this);
  }
  Waiter waiter;
  waiting_.push_back(&waiter);
  waiter.admitted_signal.wait(lock, [&] { return waiter.admitted; });
  return Slot(*this);  // the releasing request handed its place over
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
