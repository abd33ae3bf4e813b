#include "architecture.h"

#include "memembed/error.h"

namespace memembed::model {

const std::vector<Architecture>& architectures() {
  static const std::vector<Architecture> table = {
      {"BertModel", "bert", build_bert},
      {"XLMRobertaModel", "xlm-roberta", build_xlm_roberta},
      {"RobertaModel", "roberta", build_xlm_roberta},
      {"Gemma3TextModel", "gemma3_text", build_gemma3},
      {"Qwen3Model", "qwen3", build_qwen3},
  };
  return table;
}

std::unique_ptr<Backbone> build_backbone(const HfConfig& config, const WeightSource& weights,
                                         const BackboneOptions& options) {
  const std::string name = config.architecture();
  const std::string model_type = config.model_type();
  for (const auto& row : architectures()) {
    if (name == row.name) return row.build(config, weights, options);
  }
  for (const auto& row : architectures()) {
    if (!model_type.empty() && model_type == row.model_type) return row.build(config, weights, options);
  }
  std::vector<std::string> known;
  for (const auto& row : architectures()) known.push_back(row.name);
  throw unsupported("{}: unknown architecture \"{}\" (model_type \"{}\"); supported: {}", config.where(),
                    name, model_type, fmt::join(known, ", "));
}

}  // namespace memembed::model
