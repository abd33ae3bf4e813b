// Data-parallel collectives for training, on libtorch's own distributed runtime: a c10d
// TCPStore rendezvous at rank 0's HOST:PORT and a ProcessGroupGloo (TCP) between the ranks.
// The network interface is the one that reaches the master (loopback for 127.0.0.1/localhost);
// GLOO_SOCKET_IFNAME picks another, as with PyTorch.
#pragma once

#include "memembed/tune.h"

#include <ATen/ATen.h>

#include <chrono>
#include <memory>
#include <string>

namespace memembed::tune {

class ProcessGroup {
 public:
  // Blocks until all `world_size` ranks have joined (or `timeout` passes: Network error).
  ProcessGroup(const std::string& master, int rank, int world_size,
               std::chrono::milliseconds timeout = std::chrono::minutes(5));
  ~ProcessGroup();

  // Every rank's `local` (same shape on every rank), concatenated along dim 0 in rank order.
  at::Tensor all_gather(const at::Tensor& local);
  // Element-wise sum over the ranks, in place.
  void all_reduce_sum(at::Tensor& tensor);
  void barrier();

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  int rank_;
  int world_size_;
};

// The group `parallel` describes, after checking it (InvalidInput naming the bad value); none for a
// single process.
std::unique_ptr<ProcessGroup> join_process_group(const DataParallel& parallel);

// "HOST:PORT" -> (host, port); InvalidInput naming the value otherwise.
std::pair<std::string, uint16_t> parse_master_address(const std::string& master);

}  // namespace memembed::tune
