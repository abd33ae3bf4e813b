// Embedders over an embedding provider: memembed's own engine or an OpenAI-compatible endpoint.
#include "memembed/embed.h"
#include "memembed/error.h"
#include "memembed/hub.h"
#include "memembed/memory.h"
#include "memembed/provider.h"
#include "memembed/select.h"

#include <fmt/format.h>

namespace memembed::memory {

namespace fs = std::filesystem;

namespace {

using QueryPrompt = std::function<std::string(std::optional<Category>)>;

class ProviderEmbedder : public Embedder {
 public:
  // `query_prompt(category)` gives the prompt a query of that category gets.
  ProviderEmbedder(std::shared_ptr<const provider::EmbeddingProvider> provider, std::string document_prompt,
                   QueryPrompt query_prompt)
      : provider_(std::move(provider)), document_prompt_(std::move(document_prompt)), query_prompt_(std::move(query_prompt)) {
    identity_.name = provider_->model_name();
    identity_.dims = provider_->dimension();
    // Everything that changes a stored vector: the provider's model identity and the document prompt.
    identity_.fingerprint = provider_->fingerprint();
    if (!document_prompt_.empty()) identity_.fingerprint += ":doc=" + document_prompt_;
  }

  ModelIdentity identity() const override { return identity_; }
  embed::Embeddings embed_documents(const std::vector<std::string>& texts) const override {
    return provider_->embed(texts, document_prompt_);
  }
  embed::Embeddings embed_queries(const std::vector<std::string>& texts, std::optional<Category> category) const override {
    return provider_->embed(texts, query_prompt_(category));
  }

 private:
  std::shared_ptr<const provider::EmbeddingProvider> provider_;
  std::string document_prompt_;
  QueryPrompt query_prompt_;
  ModelIdentity identity_;
};

std::string named_prompt(const provider::EmbeddingProvider& provider, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    if (auto it = provider.prompts().find(name); it != provider.prompts().end()) return it->second;
  }
  return "";
}

// The endpoint an "openai" config names, its dims checked against the config's.
std::shared_ptr<const provider::EmbeddingProvider> open_config_endpoint(const select::EmbedderConfig& config) {
  provider::RemoteOptions remote = provider::remote_options_from_json(config.client, {}, "embedder config: client");
  remote.base_url = config.endpoint.value_or("");
  remote.model = config.model;
  remote.api_key = config.api_key.value_or("");
  remote.expected_dims = static_cast<size_t>(config.dims);
  return provider::open_remote_provider(std::move(remote));
}

}  // namespace

std::shared_ptr<const Embedder> load_model_embedder(const std::string& model, const embed::EncoderOptions& options) {
  provider::ProviderOptions provider_options;
  provider_options.local = options;
  auto provider = provider::open_provider(model, provider_options);
  const std::string query = named_prompt(*provider, {"query"});
  const std::string document = named_prompt(*provider, {"document", "passage"});
  return std::make_shared<ProviderEmbedder>(std::move(provider), document,
                                            [query](std::optional<Category>) { return query; });
}

std::shared_ptr<const Embedder> load_config_embedder(const select::EmbedderConfig& config,
                                                     const embed::EncoderOptions& options,
                                                     std::vector<std::string>& warnings) {
  const auto query_prompt = [config](std::optional<Category> category) {
    return select::format_query(config, category ? to_string(*category) : "DEFAULT", "");
  };
  if (config.provider == "openai") {
    return std::make_shared<ProviderEmbedder>(open_config_endpoint(config), config.document_prompt, query_prompt);
  }
  std::string model = config.model_path.value_or(config.model);
  if (config.fine_tune.enabled) {
    const std::string checkpoint = config.fine_tune.checkpoint_path.value_or("");
    std::error_code ec;
    if (!checkpoint.empty() && fs::is_directory(checkpoint, ec)) {
      model = checkpoint;
    } else {
      if (config.fine_tune.base_model) model = config.model_path.value_or(*config.fine_tune.base_model);
      warnings.push_back(fmt::format(
          "fine_tune.enabled is true but the checkpoint {} does not exist; using the base model {}",
          checkpoint.empty() ? "(no checkpoint_path)" : checkpoint, model));
    }
  }
  auto provider = provider::open_local_provider(model, options);
  if (config.dims > 0 && static_cast<size_t>(config.dims) != provider->dimension()) {
    const size_t native = provider->dimension();
    if (static_cast<size_t>(config.dims) > native) {
      throw invalid_input("embedder config: dims {} but model {} makes {}-dimensional vectors", config.dims, model, native);
    }
    embed::EncoderOptions truncated = options;
    truncated.truncate_dim = static_cast<size_t>(config.dims);  // Matryoshka
    provider = provider::open_local_provider(model, truncated);
  }
  return std::make_shared<ProviderEmbedder>(std::move(provider), config.document_prompt, query_prompt);
}

}  // namespace memembed::memory
