#include "memembed/log.h"

#include <spdlog/sinks/stdout_sinks.h>

#include <mutex>

namespace memembed {

namespace {

std::shared_ptr<spdlog::logger> make_default_logger() {
  auto logger = std::make_shared<spdlog::logger>("memembed", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern("memembed: %l: %v");
  logger->set_level(spdlog::level::info);
  return logger;
}

std::mutex g_mutex;
std::shared_ptr<spdlog::logger> g_logger;  // guarded by g_mutex

}  // namespace

std::shared_ptr<spdlog::logger> logger() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_logger) g_logger = make_default_logger();
  return g_logger;
}

void set_logger(std::shared_ptr<spdlog::logger> replacement) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_logger = std::move(replacement);
}

}  // namespace memembed
