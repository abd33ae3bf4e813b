#include "http_client.h"

#include "memembed/error.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <mutex>

namespace memembed::hub {

namespace {

constexpr size_t kMaxErrorBody = 64 * 1024;

void global_init_once() {
  // curl_global_init is not thread-safe and must run before any handle exists.
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      throw Error(ErrorKind::Internal, "libcurl global initialisation failed");
    std::atexit(curl_global_cleanup);
  });
}

std::string to_lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string trim(std::string_view text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return std::string(text.substr(begin, end - begin));
}

// State shared by the header and write callbacks during one perform().
struct Exchange {
  HttpResult* result = nullptr;
  const StreamHandlers* handlers = nullptr;
  size_t max_body = 0;
  bool head_delivered = false;
  bool streaming = false;  // the final answer is 2xx and its body goes to the handlers
  std::string abandon_reason;

  bool deliver_head() {
    head_delivered = true;
    const HttpHead& head = result->chain.back();
    streaming = handlers != nullptr && head.status >= 200 && head.status < 300;
    if (streaming && handlers->on_head && !handlers->on_head(head)) {
      abandon_reason = "abandoned after the response head";
      return false;
    }
    return true;
  }
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* exchange = static_cast<Exchange*>(user);
  const size_t bytes = size * count;
  std::string_view line(data, bytes);
  auto& chain = exchange->result->chain;
  if (line.rfind("HTTP/", 0) == 0) {
    // A status line starts a new response: one per redirect hop (and per 1xx interim answer).
    HttpHead head;
    const size_t space = line.find(' ');
    if (space != std::string_view::npos) head.status = std::strtol(line.data() + space + 1, nullptr, 10);
    chain.push_back(std::move(head));
    exchange->head_delivered = false;
    return bytes;
  }
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos && !chain.empty()) {
    chain.back().headers[to_lower(std::string(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  }
  return bytes;
}

size_t on_write(char* data, size_t size, size_t count, void* user) {
  auto* exchange = static_cast<Exchange*>(user);
  const size_t bytes = size * count;
  if (exchange->result->chain.empty()) return bytes;
  const long status = exchange->result->chain.back().status;
  if (status >= 300 && status < 400) return bytes;  // a redirect's own body is never wanted
  if (!exchange->head_delivered && !exchange->deliver_head()) return 0;
  if (exchange->streaming) {
    if (!exchange->handlers->on_data(data, bytes)) {
      exchange->abandon_reason = "abandoned while receiving the body";
      return 0;
    }
    return bytes;
  }
  std::string& body = exchange->result->body;
  const size_t limit = exchange->handlers ? kMaxErrorBody : exchange->max_body;
  if (body.size() + bytes > limit) {
    exchange->abandon_reason = "response larger than " + std::to_string(limit) + " bytes";
    return 0;
  }
  body.append(data, bytes);
  return bytes;
}

}  // namespace

const std::string* HttpHead::header(const std::string& lower_name) const {
  const auto found = headers.find(lower_name);
  return found == headers.end() ? nullptr : &found->second;
}

const HttpHead& HttpResult::final_head() const {
  static const HttpHead empty;
  return chain.empty() ? empty : chain.back();
}

const std::string* HttpResult::find_header(const std::string& lower_name) const {
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    if (const std::string* value = it->header(lower_name)) return value;
  }
  return nullptr;
}

bool HttpResult::transient_transport_failure() const {
  switch (static_cast<CURLcode>(curl_code)) {
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

HttpClient::HttpClient(HttpSettings settings) : settings_(std::move(settings)) {
  global_init_once();
  curl_ = curl_easy_init();
  if (curl_ == nullptr) throw Error(ErrorKind::Internal, "curl_easy_init failed");
}

HttpClient::~HttpClient() { curl_easy_cleanup(curl_); }

HttpResult HttpClient::get(const std::string& url, size_t max_body) {
  return perform(url, 0, nullptr, max_body, true);
}

HttpResult HttpClient::get_stream(const std::string& url, uint64_t range_start,
                                  const StreamHandlers& handlers) {
  // Files travel uncompressed: Range offsets and hashes refer to the stored bytes.
  return perform(url, range_start, &handlers, 0, false);
}

HttpResult HttpClient::perform(const std::string& url, uint64_t range_start,
                               const StreamHandlers* handlers, size_t max_body, bool compressed) {
  HttpResult result;
  result.url = url;
  Exchange exchange;
  exchange.result = &result;
  exchange.handlers = handlers;
  exchange.max_body = max_body;

  // Reset keeps the connection cache, so consecutive files reuse one TLS connection.
  curl_easy_reset(curl_);
  char error_buffer[CURL_ERROR_SIZE] = {0};
  const std::string range = range_start > 0 ? std::to_string(range_start) + "-" : std::string();
  curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM, safe in threads
  curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl_, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl_, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl_, CURLOPT_USERAGENT, "memembed/0.1.0");
  curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT, settings_.connect_timeout_s);
  // A stall, not a slow link, is what must end a transfer: multi-GB files legitimately take hours.
  curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME, settings_.stall_timeout_s);
  if (!settings_.token.empty()) {
    // curl's own bearer auth, unlike a hand-made Authorization header, is withheld from any other
    // host, port or scheme a redirect leads to (the hub redirects LFS files to a storage CDN).
    curl_easy_setopt(curl_, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
    curl_easy_setopt(curl_, CURLOPT_XOAUTH2_BEARER, settings_.token.c_str());
  }
  if (compressed) curl_easy_setopt(curl_, CURLOPT_ACCEPT_ENCODING, "");
  if (!range.empty()) curl_easy_setopt(curl_, CURLOPT_RANGE, range.c_str());
  curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &exchange);
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &exchange);

  const CURLcode code = curl_easy_perform(curl_);
  char* effective = nullptr;
  if (curl_easy_getinfo(curl_, CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK && effective)
    result.effective_url = effective;

  if (code == CURLE_OK && !result.chain.empty() && !exchange.head_delivered) {
    // An empty body never reaches on_write; the head still has to be seen (empty files exist).
    if (!exchange.deliver_head()) {
      result.curl_code = CURLE_WRITE_ERROR;
      result.transport_error = exchange.abandon_reason;
      return result;
    }
  }
  if (code != CURLE_OK) {
    result.curl_code = code;
    if (code == CURLE_WRITE_ERROR && !exchange.abandon_reason.empty()) {
      result.transport_error = exchange.abandon_reason;
    } else {
      result.transport_error = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
    }
  }
  return result;
}

std::string url_escape(std::string_view segment) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(segment.size());
  for (const char c : segment) {
    const auto byte = static_cast<unsigned char>(c);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(hex[byte >> 4]);
      out.push_back(hex[byte & 15]);
    }
  }
  return out;
}

}  // namespace memembed::hub
