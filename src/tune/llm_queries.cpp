#include "llm_queries.h"

#include "memembed/error.h"
#include "memembed/json_io.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <thread>

namespace memembed::tune {

namespace {

constexpr const char* kDefaultPrompt =
    "You write search queries for a retrieval system over an organisation's documents and memories.\n"
    "Read the passage below and write {count} different, realistic queries that a person who needs this "
    "passage would type. Ask about its content in your own words; do not copy sentences from it.\n"
    "Answer with one query per line and nothing else.\n\n"
    "Passage:\n{chunk}";

std::string fill(std::string text, const std::string& placeholder, const std::string& value) {
  for (size_t at = text.find(placeholder); at != std::string::npos; at = text.find(placeholder, at + value.size())) {
    text.replace(at, placeholder.size(), value);
  }
  return text;
}

std::string cache_key(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

size_t append_body(char* data, size_t size, size_t count, void* target) {
  static_cast<std::string*>(target)->append(data, size * count);
  return size * count;
}

size_t read_retry_after(char* data, size_t size, size_t count, void* target) {
  const std::string line(data, size * count);
  const std::string name = "retry-after:";
  if (line.size() > name.size()) {
    std::string lower = line.substr(0, name.size());
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower == name) *static_cast<double*>(target) = std::atof(line.c_str() + name.size());
  }
  return size * count;
}

}  // namespace

std::vector<std::string> parse_query_lines(const std::string& answer, size_t count) {
  std::vector<std::string> queries;
  size_t start = 0;
  while (start <= answer.size() && queries.size() < count) {
    size_t end = answer.find('\n', start);
    if (end == std::string::npos) end = answer.size();
    std::string line = strip_unicode_whitespace(std::string_view(answer).substr(start, end - start));
    start = end + 1;
    // "1. ", "2) ", "- ", "* ", "Q1: " prefixes.
    size_t skip = 0;
    while (skip < line.size() && std::isdigit(static_cast<unsigned char>(line[skip]))) ++skip;
    if (skip > 0 && skip < line.size() && (line[skip] == '.' || line[skip] == ')' || line[skip] == ':')) {
      line = line.substr(skip + 1);
    } else if (!line.empty() && (line[0] == '-' || line[0] == '*')) {
      line = line.substr(1);
    }
    line = strip_unicode_whitespace(line);
    if (line.size() >= 2 && line.front() == '"' && line.back() == '"') line = line.substr(1, line.size() - 2);
    if (line.empty() || std::find(queries.begin(), queries.end(), line) != queries.end()) continue;
    queries.push_back(line);
  }
  return queries;
}

LlmQueryWriter::LlmQueryWriter(LlmOptions options) : options_(std::move(options)) {
  if (options_.url.empty()) throw invalid_input("the LLM endpoint URL is empty");
  if (options_.model.empty()) throw invalid_input("the LLM model name is empty (--llm-model)");
  if (options_.queries_per_chunk == 0) throw invalid_input("queries per chunk must be at least 1");
  if (options_.requests_per_second <= 0) throw invalid_input("the LLM rate limit must be positive");
  prompt_template_ = options_.prompt_file.empty() ? kDefaultPrompt : read_file(options_.prompt_file);
  if (prompt_template_.find("{chunk}") == std::string::npos) {
    throw invalid_input("{}: the prompt must contain {{chunk}} (where the passage goes)", options_.prompt_file.string());
  }
  if (const char* key = std::getenv(options_.api_key_env.c_str())) api_key_ = key;
  while (!options_.url.empty() && options_.url.back() == '/') options_.url.pop_back();
  if (!options_.cache_dir.empty()) fs::create_directories(options_.cache_dir);
  curl_ = curl_easy_init();
  if (curl_ == nullptr) throw Error(ErrorKind::Internal, "curl_easy_init failed");
  next_request_ = std::chrono::steady_clock::now();
}

LlmQueryWriter::~LlmQueryWriter() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

std::vector<std::string> LlmQueryWriter::queries(const std::string& chunk_text) {
  const std::string prompt =
      fill(fill(prompt_template_, "{count}", std::to_string(options_.queries_per_chunk)), "{chunk}", chunk_text);
  fs::path cached;
  if (!options_.cache_dir.empty()) {
    cached = options_.cache_dir / (cache_key(options_.url + "\n" + options_.model + "\n" + prompt) + ".json");
    if (fs::exists(cached)) {
      ++cache_hits_;
      return parse_query_lines(require_string(read_json_file(cached), "content", cached.string()),
                               options_.queries_per_chunk);
    }
  }
  const std::string content = ask(prompt);
  if (!cached.empty()) write_json_file(cached, Json{{"model", options_.model}, {"content", content}});
  return parse_query_lines(content, options_.queries_per_chunk);
}

std::string LlmQueryWriter::ask(const std::string& prompt) {
  CURL* curl = static_cast<CURL*>(curl_);
  const std::string url = options_.url + "/chat/completions";
  const std::string request =
      Json{{"model", options_.model}, {"messages", {{{"role", "user"}, {"content", prompt}}}}, {"temperature", 0.7}}
          .dump();
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  if (!api_key_.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + api_key_).c_str());
  const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(1.0 / options_.requests_per_second));

  std::string failure;
  for (int attempt = 0; attempt <= options_.max_retries; ++attempt) {
    std::this_thread::sleep_until(next_request_);
    next_request_ = std::chrono::steady_clock::now() + interval;
    std::string body;
    double retry_after = -1;
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.size()));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, read_retry_after);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &retry_after);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout_seconds * 1000));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    ++requests_;
    const CURLcode code = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (code == CURLE_OK && status == 200) {
      curl_slist_free_all(headers);
      Json answer;
      try {
        answer = Json::parse(body);
        return answer.at("choices").at(0).at("message").at("content").get<std::string>();
      } catch (const Json::exception&) {
        throw make_error(ErrorKind::Network, "{}: the answer is not a chat completion (choices[0].message.content): {}",
                         url, body.substr(0, 200));
      }
    }
    const bool retryable = code != CURLE_OK || status == 429 || status >= 500;
    failure = code != CURLE_OK ? curl_easy_strerror(code) : fmt::format("HTTP {}: {}", status, body.substr(0, 200));
    if (!retryable) break;
    if (attempt < options_.max_retries) {
      const double backoff = retry_after >= 0 ? retry_after
                                              : std::min(60.0, options_.initial_backoff_seconds * std::pow(2.0, attempt));
      std::this_thread::sleep_for(std::chrono::duration<double>(backoff));
    }
  }
  curl_slist_free_all(headers);
  throw make_error(ErrorKind::Network, "{}: {} (after {} attempts)", url, failure, options_.max_retries + 1);
}

}  // namespace memembed::tune
