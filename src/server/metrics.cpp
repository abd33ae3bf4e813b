#include "metrics.h"

#include <fmt/format.h>

namespace memembed::server {

namespace {

const std::vector<double> kLatencyBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,    0.25,  0.5,    1,     2.5,  5,     10};
const std::vector<double> kBatchBounds = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};

void header(std::string& out, const std::string& name, const char* type, const std::string& help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

std::string escape_label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  size_t bucket = 0;
  while (bucket < bounds_.size() && value > bounds_[bucket]) ++bucket;
  ++counts_[bucket];
  ++count_;
  sum_ += value;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  const std::string prefix = labels.empty() ? "" : labels + ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{{}le=\"{}\"}} {}\n", name, prefix, bounds_[i], cumulative);
  }
  out += fmt::format("{}_bucket{{{}le=\"+Inf\"}} {}\n", name, prefix, count_);
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, braces, sum_, name, braces, count_);
}

Metrics::Metrics() : batch_texts_(kBatchBounds), batch_requests_(kBatchBounds) {}

void Metrics::observe_request(const std::string& route, const std::string& method, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{route, method, status}];
  latency_.try_emplace(route, kLatencyBounds).first->second.observe(seconds);
}

void Metrics::observe_encoder_batch(size_t texts, size_t requests) {
  std::lock_guard<std::mutex> lock(mutex_);
  batch_texts_.observe(static_cast<double>(texts));
  batch_requests_.observe(static_cast<double>(requests));
}

void Metrics::count_shed(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++shed_[reason];
}

std::string Metrics::render(const std::vector<Gauge>& gauges) const {
  std::string out;
  std::lock_guard<std::mutex> lock(mutex_);
  header(out, "memembed_http_requests_total", "counter", "HTTP requests by route pattern, method and status.");
  for (const auto& [key, count] : requests_) {
    const auto& [route, method, status] = key;
    out += fmt::format("memembed_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}} {}\n",
                       escape_label(route), method, status, count);
  }
  header(out, "memembed_http_request_duration_seconds", "histogram", "HTTP request latency by route pattern.");
  for (const auto& [route, histogram] : latency_) {
    histogram.render(out, "memembed_http_request_duration_seconds", "route=\"" + escape_label(route) + "\"");
  }
  header(out, "memembed_store_shed_total", "counter",
         "Queued store operations not run: waited past --queue-timeout, or the client left.");
  for (const char* reason : {"queue_timeout", "client_gone"}) {
    const auto it = shed_.find(reason);
    out += fmt::format("memembed_store_shed_total{{reason=\"{}\"}} {}\n", reason, it == shed_.end() ? 0 : it->second);
  }
  header(out, "memembed_encoder_batch_texts", "histogram", "Texts per encoder batch (dynamic batching).");
  batch_texts_.render(out, "memembed_encoder_batch_texts", "");
  header(out, "memembed_encoder_batch_requests", "histogram", "Requests merged into one encoder batch.");
  batch_requests_.render(out, "memembed_encoder_batch_requests", "");
  std::string last_name;
  for (const Gauge& gauge : gauges) {
    if (gauge.name != last_name) header(out, gauge.name, "gauge", gauge.help);
    last_name = gauge.name;
    const std::string braces = gauge.labels.empty() ? "" : "{" + gauge.labels + "}";
    out += fmt::format("{}{} {}\n", gauge.name, braces, gauge.value);
  }
  return out;
}

}  // namespace memembed::server
