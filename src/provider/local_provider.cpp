// The local engine as an EmbeddingProvider: an embed::Encoder over a model directory.
#include "memembed/embed.h"
#include "memembed/hub.h"
#include "memembed/model.h"
#include "memembed/provider.h"

#include <fmt/format.h>

namespace memembed::provider {

namespace {

class LocalProvider : public EmbeddingProvider {
 public:
  LocalProvider(const std::filesystem::path& dir, const embed::EncoderOptions& options)
      : encoder_(dir, options),
        // The memory store's vector-set identity since the store exists: keep it, so stores made
        // before providers keep matching their model.
        fingerprint_(fmt::format("{}:seq{}:dim{}", embed::model_fingerprint(dir), encoder_.max_seq_length(),
                                 encoder_.dimension())) {}

  embed::Embeddings embed(const std::vector<std::string>& texts, const std::string& prompt) const override {
    return encoder_.encode(texts, prompt);
  }
  size_t dimension() const override { return encoder_.dimension(); }
  std::string model_name() const override { return encoder_.model_name(); }
  std::string fingerprint() const override { return fingerprint_; }
  const std::map<std::string, std::string>& prompts() const override { return encoder_.prompts(); }
  const embed::Encoder* local_encoder() const override { return &encoder_; }

 private:
  embed::Encoder encoder_;
  std::string fingerprint_;
};

}  // namespace

std::shared_ptr<const EmbeddingProvider> open_local_provider(const std::string& model,
                                                             const embed::EncoderOptions& options) {
  return std::make_shared<LocalProvider>(hub::resolve_model(model), options);
}

}  // namespace memembed::provider
