// The OpenAI-compatible embeddings client: texts -> batches (by count and estimated tokens) ->
// POST /embeddings from `concurrency` threads (each with its own keep-alive libcurl handle) ->
// rows put back in input order by each answer's `index`.
#include "memembed/error.h"
#include "memembed/json_io.h"
#include "memembed/log.h"
#include "memembed/progress.h"
#include "memembed/provider.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <strings.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

namespace memembed::provider {

namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

void curl_global_init_once() {
  // curl_global_init is not thread-safe and must run before the first handle exists.
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw make_error(ErrorKind::Internal, "libcurl initialisation failed");
  });
}

struct HttpAnswer {
  CURLcode code = CURLE_OK;
  std::string transport_error;
  long status = 0;
  std::string body;
  std::string retry_after;  // of the last response head
};

size_t append_body(char* data, size_t size, size_t count, void* user) {
  static_cast<HttpAnswer*>(user)->body.append(data, size * count);
  return size * count;
}

size_t read_header(char* data, size_t size, size_t count, void* user) {
  auto* answer = static_cast<HttpAnswer*>(user);
  std::string_view line(data, size * count);
  constexpr std::string_view kRetryAfter = "retry-after:";
  if (line.rfind("HTTP/", 0) == 0) answer->retry_after.clear();  // a new response (after a 100 Continue)
  if (line.size() > kRetryAfter.size() && strncasecmp(line.data(), kRetryAfter.data(), kRetryAfter.size()) == 0) {
    answer->retry_after = strip_unicode_whitespace(line.substr(kRetryAfter.size()));
  }
  return size * count;
}

// Seconds the server asks to wait: delta-seconds or an HTTP date (RFC 9110); nullopt when absent
// or unreadable.
std::optional<double> retry_after_seconds(const std::string& value) {
  if (value.empty()) return std::nullopt;
  char* end = nullptr;
  const double seconds = std::strtod(value.c_str(), &end);
  if (end != value.c_str() && *end == '\0') return std::max(0.0, seconds);
  const time_t when = curl_getdate(value.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  return std::max(0.0, std::difftime(when, std::time(nullptr)));
}

// Transport failures worth another attempt: the request may have been fine and the server slow
// or restarting. A refused connection or an unknown host is a wrong URL: retrying only delays
// the error.
bool transient(CURLcode code) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

// The message of an error answer: OpenAI and memembed send {"error": {"message"}}, TEI and vLLM
// {"error": "..."} or {"message": "..."}; anything else is shown cut to a few hundred bytes.
std::string error_message(const std::string& body) {
  const Json json = Json::parse(body, nullptr, false);
  if (json.is_object()) {
    const auto error = json.find("error");
    if (error != json.end() && error->is_object() && error->contains("message") && (*error)["message"].is_string())
      return (*error)["message"].get<std::string>();
    if (error != json.end() && error->is_string()) return error->get<std::string>();
    if (json.contains("message") && json["message"].is_string()) return json["message"].get<std::string>();
  }
  if (body.empty()) return "(no message)";
  return body.size() > 300 ? body.substr(0, 300) + "..." : body;
}

std::vector<float> decode_base64_floats(const std::string& text, const std::string& where) {
  if (text.size() % 4 != 0) throw invalid_input("{}: the base64 embedding has {} characters, not a multiple of 4", where, text.size());
  std::string bytes(text.size() / 4 * 3, '\0');
  const int decoded = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()),
                                      reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (decoded < 0) throw invalid_input("{}: the embedding is not valid base64", where);
  size_t size = static_cast<size_t>(decoded);
  // EVP_DecodeBlock counts the padding as zero bytes.
  for (size_t i = text.size(); i > 0 && text[i - 1] == '=' && size > 0; --i) --size;
  if (size % sizeof(float) != 0) throw invalid_input("{}: the base64 embedding holds {} bytes, not float32 values", where, size);
  std::vector<float> values(size / sizeof(float));
  std::memcpy(values.data(), bytes.data(), size);  // little-endian float32, as on every host memembed builds for
  return values;
}

// Keep-alive handles shared by the request threads: a connection opened by one call serves the
// next.
class HandlePool {
 public:
  ~HandlePool() {
    for (CURL* handle : idle_) curl_easy_cleanup(handle);
  }
  CURL* take() {
    {
      std::lock_guard lock(mutex_);
      if (!idle_.empty()) {
        CURL* handle = idle_.back();
        idle_.pop_back();
        return handle;
      }
    }
    curl_global_init_once();
    CURL* handle = curl_easy_init();
    if (handle == nullptr) throw make_error(ErrorKind::Internal, "curl_easy_init failed");
    return handle;
  }
  void give_back(CURL* handle) {
    std::lock_guard lock(mutex_);
    idle_.push_back(handle);
  }

