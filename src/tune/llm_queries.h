// Retrieval queries written by an LLM through an OpenAI-compatible chat completions endpoint
// (POST <url>/chat/completions), for `tune generate` with --llm-url.
//
// The prompt is a file the user can change ({chunk} and {count} are filled in); the answer is one
// query per line (numbering and bullets are stripped). Requests are spaced to the rate limit;
// 429, 5xx and transport failures are retried with exponential backoff (Retry-After honoured);
// other statuses are errors naming the status and the start of the body. Answers are cached on
// disk, keyed by (url, model, filled prompt), so a rerun or a resumed run asks nothing twice.
#pragma once

#include "memembed/tune.h"

#include <chrono>
#include <string>
#include <vector>

namespace memembed::tune {

class LlmQueryWriter {
 public:
  explicit LlmQueryWriter(LlmOptions options);
  ~LlmQueryWriter();
  LlmQueryWriter(const LlmQueryWriter&) = delete;
  LlmQueryWriter& operator=(const LlmQueryWriter&) = delete;

  std::vector<std::string> queries(const std::string& chunk_text);

  size_t requests() const { return requests_; }      // HTTP requests made (retries included)
  size_t cache_hits() const { return cache_hits_; }

 private:
  std::string ask(const std::string& prompt);         // the answer's message content

  LlmOptions options_;
  std::string prompt_template_;
  std::string api_key_;
  void* curl_ = nullptr;
  std::chrono::steady_clock::time_point next_request_;
  size_t requests_ = 0;
  size_t cache_hits_ = 0;
};

// The answer's lines as queries: bullets, numbering and surrounding quotes removed, empty and
// duplicate lines dropped, at most `count`.
std::vector<std::string> parse_query_lines(const std::string& answer, size_t count);

}  // namespace memembed::tune
