#include "process_group.h"

#include "memembed/error.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cstdlib>

namespace memembed::tune {

struct ProcessGroup::State {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

std::pair<std::string, uint16_t> parse_master_address(const std::string& master) {
  const size_t colon = master.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == master.size()) {
    throw invalid_input("--master must be HOST:PORT, got \"{}\"", master);
  }
  const std::string port_text = master.substr(colon + 1);
  char* end = nullptr;
  const long port = std::strtol(port_text.c_str(), &end, 10);
  if (*end != '\0' || port <= 0 || port > 65535) throw invalid_input("--master \"{}\": the port must be 1-65535", master);
  return {master.substr(0, colon), static_cast<uint16_t>(port)};
}

ProcessGroup::ProcessGroup(const std::string& master, int rank, int world_size, std::chrono::milliseconds timeout)
    : state_(std::make_unique<State>()), rank_(rank), world_size_(world_size) {
  const auto [host, port] = parse_master_address(master);
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = port;
    store_options.isServer = rank == 0;
    store_options.numWorkers = static_cast<size_t>(world_size);
    store_options.waitWorkers = true;
    store_options.timeout = timeout;
    state_->store = c10::make_intrusive<c10d::TCPStore>(host, store_options);

    auto options = c10d::ProcessGroupGloo::Options::create();
    options->timeout = timeout;
    if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME")) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
    } else if (host == "127.0.0.1" || host == "localhost") {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    state_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(state_->store, rank, world_size, options);
  } catch (const c10::Error& e) {
    throw make_error(ErrorKind::Network, "rank {} of {} could not join the process group at {}: {}", rank, world_size,
                     master, e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw make_error(ErrorKind::Network, "rank {} of {} could not join the process group at {}: {}", rank, world_size,
                     master, e.what());
  }
}

ProcessGroup::~ProcessGroup() = default;

at::Tensor ProcessGroup::all_gather(const at::Tensor& local) {
  std::vector<at::Tensor> inputs = {local.contiguous()};
  std::vector<std::vector<at::Tensor>> outputs(1);
  for (int r = 0; r < world_size_; ++r) outputs[0].push_back(at::empty_like(inputs[0]));
  state_->group->allgather(outputs, inputs)->wait();
  return at::cat(outputs[0], 0);
}

void ProcessGroup::all_reduce_sum(at::Tensor& tensor) {
  std::vector<at::Tensor> tensors = {tensor};
  state_->group->allreduce(tensors)->wait();
}

void ProcessGroup::barrier() { state_->group->barrier()->wait(); }

std::unique_ptr<ProcessGroup> join_process_group(const DataParallel& parallel) {
  if (parallel.world_size < 1 || parallel.rank < 0 || parallel.rank >= parallel.world_size) {
    throw invalid_input("rank {} is outside world size {}", parallel.rank, parallel.world_size);
  }
  if (parallel.world_size == 1) return nullptr;
  if (parallel.master.empty()) throw invalid_input("--world-size > 1 needs --master HOST:PORT");
  return std::make_unique<ProcessGroup>(parallel.master, parallel.rank, parallel.world_size);
}

}  // namespace memembed::tune