 private:
  std::mutex mutex_;
  std::vector<CURL*> idle_;
};

// Spaces request starts at least 1/rate apart across every thread.
class RateLimiter {
 public:
  explicit RateLimiter(double per_second) : interval_(per_second > 0 ? 1.0 / per_second : 0.0) {}
  void acquire() {
    if (interval_ <= 0) return;
    Clock::time_point slot;
    {
      std::lock_guard lock(mutex_);
      slot = std::max(Clock::now(), next_);
      next_ = slot + std::chrono::duration_cast<Clock::duration>(Seconds(interval_));
    }
    std::this_thread::sleep_until(slot);
  }

 private:
  double interval_;
  std::mutex mutex_;
  Clock::time_point next_{};
};

class OpenAiProvider : public EmbeddingProvider {
 public:
  explicit OpenAiProvider(RemoteOptions options)
      : options_(std::move(options)), limiter_(options_.requests_per_second) {
    std::string base = options_.base_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    if (base.rfind("http://", 0) != 0 && base.rfind("https://", 0) != 0) {
      throw invalid_input("openai:{}#{}: the endpoint URL must start with http:// or https://", options_.base_url,
                          options_.model);
    }
    if (options_.model.empty()) throw invalid_input("openai:{}: no model named (openai:URL#MODEL)", options_.base_url);
    if (options_.encoding_format != "float" && options_.encoding_format != "base64") {
      throw invalid_input("encoding_format must be \"float\" or \"base64\", got \"{}\"", options_.encoding_format);
    }
    if (options_.max_batch_texts == 0 || options_.max_batch_tokens == 0 || options_.concurrency == 0) {
      throw invalid_input("{}: batch texts, batch tokens and concurrency must be at least 1", base);
    }
    if (options_.expected_dims > 0 && options_.dimensions > 0 && options_.expected_dims != options_.dimensions) {
      throw invalid_input("openai:{}#{}: dims {} expected, but the request asks the endpoint for dimensions {}", base,
                          options_.model, options_.expected_dims, options_.dimensions);
    }
    if (options_.api_key.empty()) {
      if (const char* key = std::getenv("MEMEMBED_API_KEY")) options_.api_key = key;
    }
    name_ = "openai:" + base + "#" + options_.model;
    url_ = base + "/embeddings";
    dims_ = options_.expected_dims > 0 ? options_.expected_dims : options_.dimensions;
    dims_source_ = options_.expected_dims > 0 ? "the configured dims" : "the requested dimensions";
    if (dims_ == 0) {
      // Nothing says what the model makes: ask once, so caches and vector sets can be keyed now.
      dims_ = embed({"dimension probe"}, "").dim;
      dims_source_ = "the endpoint's first answer";
    }
  }

  embed::Embeddings embed(const std::vector<std::string>& texts, const std::string& prompt) const override {
    if (!is_valid_utf8(prompt)) throw invalid_input("the prompt is not valid UTF-8");
    std::vector<std::string> inputs;
    inputs.reserve(texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      if (!is_valid_utf8(texts[i])) throw invalid_input("text {} is not valid UTF-8", i);
      inputs.push_back(strip_unicode_whitespace(prompt + texts[i]));
      // The API refuses empty input; failing here names the text instead of a batch.
      if (inputs.back().empty()) throw invalid_input("text {} is empty (after the prompt and stripping); {} refuses empty input", i, name_);
    }
    embed::Embeddings out;
    out.rows = inputs.size();
    out.dim = dims_;
    out.values.assign(out.rows * out.dim, 0.0f);
    if (inputs.empty()) return out;

    const std::vector<std::pair<size_t, size_t>> batches = plan_batches(inputs);
    std::optional<Progress> progress;
    if (options_.show_progress && batches.size() > 1) progress.emplace("embedding via " + name_, inputs.size(), "texts");
    std::mutex mutex;  // guards `out` (its dim may be learnt from the first answer), progress, failure
    std::exception_ptr failure;
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    auto work = [&] {
      for (size_t b = next++; b < batches.size() && !failed; b = next++) {
        try {
          const auto [begin, end] = batches[b];
          std::vector<std::vector<float>> rows = request(inputs, begin, end);
          std::lock_guard lock(mutex);
          if (out.dim == 0) {
            out.dim = rows.front().size();
            out.values.assign(out.rows * out.dim, 0.0f);
          } else if (rows.front().size() != out.dim) {
            throw invalid_input("{}: the endpoint returned {}-dimensional and {}-dimensional vectors in one call", name_,
                                out.dim, rows.front().size());
          }
          for (size_t i = begin; i < end; ++i) std::copy(rows[i - begin].begin(), rows[i - begin].end(), out.row(i));
          if (progress) progress->advance(end - begin);
        } catch (...) {
          std::lock_guard lock(mutex);
          if (!failure) failure = std::current_exception();
          failed = true;
        }
      }
    };
    const size_t threads = std::min(options_.concurrency, batches.size());
    std::vector<std::thread> workers;
    for (size_t t = 1; t < threads; ++t) workers.emplace_back(work);
    work();
    for (auto& worker : workers) worker.join();
    if (failure) std::rethrow_exception(failure);
    if (progress) progress->finish();
    return out;
  }

