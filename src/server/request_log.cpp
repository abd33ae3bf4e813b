#include "request_log.h"

#include "memembed/memory.h"

#include <cstdio>

namespace memembed::server {

void RequestLog::write(const char* level, const char* event, Json fields) {
  // time, level and event first; then the fields in their (sorted) order.
  nlohmann::ordered_json line = {{"time", memory::format_timestamp(memory::now_micros())}, {"level", level}, {"event", event}};
  for (const auto& [key, value] : fields.items()) line[key] = value;
  const std::string text = line.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  std::lock_guard<std::mutex> lock(mutex_);
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace memembed::server
