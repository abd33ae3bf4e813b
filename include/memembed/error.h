// Errors in two tiers.
//
// memembed::Error is for problems with the input or the environment (a corrupt file, a missing
// tensor, a malformed JSONL line, an unreachable server). It carries a category and a message that
// names the specifics: file, JSON field path, line, tensor name, expected vs actual. Only the
// boundaries (cli/, the HTTP server) catch it and map the category to an exit code or status.
//
// MEMEMBED_ASSERT is for our own invariants: a failure is a bug in memembed, never the user's input.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace memembed {

enum class ErrorKind {
  InvalidInput,  // malformed or inconsistent data given by the user
  NotFound,      // a file, model, tensor or record that should exist does not
  Unsupported,   // valid but not handled (unknown architecture, dtype, ...)
  Io,            // the operating system refused (read, write, mmap)
  Network,       // a remote endpoint failed or is unreachable
  Internal,      // a broken invariant: a bug in memembed
};

const char* to_string(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// Formatting constructors: throw invalid_input("{}: line {}: {}", path, line, what);
template <typename... Args>
Error make_error(ErrorKind kind, fmt::format_string<Args...> format, Args&&... args) {
  return Error(kind, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
Error invalid_input(fmt::format_string<Args...> format, Args&&... args) {
  return make_error(ErrorKind::InvalidInput, format, std::forward<Args>(args)...);
}
template <typename... Args>
Error not_found(fmt::format_string<Args...> format, Args&&... args) {
  return make_error(ErrorKind::NotFound, format, std::forward<Args>(args)...);
}
template <typename... Args>
Error unsupported(fmt::format_string<Args...> format, Args&&... args) {
  return make_error(ErrorKind::Unsupported, format, std::forward<Args>(args)...);
}
template <typename... Args>
Error io_error(fmt::format_string<Args...> format, Args&&... args) {
  return make_error(ErrorKind::Io, format, std::forward<Args>(args)...);
}

[[noreturn]] void assertion_failed(const char* condition, const char* file, int line);

}  // namespace memembed

#define MEMEMBED_ASSERT(condition)                                      \
  do {                                                                  \
    if (!(condition)) ::memembed::assertion_failed(#condition, __FILE__, __LINE__); \
  } while (0)
