// The architecture registry: one row per supported `config.json` architecture, holding the
// builder that reads its weights. Lookup uses architectures[0], falling back to model_type.
#pragma once

#include "backbone.h"
#include "hf_config.h"
#include "safetensors.h"

#include <memory>
#include <string>
#include <vector>

namespace memembed::model {

using BackboneBuilder = std::unique_ptr<Backbone> (*)(const HfConfig& config, const WeightSource& weights,
                                                      const BackboneOptions& options);

struct Architecture {
  const char* name;        // e.g. "BertModel"
  const char* model_type;  // e.g. "bert"
  BackboneBuilder build;
};

// The registered architectures, for listings and error messages.
const std::vector<Architecture>& architectures();

// Builds the backbone for `config`; Unsupported (listing the known names) when none matches.
std::unique_ptr<Backbone> build_backbone(const HfConfig& config, const WeightSource& weights,
                                         const BackboneOptions& options = {});

// Builders, one per arch_<name>.cpp.
std::unique_ptr<Backbone> build_bert(const HfConfig& config, const WeightSource& weights, const BackboneOptions& options);
std::unique_ptr<Backbone> build_xlm_roberta(const HfConfig& config, const WeightSource& weights,
                                            const BackboneOptions& options);
std::unique_ptr<Backbone> build_gemma3(const HfConfig& config, const WeightSource& weights,
                                       const BackboneOptions& options);
std::unique_ptr<Backbone> build_qwen3(const HfConfig& config, const WeightSource& weights,
                                      const BackboneOptions& options);

}  // namespace memembed::model
