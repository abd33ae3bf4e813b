#include "architecture.h"
#include "memembed/error.h"
#include "st_modules.h"

#include <fstream>

namespace memembed::model {

namespace fs = std::filesystem;

namespace {
// Tokenizer and config files travel with the weights when a model is saved.
constexpr const char* kTokenizerFiles[] = {"tokenizer.json", "tokenizer.model", "spiece.model", "vocab.txt",
                                           "vocab.json", "merges.txt", "tokenizer_config.json",
                                           "special_tokens_map.json", "added_tokens.json"};
}  // namespace

TransformerModule::TransformerModule(fs::path dir, HfConfig config, std::unique_ptr<Backbone> backbone,
                                     size_t max_seq_length, bool do_lower_case)
    : dir_(std::move(dir)),
      config_(std::move(config)),
      backbone_(std::move(backbone)),
      max_seq_length_(max_seq_length),
      do_lower_case_(do_lower_case) {}

std::unique_ptr<TransformerModule> TransformerModule::load(const fs::path& dir, const BackboneOptions& options) {
  HfConfig config = HfConfig::load(dir / "config.json");
  const WeightSource weights = WeightSource::open_directory(dir);
  std::unique_ptr<Backbone> backbone = build_backbone(config, weights, options);

  size_t max_seq_length = static_cast<size_t>(backbone->max_positions());
  bool do_lower_case = false;
  const fs::path st_config_path = dir / "sentence_bert_config.json";
  if (fs::exists(st_config_path)) {
    const HfConfig st_config = HfConfig::load(st_config_path);
    const int64_t declared = st_config.get_int("max_seq_length", static_cast<int64_t>(max_seq_length));
    if (declared <= 0) {
      throw invalid_input("{}: max_seq_length must be positive, got {}", st_config_path.string(), declared);
    }
    max_seq_length = std::min(max_seq_length, static_cast<size_t>(declared));
    do_lower_case = st_config.get_bool("do_lower_case", false);
  }
  return std::make_unique<TransformerModule>(dir, std::move(config), std::move(backbone), max_seq_length,
                                             do_lower_case);
}

void TransformerModule::forward(Features& features) const {
  features.token_embeddings = backbone_->forward(features.input_ids, features.attention_mask);
}

void TransformerModule::save(const fs::path& dir) const {
  const auto weights = backbone_->named_weights();  // throws before anything is written (inference-only)
  fs::create_directories(dir);
  write_json_file(dir / "config.json", config_.json());
  write_safetensors(dir / "model.safetensors", weights, {{"format", "pt"}});
  write_json_file(dir / "sentence_bert_config.json",
                  Json{{"max_seq_length", max_seq_length_}, {"do_lower_case", do_lower_case_}});
  for (const char* name : kTokenizerFiles) {
    const fs::path source = dir_ / name;
    if (fs::exists(source) && !fs::equivalent(dir_, dir)) {
      fs::copy_file(source, dir / name, fs::copy_options::overwrite_existing);
    }
  }
}

}  // namespace memembed::model
