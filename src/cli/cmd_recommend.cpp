// `memembed recommend`: the model to run for the user's memory priorities and resources, and
// optionally the embedder configuration that `memembed serve` reads.
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

struct RecommendOptions {
  std::string ram;
  std::string vram;
  bool cpu_only = false;
  std::string latency_ms;
  std::string priority;
  std::string languages;
  std::vector<std::string> evidence;
  std::vector<std::string> bench;
  std::string registry;
  size_t top = 5;
  bool json = false;
  std::string write_config;
};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    std::string item = text.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

sel::Request build_request(const RecommendOptions& options) {
  sel::Request request;
  if (!options.ram.empty()) request.ram_bytes = sel::parse_size(options.ram, "--ram");
  if (!options.vram.empty()) request.vram_bytes = sel::parse_size(options.vram, "--vram");
  request.cpu_only = options.cpu_only;
  if (!options.latency_ms.empty()) {
    size_t used = 0;
    double value = 0;
    try {
      value = std::stod(options.latency_ms, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != options.latency_ms.size())
      throw invalid_input("--latency-ms: \"{}\" is not a number of milliseconds", options.latency_ms);
    if (!(value > 0)) throw invalid_input("--latency-ms: must be greater than zero, got {}", options.latency_ms);
    request.latency_ms = value;
  }
  if (!options.priority.empty()) request.priorities = sel::parse_priorities(options.priority);
  request.languages = split_list(options.languages);
  request.top = options.top;
  sel::validate(request);
  return request;
}

// "off", "on", or the categories that use instructions when the evidence splits.
std::string instruction_summary(const sel::Candidate& candidate, const sel::Priorities& priorities) {
  std::vector<std::string> on;
  size_t considered = 0;
  for (const sel::MemoryType type : sel::kMemoryTypes) {
    const int i = static_cast<int>(type);
    if (priorities.weight(type) <= 0 || !candidate.type_scores[i]) continue;
    ++considered;
    if (candidate.instructions[i] == sel::Instructions::On) on.push_back(sel::category_name(type));
  }
  if (on.empty()) return "off";
  if (on.size() == considered) return "on";
  std::string text = "on for";
  for (const std::string& name : on) text += " " + name;
  return text;
}

std::string type_cell(const sel::Candidate& candidate, sel::MemoryType type) {
  const int i = static_cast<int>(type);
  if (!candidate.type_scores[i]) return "-";
  return fmt::format("{:.2f}{}", *candidate.type_scores[i], candidate.measured[i] ? "m" : "");
}

void print_candidate_summary(const sel::Candidate& candidate, const sel::Request& request) {
  const sel::ModelInfo& model = candidate.model;
  std::printf("Recommended: %s%s\n", model.name.c_str(),
              model.hf_id ? fmt::format(" ({})", model.hf_id->value).c_str() : "");
  std::printf("  score %.2f (LMEB NDCG@10 x100, weighted %s)\n", candidate.score,
              sel::describe(request.priorities).c_str());
  const std::string instructions = instruction_summary(candidate, request.priorities);
  std::printf("  query instructions: %s%s\n", instructions.c_str(),
              instructions == "off" ? "" : " (template \"Instruct: {instruction}\\nQuery:\")");
  if (candidate.memory) {
    std::printf("  runs on %s in %s, ~%s %s\n", candidate.device == sel::Device::Gpu ? "GPU" : "CPU",
                candidate.dtype.c_str(), sel::format_bytes(candidate.memory->bytes).c_str(),
                candidate.device == sel::Device::Gpu ? "VRAM" : "RAM");
  }
  std::printf("  why:\n");
  for (const std::string& reason : candidate.reasons) std::printf("    - %s\n", reason.c_str());
  if (!candidate.unknowns.empty()) {
    std::printf("  unknown:\n");
    for (const std::string& unknown : candidate.unknowns) std::printf("    - %s\n", unknown.c_str());
  }
}

void print_text(const sel::Recommendation& result) {
  const sel::Request& request = result.request;
  if (result.ranked.empty()) {
    std::printf("No scored model fits this request.\n");
  } else {
    print_candidate_summary(result.ranked.front(), request);
  }

  if (!result.ranked.empty()) {
    const size_t shown = std::min(request.top, result.ranked.size());
    std::printf("\nRanking (%zu of %zu models that fit; m = measured on your tasks):\n", shown, result.ranked.size());
    std::printf("  %-3s %-32s %7s %6s %7s %7s %7s %7s  %-22s %-10s %s\n", "#", "model", "params", "score", "epi",
                "dia", "sem", "pro", "instructions", "memory", "latency");
    for (size_t i = 0; i < shown; ++i) {
      const sel::Candidate& c = result.ranked[i];
      std::printf("  %-3zu %-32s %7s %6.2f %7s %7s %7s %7s  %-22s %-10s %s\n", i + 1, c.model.name.c_str(),
                  c.model.params ? sel::format_params(c.model.params->value).c_str() : "?", c.score,
                  type_cell(c, sel::MemoryType::Episodic).c_str(), type_cell(c, sel::MemoryType::Dialogue).c_str(),
                  type_cell(c, sel::MemoryType::Semantic).c_str(), type_cell(c, sel::MemoryType::Procedural).c_str(),
                  instruction_summary(c, request.priorities).c_str(),
                  c.memory ? sel::format_bytes(c.memory->bytes).c_str() : "?",
                  c.latency ? fmt::format("{:.1f} ms{}", c.latency->ms, c.latency->measured ? "" : " (est.)").c_str()
                            : "-");
    }
  }

  if (!result.unranked.empty()) {
    std::printf("\nFit, but not ranked (no evidence for a weighted memory type; run `memembed eval` on them):\n  ");
    for (size_t i = 0; i < result.unranked.size(); ++i)
      std::printf("%s%s", i ? ", " : "", result.unranked[i].model.name.c_str());
    std::printf("\n");
  }
  if (!result.excluded.empty()) {
    std::printf("\nExcluded (%zu):\n", result.excluded.size());
    for (const sel::Exclusion& exclusion : result.excluded)
      std::printf("  %s: %s\n", exclusion.model.c_str(), exclusion.reason.c_str());
  }

  std::printf("\nTiers (best per size class under these priorities):\n");
  for (const sel::TierSummary& tier : result.tiers) {
    std::string line = fmt::format("  {:<22}", sel::describe(tier.tier));
    if (tier.best) {
      const sel::Candidate& best = *tier.best;
      line += fmt::format(" {} {:.2f}, instructions {}", best.model.name, best.score,
                          instruction_summary(best, request.priorities));
      if (best.memory) {
        line += fmt::format(", ~{} {}", sel::format_bytes(best.memory->bytes),
                            best.device == sel::Device::Gpu ? "VRAM" : "RAM");
      }
    }
    if (tier.best_fitting && (!tier.best || tier.best_fitting->model.id != tier.best->model.id)) {
      line += fmt::format("; best that fits: {} {:.2f}", tier.best_fitting->model.name, tier.best_fitting->score);
    }
    std::printf("%s\n", line.c_str());
    if (!tier.note.empty()) std::printf("  %-22s (%s)\n", "", tier.note.c_str());
  }

  std::printf("\nNotes:\n");
  for (const std::string& note : result.notes) std::printf("  - %s\n", note.c_str());
}

void run_recommend(const RecommendOptions& options) {
  const sel::Request request = build_request(options);
  std::vector<std::filesystem::path> evidence(options.evidence.begin(), options.evidence.end());
  std::vector<std::filesystem::path> bench(options.bench.begin(), options.bench.end());
  const sel::Registry registry = sel::load_registry(
      options.registry.empty() ? std::nullopt : std::optional<std::filesystem::path>(options.registry), evidence,
      bench);
  const sel::Recommendation result = sel::recommend(registry, request);

  std::optional<sel::EmbedderConfig> config;
  if (!options.write_config.empty()) {
    if (result.ranked.empty()) {
      throw invalid_input("--write-config {}: no scored model fits this request, so there is nothing to write",
                          options.write_config);
    }
    config = sel::make_embedder_config(result.ranked.front(), request);
    sel::save_embedder_config(options.write_config, *config);
  }

  if (options.json) {
    Json out = sel::to_json(result);
    if (config) out["config_written"] = {{"path", options.write_config}, {"config", sel::to_json(*config)}};
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  print_text(result);
  if (config) {
    std::size_t with_instructions = 0;
    for (const auto& [category, instruction] : config->query_instructions) with_instructions += instruction ? 1 : 0;
    std::printf("\nEmbedder configuration written to %s (model %s, %d dims, %s, instructions for %zu of %zu "
                "categories)\n",
                options.write_config.c_str(), config->model.c_str(), config->dims, config->device.c_str(),
                with_instructions, config->query_instructions.size());
  }
}

}  // namespace

void add_recommend_command(CLI::App& app) {
  auto options = std::make_shared<RecommendOptions>();
  CLI::App* command = app.add_subcommand(
      "recommend", "Recommend an embedding model for your memory types and resources (LMEB evidence)");
  command->add_option("--ram", options->ram, "Memory for the model on CPU: 2GB, 512MB, 4GiB (bare number = GB)");
  command->add_option("--vram", options->vram, "GPU memory for the model (models then run on the GPU in bf16)");
  command->add_flag("--cpu-only", options->cpu_only, "No GPU: models run on CPU in f32");
  command->add_option("--latency-ms", options->latency_ms, "Budget per query in milliseconds (needs --bench)");
  command->add_option("--priority", options->priority,
                      "Weights per memory type, e.g. episodic=high,procedural=high,semantic=medium,social=medium "
                      "(none, low, medium, high or a number; social = LMEB dialogue; default all medium)");
  command->add_option("--languages", options->languages, "Languages the model must support, e.g. en,de");
  command->add_option("--evidence", options->evidence,
                      "Directory written by `memembed eval --out DIR`; measured scores override published ones "
                      "(repeatable)");
  command->add_option("--bench", options->bench, "JSON from `memembed bench --json FILE` (repeatable)");
  command->add_option("--registry", options->registry, "Registry file to use instead of the built-in one");
  command->add_option("--top", options->top, "How many ranked models to show (default 5)");
  command->add_flag("--json", options->json, "Print the recommendation as JSON");
  command->add_option("--write-config", options->write_config,
                      "Write the embedder configuration for the recommended model (read by `memembed serve`)");
  command->callback([options] { run_recommend(*options); });
}

}  // namespace memembed::cli
