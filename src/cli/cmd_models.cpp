// `memembed models`: the model registry as a table or JSON, with local evidence merged in.
#include "commands.h"
#include "memembed/error.h"
#include "memembed/select.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace memembed::cli {

namespace {

namespace sel = memembed::select;

struct ModelsOptions {
  std::string tier;
  std::string max_params;
  std::string min_params;
  std::string type;
  std::vector<std::string> evidence;
  std::vector<std::string> bench;
  std::string registry;
  bool json = false;
};

// A table cell: the best score, "i" when it is with instructions, "m" when measured locally.
std::string score_cell(const sel::ModelInfo& model, sel::MemoryType type) {
  const auto best = model.best_score(type);
  if (!best) return "-";
  return fmt::format("{:.2f}{}{}", best->score.ndcg10, best->setting == sel::Instructions::On ? "i" : "",
                     best->score.measured ? "m" : "");
}

std::string memory_cell(const sel::ModelInfo& model, sel::Device device) {
  const auto estimate = sel::estimate_memory(model, device);
  return estimate ? sel::format_bytes(estimate->bytes) : "?";
}

void run_models(const ModelsOptions& options) {
  std::optional<sel::Tier> tier;
  if (!options.tier.empty()) tier = sel::parse_tier(options.tier);
  std::optional<double> max_params;
  std::optional<double> min_params;
  if (!options.max_params.empty()) max_params = sel::parse_param_count(options.max_params, "--max-params");
  if (!options.min_params.empty()) min_params = sel::parse_param_count(options.min_params, "--min-params");
  std::optional<sel::MemoryType> type;
  if (!options.type.empty()) type = sel::parse_memory_type(options.type);

  std::vector<std::filesystem::path> evidence(options.evidence.begin(), options.evidence.end());
  std::vector<std::filesystem::path> bench(options.bench.begin(), options.bench.end());
  const sel::Registry registry = sel::load_registry(
      options.registry.empty() ? std::nullopt : std::optional<std::filesystem::path>(options.registry), evidence,
      bench);

  std::vector<const sel::ModelInfo*> shown;
  for (const sel::ModelInfo& model : registry.models()) {
    const bool has_size = model.params.has_value();
    if (tier && sel::tier_of(model) != tier) continue;
    if (max_params && (!has_size || model.params->value > *max_params)) continue;
    if (min_params && (!has_size || model.params->value < *min_params)) continue;
    if (type && !model.best_score(*type)) continue;
    shown.push_back(&model);
  }
  if (type) {
    std::stable_sort(shown.begin(), shown.end(), [&](const sel::ModelInfo* a, const sel::ModelInfo* b) {
      return a->best_score(*type)->score.ndcg10 > b->best_score(*type)->score.ndcg10;
    });
  }

  if (options.json) {
    Json out = Json::array();
    for (const sel::ModelInfo* model : shown) out.push_back(sel::to_json(*model));
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  std::printf("%-32s %7s %-13s %5s %9s %9s %8s %8s %8s %8s %6s  %-20s %s\n", "model", "params", "tier", "dims",
              "RAM f32", "VRAM bf16", "epi", "dia", "sem", "pro", "mean", "instructions", "licence");
  for (const sel::ModelInfo* model : shown) {
    const auto model_tier = sel::tier_of(*model);
    const auto mean = model->best_mean_type();
    std::printf("%-32s %7s %-13s %5s %9s %9s %8s %8s %8s %8s %6s  %-20s %s\n", model->name.c_str(),
                model->params ? sel::format_params(model->params->value).c_str() : "?",
                model_tier ? sel::to_string(*model_tier) : "?",
                model->dims ? std::to_string(model->dims->value).c_str() : "?",
                memory_cell(*model, sel::Device::Cpu).c_str(), memory_cell(*model, sel::Device::Gpu).c_str(),
                score_cell(*model, sel::MemoryType::Episodic).c_str(),
                score_cell(*model, sel::MemoryType::Dialogue).c_str(),
                score_cell(*model, sel::MemoryType::Semantic).c_str(),
                score_cell(*model, sel::MemoryType::Procedural).c_str(),
                mean ? fmt::format("{:.2f}", *mean).c_str() : "-", sel::instruction_policy(*model).c_str(),
                model->licence ? model->licence->value.c_str() : "?");
  }
  std::printf("\n%zu of %zu models. Scores: LMEB NDCG@10 x100, the better instruction setting per type "
              "(i = with instructions, m = measured on your tasks); dialogue = SOCIAL memories.\n"
              "Memory: estimated from the parameter count unless measured (docs/registry.md).\n",
              shown.size(), registry.models().size());
}

}  // namespace

void add_models_command(CLI::App& app) {
  auto options = std::make_shared<ModelsOptions>();
  CLI::App* command = app.add_subcommand("models", "List the model registry: sizes, memory, LMEB scores, licences");
  command->add_option("--tier", options->tier, "Only this size class: cpu (<1B), consumer-gpu (1B-6B), gpu-server");
  command->add_option("--max-params", options->max_params, "Only models up to this size, e.g. 600M or 4B");
  command->add_option("--min-params", options->min_params, "Only models of at least this size");
  command->add_option("--type", options->type,
                      "Only models with evidence for this memory type, best first (episodic, dialogue/social, "
                      "semantic, procedural)");
  command->add_option("--evidence", options->evidence, "Directory written by `memembed eval --out DIR` (repeatable)");
  command->add_option("--bench", options->bench, "JSON from `memembed bench --json FILE` (repeatable)");
  command->add_option("--registry", options->registry, "Registry file to use instead of the built-in one");
  command->add_flag("--json", options->json, "Print the entries as JSON");
  command->callback([options] { run_models(*options); });
}

}  // namespace memembed::cli