  size_t dimension() const override { return dims_; }
  std::string model_name() const override { return name_; }
  std::string fingerprint() const override {
    return fmt::format("{}:dim{}", name_, dims_);
  }
  const std::map<std::string, std::string>& prompts() const override { return no_prompts_; }

 private:
  static size_t estimated_tokens(const std::string& text) { return (text.size() + 2) / 3; }

  // Consecutive [begin, end) ranges under both budgets; a text over the token budget goes alone.
  std::vector<std::pair<size_t, size_t>> plan_batches(const std::vector<std::string>& inputs) const {
    std::vector<std::pair<size_t, size_t>> batches;
    size_t begin = 0, tokens = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const size_t t = estimated_tokens(inputs[i]);
      if (i > begin && (i - begin == options_.max_batch_texts || tokens + t > options_.max_batch_tokens)) {
        batches.emplace_back(begin, i);
        begin = i;
        tokens = 0;
      }
      tokens += t;
    }
    batches.emplace_back(begin, inputs.size());
    return batches;
  }

  // One batch, retried as RemoteOptions says; rows in input order.
  std::vector<std::vector<float>> request(const std::vector<std::string>& inputs, size_t begin, size_t end) const {
    Json body = {{"model", options_.model},
                 {"input", std::vector<std::string>(inputs.begin() + begin, inputs.begin() + end)},
                 {"encoding_format", options_.encoding_format}};
    if (options_.dimensions > 0) body["dimensions"] = options_.dimensions;
    const std::string payload = body.dump();
    std::mt19937_64 random(std::random_device{}());
    for (int attempt = 0;; ++attempt) {
      limiter_.acquire();
      const HttpAnswer answer = post(payload);
      if (answer.code == CURLE_OK && answer.status >= 200 && answer.status < 300) {
        return parse_answer(answer.body, end - begin);
      }
      const bool retryable = answer.code == CURLE_OK
                                 ? answer.status == 408 || answer.status == 429 || answer.status >= 500
                                 : transient(answer.code);
      const std::string what = answer.code == CURLE_OK
                                   ? fmt::format("HTTP {}: {}", answer.status, error_message(answer.body))
                                   : answer.transport_error;
      if (!retryable) {
        if (answer.code != CURLE_OK) throw make_error(ErrorKind::Network, "{}: {}", url_, what);
        if (answer.status == 401 || answer.status == 403) {
          throw make_error(ErrorKind::Network, "{} refused the API key ({}); set $MEMEMBED_API_KEY or the config's api_key",
                           url_, what);
        }
        throw invalid_input("{} (model {}) refused the request: {}", url_, options_.model, what);
      }
      if (attempt >= options_.max_retries) {
        throw make_error(ErrorKind::Network, "{}: gave up after {} attempts; last: {}", url_, attempt + 1, what);
      }
      double wait;
      if (const auto asked = retry_after_seconds(answer.retry_after)) {
        if (*asked > options_.max_retry_after_s) {
          throw make_error(ErrorKind::Network, "{}: the endpoint asks to retry after {:.0f} s ({}), more than the {:.0f} s allowed",
                           url_, *asked, what, options_.max_retry_after_s);
        }
        wait = *asked;
      } else {
        const double ceiling = std::min(options_.backoff_max_s, options_.backoff_initial_s * std::pow(2.0, attempt));
        wait = std::uniform_real_distribution<double>(ceiling / 2, ceiling)(random);
      }
      logger()->warn("{}: {}; retry {} of {} in {:.2f} s", url_, what, attempt + 1, options_.max_retries, wait);
      std::this_thread::sleep_for(Seconds(wait));
    }
  }

  HttpAnswer post(const std::string& payload) const {
    HttpAnswer answer;
    CURL* curl = handles_.take();
    curl_easy_reset(curl);
    char error_buffer[CURL_ERROR_SIZE] = {0};
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: application/json");
    // No "Expect: 100-continue" (libcurl's default above 1 KiB): servers that do not answer it
    // would cost every batch a second.
    headers = curl_slist_append(headers, "Expect:");
    if (!options_.api_key.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + options_.api_key).c_str());
    curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout_s * 1000));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_s * 1000));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");  // gzip when the server offers it
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, read_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &answer);
    answer.code = curl_easy_perform(curl);
    if (answer.code == CURLE_OK) {
      curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
    } else {
      answer.transport_error = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(answer.code);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);  // libcurl keeps no copy of the list
    curl_slist_free_all(headers);
    handles_.give_back(curl);
    return answer;
  }

  // The rows of one answer in input order, checked: one row per input, each `index` once, every
  // row of the expected size.
  std::vector<std::vector<float>> parse_answer(const std::string& body, size_t count) const {
    const Json json = Json::parse(body, nullptr, false);
    if (json.is_discarded() || !json.is_object() || !json.contains("data") || !json["data"].is_array()) {
      throw invalid_input("{}: the answer is not an embeddings list ({{\"data\": [...]}}): {}", url_, error_message(body));
    }
    const Json& data = json["data"];
    if (data.size() != count) {
      throw invalid_input("{}: {} embeddings came back for {} inputs", url_, data.size(), count);
    }
    std::vector<std::vector<float>> rows(count);
    std::vector<bool> seen(count, false);
    size_t answer_dims = 0;
    for (size_t position = 0; position < count; ++position) {
      const Json& item = data[position];
      const std::string where = fmt::format("{}: data[{}]", url_, position);
      // `index` says which input a row belongs to (servers may answer out of order); an answer
      // without it is taken in order.
      size_t index = position;
      if (item.contains("index")) {
        if (!item["index"].is_number_integer() || item["index"].get<int64_t>() < 0 ||
            item["index"].get<size_t>() >= count || seen[item["index"].get<size_t>()]) {
          throw invalid_input("{}: index {} is not a distinct input position below {}", where, item["index"].dump(), count);
        }
        index = item["index"].get<size_t>();
      }
      seen[index] = true;
      const auto embedding = item.find("embedding");
      if (embedding == item.end()) throw invalid_input("{}: no \"embedding\"", where);
      if (embedding->is_string()) {
        rows[index] = decode_base64_floats(embedding->get<std::string>(), where);
      } else if (embedding->is_array()) {
        rows[index].reserve(embedding->size());
        for (const Json& value : *embedding) {
          if (!value.is_number()) throw invalid_input("{}: the embedding holds a non-number {}", where, value.dump());
          rows[index].push_back(value.get<float>());
        }
      } else {
        throw invalid_input("{}: \"embedding\" must be an array of numbers or a base64 string", where);
      }
      if (rows[index].empty()) throw invalid_input("{}: the embedding is empty", where);
      if (dims_ > 0 && rows[index].size() != dims_) {
        throw invalid_input("{}: the endpoint returned {}-dimensional vectors, but {} expects {} ({})", where,
                            rows[index].size(), name_, dims_, dims_source_);
      }
      if (answer_dims == 0) answer_dims = rows[index].size();
      if (rows[index].size() != answer_dims) {
        throw invalid_input("{}: vectors of {} and {} dimensions in one answer", where, answer_dims, rows[index].size());
      }
    }
    return rows;
  }

  RemoteOptions options_;
  std::string name_;
  std::string url_;
  size_t dims_ = 0;
  std::string dims_source_;
  std::map<std::string, std::string> no_prompts_;
  mutable HandlePool handles_;
  mutable RateLimiter limiter_;
};

}  // namespace

std::shared_ptr<const EmbeddingProvider> open_remote_provider(RemoteOptions options) {
  return std::make_shared<OpenAiProvider>(std::move(options));
}

}  // namespace memembed::provider
