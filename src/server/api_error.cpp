#include "api_error.h"

#include "memembed/json_io.h"

namespace memembed::server {

int status_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::InvalidInput: return 400;
    case ErrorKind::NotFound: return 404;
    case ErrorKind::Unsupported: return 400;
    case ErrorKind::Network: return 502;
    case ErrorKind::Io: return 500;
    case ErrorKind::Internal: return 500;
  }
  return 500;
}

std::string code_for_status(int status) {
  switch (status) {
    case 400: return "invalid_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 409: return "conflict";
    case 413: return "payload_too_large";
    case 502: return "upstream_error";
    case 503: return "unavailable";
    default: return status >= 500 ? "internal_error" : "invalid_request";
  }
}

void write_error(httplib::Response& response, int status, const std::string& code, const std::string& message) {
  response.status = status;
  Json body = {{"error", {{"code", code}, {"message", message}}}};
  response.set_content(body.dump(), "application/json");
}

}  // namespace memembed::server
