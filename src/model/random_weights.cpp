#include "architecture.h"
#include "memembed/error.h"
#include "memembed/model.h"

namespace memembed::model {

namespace fs = std::filesystem;

void write_random_weights(const fs::path& model_dir, uint64_t seed) {
  const HfConfig config = HfConfig::load(model_dir / "config.json");
  // Gemma's RMSNorm scales by (1 + w): a zero weight is the neutral one.
  const bool zero_centered_norms = config.model_type().rfind("gemma", 0) == 0;
  const auto backbone = build_backbone(config, WeightSource::random(seed, zero_centered_norms));
  write_safetensors(model_dir / "model.safetensors", backbone->named_weights(), {{"format", "pt"}});

  const fs::path modules_path = model_dir / "modules.json";
  if (!fs::exists(modules_path)) return;
  const Json modules = read_json_file(modules_path);
  uint64_t stage_seed = seed;
  for (const auto& entry : modules) {
    const std::string type = entry.value("type", "");
    if (type.size() < 5 || type.compare(type.size() - 5, 5, "Dense") != 0) continue;
    const fs::path dir = model_dir / entry.value("path", "");
    const HfConfig dense = HfConfig::load(dir / "config.json");
    const int64_t in = dense.get_size("in_features"), out = dense.get_size("out_features");
    const WeightSource random = WeightSource::random(++stage_seed, false);
    std::vector<std::pair<std::string, at::Tensor>> tensors = {{"linear.weight", random.load("linear.weight", {out, in})}};
    if (dense.get_bool("bias", true)) tensors.emplace_back("linear.bias", random.load("linear.bias", {out}));
    write_safetensors(dir / "model.safetensors", tensors);
  }
}

}  // namespace memembed::model
