// The OpenAI-compatible client's settings as options of every command that takes a model address
// (embed, eval, bench): they apply when --model is openai:URL#MODEL (docs/providers.md).
#pragma once

#include "memembed/provider.h"

#include <CLI/CLI.hpp>

namespace memembed::cli {

inline void add_endpoint_options(CLI::App* command, provider::RemoteOptions& remote) {
  const std::string group = "Endpoint (--model openai:URL#MODEL; key from $MEMEMBED_API_KEY)";
  command->add_option("--endpoint-batch", remote.max_batch_texts, "Most texts per request")
      ->group(group)
      ->capture_default_str();
  command->add_option("--endpoint-batch-tokens", remote.max_batch_tokens,
                      "Most estimated tokens (UTF-8 bytes / 3) per request")
      ->group(group)
      ->capture_default_str();
  command->add_option("--concurrency", remote.concurrency, "Requests in flight")->group(group)->capture_default_str();
  command->add_option("--requests-per-second", remote.requests_per_second, "Request start rate limit (0 = none)")
      ->group(group);
  command->add_option("--request-timeout", remote.timeout_s, "Seconds per request before it is retried")
      ->group(group)
      ->capture_default_str();
  command->add_option("--max-retries", remote.max_retries, "Retries on 429/5xx/timeouts (exponential backoff, Retry-After)")
      ->group(group)
      ->capture_default_str();
  command->add_option("--encoding-format", remote.encoding_format, "float or base64")
      ->group(group)
      ->check(CLI::IsMember({"float", "base64"}))
      ->capture_default_str();
  command->add_option("--dimensions", remote.dimensions, "Sent as \"dimensions\" (Matryoshka models; 0 = not sent)")
      ->group(group);
  command->add_option("--endpoint-dims", remote.expected_dims,
                      "Vector size every answer must have (skips the probe request; 0 = learn it)")
      ->group(group);
}

}  // namespace memembed::cli
