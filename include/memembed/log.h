// log: where the libraries report what is not an error — a text truncated, a fallback taken, a
// setting lowered — so that an application decides where it goes.
//
// Libraries never print to stderr themselves; they write to the spdlog logger named "memembed".
// By default it prints "memembed: warning: ..." lines to stderr, which is what the CLI wants. A
// long-running server replaces its sinks or raises its level once, at start-up, with spdlog's own
// API (memembed::logger()->sinks(), set_level(), or set_logger() below). Thread-safe.
#pragma once

#include <spdlog/logger.h>

#include <memory>

namespace memembed {

// The library logger (created on first use); a shared handle, so replacing it while another
// thread logs is safe.
std::shared_ptr<spdlog::logger> logger();

// Replaces the library logger, e.g. with one that writes to the server's log file. The logger
// must be thread-safe (an spdlog `_mt` sink).
void set_logger(std::shared_ptr<spdlog::logger> replacement);

}  // namespace memembed
