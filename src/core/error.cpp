#include "memembed/error.h"

#include <cstdio>
#include <cstdlib>

namespace memembed {

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::InvalidInput: return "invalid input";
    case ErrorKind::NotFound: return "not found";
    case ErrorKind::Unsupported: return "unsupported";
    case ErrorKind::Io: return "I/O error";
    case ErrorKind::Network: return "network error";
    case ErrorKind::Internal: return "internal error";
  }
  return "error";
}

void assertion_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "memembed: internal error: assertion `%s` failed at %s:%d\n", condition, file,
               line);
  std::abort();
}

}  // namespace memembed
