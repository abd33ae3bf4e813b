#include "memembed/error.h"
#include "safetensors.h"
#include "st_modules.h"

namespace memembed::model {

namespace fs = std::filesystem;

namespace {

// sentence-transformers records the activation as the torch class path.
struct DenseActivation {
  const char* class_path;
  at::Tensor (*apply)(const at::Tensor&);
};

const DenseActivation kActivations[] = {
    {"torch.nn.modules.linear.Identity", [](const at::Tensor& x) { return x; }},
    {"torch.nn.modules.activation.Tanh", [](const at::Tensor& x) { return at::tanh(x); }},
    {"torch.nn.modules.activation.ReLU", [](const at::Tensor& x) { return at::relu(x); }},
    {"torch.nn.modules.activation.GELU", [](const at::Tensor& x) { return at::gelu(x); }},
    {"torch.nn.modules.activation.Sigmoid", [](const at::Tensor& x) { return at::sigmoid(x); }},
    {"torch.nn.modules.activation.SiLU", [](const at::Tensor& x) { return at::silu(x); }},
};

const DenseActivation& find_activation(const std::string& name, const fs::path& where) {
  for (const auto& activation : kActivations) {
    if (name == activation.class_path) return activation;
  }
  std::string known;
  for (const auto& activation : kActivations) known += std::string(known.empty() ? "" : ", ") + activation.class_path;
  throw unsupported("{}: activation_function \"{}\" is not supported (known: {})", where.string(), name, known);
}

}  // namespace

std::unique_ptr<DenseModule> DenseModule::load(const fs::path& dir, size_t input_dimension) {
  const fs::path config_path = dir / "config.json";
  const HfConfig config = HfConfig::load(config_path);
  const int64_t in = config.get_size("in_features");
  const int64_t out = config.get_size("out_features");
  if (static_cast<size_t>(in) != input_dimension) {
    throw invalid_input("{}: in_features is {} but the previous stage produces {} dimensions", config_path.string(),
                        in, input_dimension);
  }
  auto module = std::make_unique<DenseModule>();
  module->activation_name_ = config.get_string("activation_function", "torch.nn.modules.activation.Tanh");
  module->activation_ = find_activation(module->activation_name_, config_path).apply;
  const bool has_bias = config.get_bool("bias", true);

  const fs::path weights_path = dir / "model.safetensors";
  if (!fs::exists(weights_path)) {
    throw not_found("{}: missing model.safetensors{}", dir.string(),
                    fs::exists(dir / "pytorch_model.bin") ? " (pytorch_model.bin is not supported; re-save as safetensors)"
                                                          : "");
  }
  const WeightSource weights = WeightSource::open_file(weights_path);
  module->weight_ = weights.load("linear.weight", {out, in});
  if (has_bias) module->bias_ = weights.load("linear.bias", {out});
  return module;
}

void DenseModule::forward(Features& features) const {
  const at::Tensor projected = at::linear(features.sentence_embedding, weight_, bias_.defined() ? bias_ : at::Tensor());
  features.sentence_embedding = activation_(projected);
}

std::vector<at::Tensor> DenseModule::parameters() const {
  if (bias_.defined()) return {weight_, bias_};
  return {weight_};
}

void DenseModule::save(const fs::path& dir) const {
  fs::create_directories(dir);
  write_json_file(dir / "config.json", Json{{"in_features", weight_.size(1)},
                                            {"out_features", weight_.size(0)},
                                            {"bias", bias_.defined()},
                                            {"activation_function", activation_name_}});
  std::vector<std::pair<std::string, at::Tensor>> tensors = {{"linear.weight", weight_}};
  if (bias_.defined()) tensors.emplace_back("linear.bias", bias_);
  write_safetensors(dir / "model.safetensors", tensors);
}

void NormalizeModule::forward(Features& features) const {
  // torch.nn.functional.normalize: x / max(||x||, eps)
  const at::Tensor& x = features.sentence_embedding;
  features.sentence_embedding = x / x.norm(2, -1, /*keepdim=*/true).clamp_min(1e-12);
}

}  // namespace memembed::model
