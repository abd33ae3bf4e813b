// Structured logs: one JSON object per line on stderr. Request lines carry the route pattern,
// status, latency, sizes and the acting agent - never bodies, memory contents, query strings or
// credentials.
#pragma once

#include "memembed/json_io.h"

#include <mutex>
#include <string>

namespace memembed::server {

class RequestLog {
 public:
  // {"time", "level", "event", ...fields}; one write per line so lines never interleave.
  void write(const char* level, const char* event, Json fields = Json::object());

 private:
  std::mutex mutex_;
};

}  // namespace memembed::server
