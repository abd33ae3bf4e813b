// Model addresses: "openai:URL#MODEL" for an endpoint, anything else for the local engine.
#include "memembed/error.h"
#include "memembed/provider.h"

#include <functional>

namespace memembed::provider {

namespace {
constexpr std::string_view kRemotePrefix = "openai:";
}

bool is_remote_address(const std::string& model) { return model.rfind(kRemotePrefix, 0) == 0; }

std::shared_ptr<const EmbeddingProvider> open_provider(const std::string& model, const ProviderOptions& options) {
  if (!is_remote_address(model)) return open_local_provider(model, options.local);
  const std::string rest = model.substr(kRemotePrefix.size());
  const size_t hash = rest.rfind('#');
  if (hash == std::string::npos || hash + 1 == rest.size()) {
    throw invalid_input("--model {}: an endpoint is addressed as openai:URL#MODEL (e.g. "
                        "openai:http://gpu-box:8080/v1#BAAI/bge-m3); the #MODEL part is missing",
                        model);
  }
  RemoteOptions remote = options.remote;
  remote.base_url = rest.substr(0, hash);
  remote.model = rest.substr(hash + 1);
  return open_remote_provider(std::move(remote));
}

RemoteOptions remote_options_from_json(const Json& settings, RemoteOptions base, const std::string& where) {
  if (!settings.is_object()) throw invalid_input("{}: the client settings must be a JSON object", where);
  const auto count = [&](const std::string& key, size_t& target) {
    const Json& value = settings.at(key);
    if (!value.is_number_integer() || value.get<int64_t>() < 0)
      throw invalid_input("{}: \"{}\" must be a non-negative integer", where, key);
    target = value.get<size_t>();
  };
  const auto seconds = [&](const std::string& key, double& target) {
    const Json& value = settings.at(key);
    if (!value.is_number() || value.get<double>() < 0) throw invalid_input("{}: \"{}\" must be a non-negative number", where, key);
    target = value.get<double>();
  };
  const std::map<std::string, std::function<void(const std::string&)>> fields = {
      {"max_batch_texts", [&](const std::string& k) { count(k, base.max_batch_texts); }},
      {"max_batch_tokens", [&](const std::string& k) { count(k, base.max_batch_tokens); }},
      {"concurrency", [&](const std::string& k) { count(k, base.concurrency); }},
      {"dimensions", [&](const std::string& k) { count(k, base.dimensions); }},
      {"requests_per_second", [&](const std::string& k) { seconds(k, base.requests_per_second); }},
      {"timeout_s", [&](const std::string& k) { seconds(k, base.timeout_s); }},
      {"connect_timeout_s", [&](const std::string& k) { seconds(k, base.connect_timeout_s); }},
      {"backoff_initial_s", [&](const std::string& k) { seconds(k, base.backoff_initial_s); }},
      {"backoff_max_s", [&](const std::string& k) { seconds(k, base.backoff_max_s); }},
      {"max_retry_after_s", [&](const std::string& k) { seconds(k, base.max_retry_after_s); }},
      {"max_retries",
       [&](const std::string& k) {
         size_t retries = 0;
         count(k, retries);
         base.max_retries = static_cast<int>(retries);
       }},
      {"encoding_format", [&](const std::string& k) { base.encoding_format = require_string(settings, "encoding_format", where); }},
  };
  for (const auto& [key, value] : settings.items()) {
    const auto field = fields.find(key);
    if (field == fields.end()) throw invalid_input("{}: unknown client setting \"{}\"", where, key);
    field->second(key);
  }
  return base;
}

std::string select_prompt(const EmbeddingProvider& provider, const std::optional<std::string>& prompt,
                          const std::string& prompt_name) {
  if (const embed::Encoder* encoder = provider.local_encoder()) return encoder->select_prompt(prompt, prompt_name);
  if (prompt && !prompt_name.empty()) throw invalid_input("give either a prompt (--prompt) or a prompt name (--prompt-name), not both");
  if (!prompt_name.empty()) {
    throw invalid_input("{} has no named prompts (an endpoint does not publish them); give the text with --prompt",
                        provider.model_name());
  }
  return prompt.value_or("");
}

}  // namespace memembed::provider
