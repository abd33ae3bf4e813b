// The service's Prometheus metrics, rendered in the text exposition format (version 0.0.4).
//
// Routes are labelled by their pattern ("/memories/{id}"), never the raw path, so the number of
// series stays bounded whatever clients send.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace memembed::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  // Appends `name`_bucket/_sum/_count lines with `labels` ("route=\"/x\"", or empty).
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative
  uint64_t count_ = 0;
  double sum_ = 0;
};

// A value read at scrape time (store size, reindex progress, ...).
struct Gauge {
  std::string name;
  std::string help;
  double value = 0;
  std::string labels;  // e.g. state="running"; empty for none
};

class Metrics {
 public:
  Metrics();
  void observe_request(const std::string& route, const std::string& method, int status, double seconds);
  void observe_encoder_batch(size_t texts, size_t requests);
  // A queued store operation not run (load shedding): reason "queue_timeout" or "client_gone".
  void count_shed(const std::string& reason);
  std::string render(const std::vector<Gauge>& gauges) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  std::map<std::string, uint64_t> shed_;
  Histogram batch_texts_;
  Histogram batch_requests_;
};

// Prometheus label value escaping (backslash, double quote, newline).
std::string escape_label(const std::string& value);

}  // namespace memembed::server
