// A test double of an OpenAI-compatible embeddings endpoint (cpp-httplib, in the test process).
// It stands in for what a real server cannot be made to do on demand: answer 429 with
// Retry-After, fail with 500, stall past the client's timeout, return vectors of the wrong size or
// in another order. Everything a real server does do is tested against a real `memembed serve`
// (test_remote_provider.cpp).
//
// Its vectors are a function of the text, so a test can tell which input a row belongs to:
// row = [bytes of the text, first byte, 1, 1, ...] (dims values).
#pragma once

#include "memembed/json_io.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace memembed::testing {

inline std::vector<float> fake_vector(const std::string& text, size_t dims) {
  std::vector<float> row(dims, 1.0f);
  row[0] = static_cast<float>(text.size());
  if (dims > 1) row[1] = static_cast<float>(static_cast<unsigned char>(text.empty() ? 0 : text[0]));
  return row;
}

class FakeEndpoint {
 public:
  // What the handler sees of one request; `attempt` counts from 0 over the endpoint's lifetime.
  struct Call {
    Json body;
    std::string authorization;
    size_t attempt = 0;
  };
  // Returns false to let the default answer go out (every input, in order, `dims` values).
  using Behaviour = std::function<bool(const Call&, httplib::Response&)>;

  explicit FakeEndpoint(size_t dims = 4) : dims_(dims) {
    server_.Post("/v1/embeddings", [this](const httplib::Request& request, httplib::Response& response) {
      Call call{Json::parse(request.body), request.get_header_value("Authorization"), 0};
      {
        std::lock_guard lock(mutex_);
        call.attempt = calls_.size();
        calls_.push_back(call);
      }
      const int now = ++in_flight_;
      for (int seen = max_in_flight_; now > seen && !max_in_flight_.compare_exchange_weak(seen, now);) {
      }
      if (!behaviour_ || !behaviour_(call, response)) answer(call, response);
      --in_flight_;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeEndpoint() {
    server_.stop();
    thread_.join();
  }

  void set_behaviour(Behaviour behaviour) { behaviour_ = std::move(behaviour); }
  // The normal answer: every input in order (or reversed), with its index.
  void answer(const Call& call, httplib::Response& response, bool reversed = false, size_t dims = 0) const {
    Json data = Json::array();
    const Json& input = call.body["input"];
    for (size_t k = 0; k < input.size(); ++k) {
      const size_t i = reversed ? input.size() - 1 - k : k;
      data.push_back({{"object", "embedding"}, {"index", i},
                      {"embedding", fake_vector(input[i].get<std::string>(), dims ? dims : dims_)}});
    }
    response.set_content(Json{{"object", "list"}, {"data", data}, {"model", call.body["model"]}}.dump(),
                         "application/json");
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  std::vector<Call> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  int max_in_flight() const { return max_in_flight_; }

 private:
  size_t dims_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  Behaviour behaviour_;
  mutable std::mutex mutex_;
  std::vector<Call> calls_;
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_in_flight_{0};
};

}  // namespace memembed::testing
