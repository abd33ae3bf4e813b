// A small libcurl wrapper for the hub: GET with redirects, timeouts, a bearer token that never
// follows a redirect to another host, and streaming bodies. It reports transport failures and HTTP
// statuses as data; callers decide what is retryable and which memembed::Error to throw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

typedef void CURL;

namespace memembed::hub {

struct HttpSettings {
  std::string token;
  long connect_timeout_s = 30;
  long stall_timeout_s = 60;
};

// One response in a redirect chain: status and headers (names lower-cased).
struct HttpHead {
  long status = 0;
  std::map<std::string, std::string> headers;

  const std::string* header(const std::string& lower_name) const;
};

struct HttpResult {
  std::vector<HttpHead> chain;  // every response, the final one last
  std::string body;             // the final body when it was not streamed (errors, API JSON)
  std::string url;              // the URL that was asked
  std::string effective_url;    // where the redirects ended
  // Transport failure (DNS, connect, timeout, cut connection); empty when the exchange completed.
  std::string transport_error;
  int curl_code = 0;

  bool completed() const { return transport_error.empty(); }
  long status() const { return chain.empty() ? 0 : chain.back().status; }
  const HttpHead& final_head() const;
  // Searches the final response first, then the redirects before it: the hub puts file metadata
  // (X-Linked-Etag, X-Linked-Size) on the redirect, not on the storage host's answer.
  const std::string* find_header(const std::string& lower_name) const;
  // Transport failures worth retrying (cut or stalled transfers); refused connections and DNS
  // failures are not, so an offline machine fails at once.
  bool transient_transport_failure() const;
};

// Streaming GET: on_head sees the final response's head before its first body byte and returns
// false to abandon the transfer; on_data receives the body and returns false to abandon it.
// Bodies of non-2xx answers are kept in HttpResult::body (capped) instead of being streamed.
struct StreamHandlers {
  std::function<bool(const HttpHead&)> on_head;
  std::function<bool(const char*, size_t)> on_data;
};

class HttpClient {
 public:
  explicit HttpClient(HttpSettings settings);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Whole body in memory (API answers), at most max_body bytes.
  HttpResult get(const std::string& url, size_t max_body = 64u << 20);
  // Body streamed to the handlers; range_start > 0 asks for bytes from there on (Range: bytes=N-).
  HttpResult get_stream(const std::string& url, uint64_t range_start, const StreamHandlers& handlers);

  const HttpSettings& settings() const { return settings_; }

 private:
  HttpResult perform(const std::string& url, uint64_t range_start, const StreamHandlers* handlers,
                     size_t max_body, bool compressed);

  HttpSettings settings_;
  CURL* curl_ = nullptr;
};

// Percent-encodes one URL path segment (everything outside RFC 3986's unreserved set).
std::string url_escape(std::string_view segment);

}  // namespace memembed::hub
