// How failures reach HTTP clients: a status and a JSON body {"error": {"code", "message"}}.
#pragma once

#include "memembed/error.h"

#include <httplib.h>

#include <stdexcept>
#include <string>

namespace memembed::server {

// A failure with the exact status and code to answer; thrown by route handlers.
class ApiError : public std::runtime_error {
 public:
  // `retry_after_seconds` > 0: sent as Retry-After (503 while starting, overloaded, ...).
  ApiError(int status, std::string code, const std::string& message, int retry_after_seconds = 0)
      : std::runtime_error(message), status_(status), code_(std::move(code)), retry_after_(retry_after_seconds) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }
  int retry_after() const { return retry_after_; }

 private:
  int status_;
  std::string code_;
  int retry_after_;
};

// The status and code for a memembed::Error from the library (InvalidInput 400, NotFound 404, ...).
int status_for(ErrorKind kind);
std::string code_for_status(int status);

// Writes {"error": {"code", "message"}} with `status`.
void write_error(httplib::Response& response, int status, const std::string& code, const std::string& message);

}  // namespace memembed::server
