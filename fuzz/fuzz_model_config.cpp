// config.json: every size and flag an architecture reads. The weights are the fixtures' real
// tiny weights (vocabulary cut to kSmallVocab, as in the seeds), chosen by the architecture the
// config names, so a config that loads also runs one forward pass.
#include "architecture.h"
#include "fuzz_target.h"
#include "small_model.h"

#include <c10/core/InferenceMode.h>

#include <map>

namespace {

const memembed::model::WeightSource& weights_for(const std::string& architecture) {
  static const auto sources = [] {
    std::map<std::string, memembed::model::WeightSource> loaded;
    for (const char* name : {"bert-tiny", "gemma3-embed-tiny", "qwen3-embed-tiny"}) {
      loaded.emplace(name, memembed::model::WeightSource::open_directory(memembed::fuzz::small_fixture(name)));
    }
    return loaded;
  }();
  if (architecture.rfind("Gemma", 0) == 0 || architecture.rfind("gemma", 0) == 0) return sources.at("gemma3-embed-tiny");
  if (architecture.rfind("Qwen", 0) == 0 || architecture.rfind("qwen", 0) == 0) return sources.at("qwen3-embed-tiny");
  return sources.at("bert-tiny");
}

}  // namespace

MEMEMBED_FUZZ_TARGET(model_config) {
  using namespace memembed;
  fuzz::refusing_bad_input([&] {
    const model::HfConfig config = model::HfConfig::load(fuzz::write_input(input, "config/config.json"));
    const auto backbone = model::build_backbone(config, weights_for(config.architecture()));
    c10::InferenceMode guard;
    const at::Tensor ids = at::tensor({1, 2, 3}, at::kLong).unsqueeze(0);
    backbone->forward(ids, at::ones_like(ids));
  });
}
