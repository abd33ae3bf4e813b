// Embedders backed by memembed's own engine (embed::Encoder).
#include "memembed/embed.h"
#include "memembed/error.h"
#include "memembed/hub.h"
#include "memembed/memory.h"
#include "memembed/select.h"

#include <fmt/format.h>

namespace memembed::memory {

namespace fs = std::filesystem;

namespace {

class EncoderEmbedder : public Embedder {
 public:
  EncoderEmbedder(const fs::path& dir, const embed::EncoderOptions& options) : dir_(dir), encoder_(dir, options) {
    set_prompts("", [](std::optional<Category>) { return std::string(); });
  }

  // `query_prefix(category)` gives the prompt a query of that category gets.
  void set_prompts(std::string document_prompt, std::function<std::string(std::optional<Category>)> query_prefix) {
    document_prompt_ = std::move(document_prompt);
    query_prefix_ = std::move(query_prefix);
    identity_.name = encoder_.model_name();
    identity_.dims = encoder_.dimension();
    // Everything that changes a stored vector: the files, the truncation and the document prompt.
    identity_.fingerprint = fmt::format("{}:seq{}:dim{}", embed::model_fingerprint(dir_), encoder_.max_seq_length(),
                                        identity_.dims);
    if (!document_prompt_.empty()) identity_.fingerprint += ":doc=" + document_prompt_;
  }

  const embed::Encoder& encoder() const { return encoder_; }
  ModelIdentity identity() const override { return identity_; }
  embed::Embeddings embed_documents(const std::vector<std::string>& texts) const override {
    return encoder_.encode(texts, document_prompt_);
  }
  embed::Embeddings embed_queries(const std::vector<std::string>& texts, std::optional<Category> category) const override {
    return encoder_.encode(texts, query_prefix_(category));
  }

 private:
  fs::path dir_;
  embed::Encoder encoder_;
  std::string document_prompt_;
  std::function<std::string(std::optional<Category>)> query_prefix_;
  ModelIdentity identity_;
};

std::string named_prompt(const embed::Encoder& encoder, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    if (auto it = encoder.prompts().find(name); it != encoder.prompts().end()) return it->second;
  }
  return "";
}

}  // namespace

std::shared_ptr<const Embedder> load_model_embedder(const std::string& model, const embed::EncoderOptions& options) {
  auto embedder = std::make_shared<EncoderEmbedder>(hub::resolve_model(model), options);
  const std::string query = named_prompt(embedder->encoder(), {"query"});
  embedder->set_prompts(named_prompt(embedder->encoder(), {"document", "passage"}),
                        [query](std::optional<Category>) { return query; });
  return embedder;
}

std::shared_ptr<const Embedder> load_config_embedder(const select::EmbedderConfig& config,
                                                     const embed::EncoderOptions& options,
                                                     std::vector<std::string>& warnings) {
  if (config.provider != "local") {
    throw unsupported("embedder config: provider \"{}\" is not available in the memory store; use \"local\"",
                      config.provider);
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
  const fs::path dir = hub::resolve_model(model);
  auto embedder = std::make_shared<EncoderEmbedder>(dir, options);
  if (config.dims > 0 && static_cast<size_t>(config.dims) != embedder->encoder().dimension()) {
    const size_t native = embedder->encoder().dimension();
    if (static_cast<size_t>(config.dims) > native) {
      throw invalid_input("embedder config: dims {} but model {} makes {}-dimensional vectors", config.dims, model, native);
    }
    embed::EncoderOptions truncated = options;
    truncated.truncate_dim = static_cast<size_t>(config.dims);  // Matryoshka
    embedder = std::make_shared<EncoderEmbedder>(dir, truncated);
  }
  embedder->set_prompts(config.document_prompt, [config](std::optional<Category> category) {
    return select::format_query(config, category ? to_string(*category) : "DEFAULT", "");
  });
  return embedder;
}

}  // namespace memembed::memory
