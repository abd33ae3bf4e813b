// provider: where embeddings come from - memembed's own engine (embed::Encoder) or a model served
// behind an OpenAI-compatible POST /v1/embeddings (Text Embeddings Inference, vLLM, Ollama,
// llama.cpp's server, OpenAI, another `memembed serve`). Everything that embeds (embed, eval,
// tune, the memory store, serve) takes an EmbeddingProvider, so a GPU-hosted model is used
// exactly where a local one would be.
//
// Model addresses (open_provider):
//   a model directory or ORG/NAME      the local engine (pull cache), as before
//   openai:URL#MODEL                   POST URL/embeddings with "model": MODEL, e.g.
//                                      openai:http://gpu-box:8080/v1#BAAI/bge-multilingual-gemma2
// The API key comes from RemoteOptions::api_key (the embedder config) or $MEMEMBED_API_KEY; it is
// sent as "Authorization: Bearer" and never printed, logged or put in an error message.
//
// Prompts are memembed's business for both kinds: the text sent is (prompt + text).strip(), the
// same string the local engine tokenises, so the endpoint receives the final text.
#pragma once

#include "memembed/embed.h"
#include "memembed/json_io.h"

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace memembed::provider {

class EmbeddingProvider {
 public:
  virtual ~EmbeddingProvider() = default;

  // [texts.size() x dimension()] in input order. Safe to call from many threads at once.
  virtual embed::Embeddings embed(const std::vector<std::string>& texts, const std::string& prompt = "") const = 0;
  virtual size_t dimension() const = 0;
  // For people and result files: the hub id or directory name; "openai:URL#MODEL" for an endpoint.
  virtual std::string model_name() const = 0;
  // Everything that changes a vector (model files, truncation, length limit; endpoint + model +
  // dims), for embedding caches and the memory store's vector sets.
  virtual std::string fingerprint() const = 0;
  // Named prompts (config_sentence_transformers.json); none for an endpoint.
  virtual const std::map<std::string, std::string>& prompts() const = 0;
  // The local engine behind this provider (its tokenizer, similarity, precision); nullptr for an
  // endpoint.
  virtual const embed::Encoder* local_encoder() const { return nullptr; }
};

// How the OpenAI-compatible client talks to an endpoint.
struct RemoteOptions {
  std::string base_url;  // ".../v1": requests go to base_url + "/embeddings"
  std::string model;     // the request's "model"
  std::string api_key;   // empty: $MEMEMBED_API_KEY when set, else no Authorization header
  // Batching: a request holds at most this many texts and this many estimated tokens (UTF-8
  // bytes / 3, rounded up: conservative for English, where a token is about 4 characters). A
  // single text over the token budget travels alone.
  size_t max_batch_texts = 32;
  size_t max_batch_tokens = 8192;
  size_t concurrency = 4;            // requests in flight
  double requests_per_second = 0;    // start rate across all threads; 0 = no limit
  double timeout_s = 60;             // whole request, connection included
  double connect_timeout_s = 10;
  // Retries on 408, 429, 5xx, timeouts and cut connections (a refused connection or unknown host
  // fails at once). The wait is the answer's Retry-After when it has one (at most
  // max_retry_after_s; more is an error saying so), else exponential backoff with jitter:
  // uniform in [b/2, b] with b = min(backoff_max_s, backoff_initial_s * 2^attempt).
  int max_retries = 6;
  double backoff_initial_s = 0.5;
  double backoff_max_s = 30;
  double max_retry_after_s = 120;
  std::string encoding_format = "float";  // or "base64" (little-endian float32, as OpenAI sends)
  size_t dimensions = 0;     // > 0: sent as "dimensions" (Matryoshka models, OpenAI text-embedding-3)
  size_t expected_dims = 0;  // > 0: every vector must have it; 0: `dimensions`, else learnt by one
                             // probe request when the provider opens
  bool show_progress = false;  // texts, rate and ETA on stderr for calls over one batch
};

struct ProviderOptions {
  embed::EncoderOptions local;
  RemoteOptions remote;  // base_url and model come from the address
};

// `base` with the settings of a JSON object (the embedder config's "client"): max_batch_texts,
// max_batch_tokens, concurrency, requests_per_second, timeout_s, connect_timeout_s, max_retries,
// backoff_initial_s, backoff_max_s, max_retry_after_s, encoding_format, dimensions. An unknown key
// or a value of the wrong type is InvalidInput naming `where` and the field.
RemoteOptions remote_options_from_json(const Json& settings, RemoteOptions base, const std::string& where);

// The prompt for an embed call as `memembed embed` chooses it: an explicit `prompt` wins, else the
// prompt named `prompt_name` (InvalidInput when the provider has none by that name; an endpoint
// has none), else the local model's default prompt, else none.
std::string select_prompt(const EmbeddingProvider& provider, const std::optional<std::string>& prompt,
                          const std::string& prompt_name);

// `memembed bench` on an endpoint: (1) query latency - `latency_requests` single-text calls one
// after another (after one warm-up call); (2) throughput - `texts` in calls of `batch_texts` with
// `concurrency` calls in flight, each call timed. Percentiles are nearest-rank.
struct EndpointBenchOptions {
  size_t latency_requests = 50;
  size_t batch_texts = 32;
  size_t concurrency = 4;
};
struct LatencySummary {
  double p50_ms = 0;
  double p99_ms = 0;
  size_t samples = 0;
};
struct EndpointBenchResult {
  LatencySummary query_latency;  // one text per call, nothing else in flight
  LatencySummary call_latency;   // one batch per call, under the throughput run's load
  double texts_per_second = 0;
  double seconds = 0;            // wall time of the throughput run
  size_t texts = 0;
};
EndpointBenchResult bench_endpoint(const EmbeddingProvider& provider, const std::vector<std::string>& texts,
                                   const EndpointBenchOptions& options);
LatencySummary summarise_latencies(std::vector<double> milliseconds);

// True for "openai:..." addresses.
bool is_remote_address(const std::string& model);

// Opens the provider a model address names (see the top of this header). An "openai:" address
// without "#MODEL" or with a URL other than http(s) is InvalidInput naming it.
std::shared_ptr<const EmbeddingProvider> open_provider(const std::string& model, const ProviderOptions& options = {});
std::shared_ptr<const EmbeddingProvider> open_local_provider(const std::string& model,
                                                             const embed::EncoderOptions& options = {});
// Network error naming the URL when the endpoint cannot be reached (after the retries);
// InvalidInput when its answer breaks the contract (wrong dims, missing or repeated index).
std::shared_ptr<const EmbeddingProvider> open_remote_provider(RemoteOptions options);

}  // namespace memembed::provider
