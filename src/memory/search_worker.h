// One thread a MemoryStore keeps to run one side of a hybrid search (BM25) while the caller runs
// the other (query embedding, dense candidates), so a search's wall time is about the longer side
// rather than their sum. Bounded: one thread per store, created with it; a search that finds the
// worker busy with another search's side runs its side itself, so concurrent searches never queue
// behind one another and nothing waits on a thread that is not already working for it.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace memembed::memory {

class SearchWorker {
 public:
  SearchWorker();
  ~SearchWorker();  // finishes the task in hand, then joins
  SearchWorker(const SearchWorker&) = delete;
  SearchWorker& operator=(const SearchWorker&) = delete;

  // `task` run beside the caller: on the worker when it is idle, else at once by wait() itself.
  // wait() returns when it has run and rethrows what it threw. The task must not outlive what it
  // references: the caller waits before leaving their scope (the destructor waits too).
  class Pending {
   public:
    Pending() = default;
    Pending(Pending&&) = default;
    Pending& operator=(Pending&&) = delete;
    void wait();
    ~Pending();  // waits for a task the worker took (it may reference the caller's variables)

   private:
    friend class SearchWorker;
    struct State;
    std::shared_ptr<State> state_;
    std::function<void()> inline_task_;  // set when the worker was busy
  };
  Pending start(std::function<void()> task);

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::function<void()> task_;
  std::shared_ptr<Pending::State> task_state_;
  bool busy_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace memembed::memory
