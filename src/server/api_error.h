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
  ApiError(int status, std::string code, const std::string& message)
      : std::runtime_error(message), status_(status), code_(std::move(code)) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }

 private:
  int status_;
  std::string code_;
};

// The status and code for a memembed::Error from the library (InvalidInput 400, NotFound 404, ...).
int status_for(ErrorKind kind);
std::string code_for_status(int status);

// Writes {"error": {"code", "message"}} with `status`.
void write_error(httplib::Response& response, int status, const std::string& code, const std::string& message);

}  // namespace memembed::server
