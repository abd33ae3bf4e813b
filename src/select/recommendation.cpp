#include "deployment.h"

#include "memembed/error.h"
#include "memembed/select.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <string>

namespace memembed::select {

namespace {

// A model's evidence reduced to one score under the user's priorities.
struct Scored {
  double score = 0;
  std::array<std::optional<double>, kMemoryTypeCount> type_scores;
  std::array<Instructions, kMemoryTypeCount> instructions{};
  std::array<bool, kMemoryTypeCount> measured{};
  Instructions default_instructions = Instructions::Off;
  std::vector<MemoryType> missing;  // weighted types without any evidence
};

int index(MemoryType type) { return static_cast<int>(type); }

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string type_label(MemoryType type) {
  return type == MemoryType::Dialogue ? "dialogue/SOCIAL" : lower(lmeb_name(type));
}

std::string level_name(double weight) {
  if (weight == 0) return "none";
  if (weight == 0.5) return "low";
  if (weight == 1) return "medium";
  if (weight == 2) return "high";
  return fmt::format("{:g}", weight);
}

std::string join(const std::vector<std::string>& parts, const char* separator = ", ") {
  std::string out;
  for (const std::string& part : parts) out += (out.empty() ? "" : separator) + part;
  return out;
}

std::optional<double> weighted_setting_score(const ModelInfo& model, Instructions setting,
                                             const Priorities& priorities) {
  double sum = 0;
  double total = 0;
  for (const MemoryType type : kMemoryTypes) {
    const double weight = priorities.weight(type);
    if (weight <= 0) continue;
    const auto& score = model.score(setting, type);
    if (!score) return std::nullopt;
    sum += weight * score->ndcg10;
    total += weight;
  }
  return sum / total;
}

// Each memory category uses whichever instruction setting its evidence favours
// (ModelInfo::best_score); the weighted score is the weighted mean of the per-type bests.
Scored score_model(const ModelInfo& model, const Priorities& priorities) {
  Scored scored;
  double sum = 0;
  double total = 0;
  for (const MemoryType type : kMemoryTypes) {
    const auto chosen = model.best_score(type);
    const double weight = priorities.weight(type);
    if (chosen) {
      scored.type_scores[index(type)] = chosen->score.ndcg10;
      scored.instructions[index(type)] = chosen->setting;
      scored.measured[index(type)] = chosen->score.measured;
    }
    if (weight <= 0) continue;
    if (!chosen) {
      scored.missing.push_back(type);
      continue;
    }
    sum += weight * chosen->score.ndcg10;
    total += weight;
  }
  scored.score = total > 0 ? sum / total : 0;
  const auto with = weighted_setting_score(model, Instructions::On, priorities);
  const auto without = weighted_setting_score(model, Instructions::Off, priorities);
  if (with && (!without || *with > *without)) scored.default_instructions = Instructions::On;
  return scored;
}

Device device_for(const Request& request, const ModelInfo& model) {
  if (request.cpu_only) return Device::Cpu;
  if (request.vram_bytes) return Device::Gpu;
  if (request.ram_bytes) return Device::Cpu;
  const auto tier = tier_of(model);
  return tier && *tier != Tier::Cpu ? Device::Gpu : Device::Cpu;
}

Candidate make_candidate(const Registry& registry, const ModelInfo& model, Device device, const Scored& scored) {
  Candidate candidate;
  candidate.model = model;
  candidate.device = device;
  candidate.dtype = device == Device::Gpu ? "bf16" : "f32";
  candidate.memory = estimate_memory(model, device);
  candidate.latency = estimate_latency(registry, model, device);
  candidate.score = scored.score;
  candidate.type_scores = scored.type_scores;
  candidate.instructions = scored.instructions;
  candidate.measured = scored.measured;
  candidate.default_instructions = scored.default_instructions;
  return candidate;
}

// Why a model cannot serve this request, or nullopt when it can; notes what could not be checked.
std::optional<std::string> exclusion_reason(const Request& request, Candidate& candidate) {
  const ModelInfo& model = candidate.model;
  const bool gpu = candidate.device == Device::Gpu;
  const std::optional<double> budget = gpu ? request.vram_bytes : request.ram_bytes;
  if (budget) {
    if (!candidate.memory) {
      candidate.unknowns.push_back("memory need unknown (no parameter count): not checked against the budget");
    } else if (candidate.memory->bytes > *budget) {
      return fmt::format("needs ~{} {} ({}, {}), budget {}", format_bytes(candidate.memory->bytes),
                         gpu ? "VRAM" : "RAM", candidate.dtype, candidate.memory->measured ? "measured" : "estimated",
                         format_bytes(*budget));
    }
  }

  std::vector<std::string> unsupported;
  for (const std::string& requested : request.languages) {
    const std::string language = lower(requested);
    if (!model.languages) {
      candidate.unknowns.push_back(fmt::format("language coverage unknown: \"{}\" not checked", language));
      continue;
    }
    const auto& known = model.languages->value;
    if (std::find(known.begin(), known.end(), language) != known.end()) continue;
    if (std::find(known.begin(), known.end(), "multilingual") != known.end()) {
      // Every multilingual model here is trained with English; other languages vary by model.
      if (language != "en") {
        candidate.unknowns.push_back(fmt::format(
            "coverage of \"{}\" not verified: the model is listed as multilingual ({})", language,
            model.languages->source));
      }
      continue;
    }
    unsupported.push_back(language);
  }
  if (!unsupported.empty()) {
    return fmt::format("languages: supports {}, not {}", join(model.languages->value), join(unsupported));
  }

  if (request.latency_ms && candidate.latency && candidate.latency->ms > *request.latency_ms) {
    return fmt::format("~{:.1f} ms per query ({}), budget {:g} ms", candidate.latency->ms, candidate.latency->basis,
                       *request.latency_ms);
  }
  return std::nullopt;
}

std::string signed_points(double value) { return fmt::format("{:+.2f}", value); }

std::string instruction_reason(const Candidate& candidate, const Priorities& priorities) {
  const ModelInfo& model = candidate.model;
  std::vector<std::string> on;
  std::vector<std::string> off;
  std::vector<std::string> single;
  for (const MemoryType type : kMemoryTypes) {
    if (priorities.weight(type) <= 0 || !candidate.type_scores[index(type)]) continue;
    const auto& with = model.score(Instructions::On, type);
    const auto& without = model.score(Instructions::Off, type);
    const std::string name = category_name(type);
    if (with && without) {
      const double gain = with->ndcg10 - without->ndcg10;
      (candidate.instructions[index(type)] == Instructions::On ? on : off)
          .push_back(fmt::format("{} {}", name, signed_points(gain)));
    } else {
      single.push_back(fmt::format("{} (evidence only {} instructions)", name, with ? "with" : "without"));
    }
  }
  std::string text;
  if (!on.empty() && off.empty()) {
    text = "query instructions ON for every weighted category; gain with vs without: " + join(on);
  } else if (on.empty() && !off.empty()) {
    text = "query instructions OFF; with vs without they would change: " + join(off);
  } else if (!on.empty()) {
    text = "query instructions per category: ON for " + join(on) + "; OFF for " + join(off) +
           " (with-minus-without NDCG@10)";
  }
  if (!single.empty()) text += (text.empty() ? "" : "; ") + join(single);
  return text;
}

void add_reasons(Candidate& candidate, size_t rank, const std::vector<Candidate>& ranked, const Request& request) {
  const size_t total = ranked.size();
  const Priorities& priorities = request.priorities;
  auto& reasons = candidate.reasons;

  if (rank == 0 && total == 1) {
    reasons.push_back(fmt::format("the only scored model that fits: priority-weighted LMEB NDCG@10 {:.2f}",
                                  candidate.score));
  } else if (rank == 0) {
    reasons.push_back(fmt::format(
        "highest priority-weighted LMEB NDCG@10 of the {} models that fit: {:.2f}, {:.2f} ahead of {} ({:.2f})", total,
        candidate.score, candidate.score - ranked[1].score, ranked[1].model.name, ranked[1].score));
  } else {
    reasons.push_back(fmt::format("rank {} of {}: {:.2f}, {:.2f} behind {}", rank + 1, total, candidate.score,
                                  ranked[0].score - candidate.score, ranked[0].model.name));
  }

  // Name the types the user raised, and where this model stands on each among those that fit.
  const double top_weight = *std::max_element(priorities.weights.begin(), priorities.weights.end());
  const double low_weight = *std::min_element(priorities.weights.begin(), priorities.weights.end());
  if (top_weight > low_weight) {
    for (const MemoryType type : kMemoryTypes) {
      if (priorities.weight(type) != top_weight || !candidate.type_scores[index(type)]) continue;
      const double mine = *candidate.type_scores[index(type)];
      size_t place = 1;
      for (const Candidate& other : ranked) {
        if (other.type_scores[index(type)] && *other.type_scores[index(type)] > mine) ++place;
      }
      reasons.push_back(fmt::format("{} (priority {}): {:.2f} {} instructions, {} of the models that fit",
                                    type_label(type), level_name(top_weight), mine,
                                    candidate.instructions[index(type)] == Instructions::On ? "with" : "without",
                                    place == 1 ? std::string("best") : fmt::format("#{}", place)));
    }
  }

  if (const std::string text = instruction_reason(candidate, priorities); !text.empty()) reasons.push_back(text);

  const bool gpu = candidate.device == Device::Gpu;
  const std::optional<double> budget = gpu ? request.vram_bytes : request.ram_bytes;
  if (candidate.memory) {
    reasons.push_back(fmt::format("runs on {} in {}: ~{} {} ({}){}", gpu ? "GPU" : "CPU", candidate.dtype,
                                  format_bytes(candidate.memory->bytes), gpu ? "VRAM" : "RAM", candidate.memory->basis,
                                  budget ? fmt::format(", budget {}", format_bytes(*budget)) : std::string()));
  }
  if (candidate.latency) {
    reasons.push_back(fmt::format("~{:.1f} ms per query ({}){}", candidate.latency->ms, candidate.latency->basis,
                                  request.latency_ms ? fmt::format(", budget {:g} ms", *request.latency_ms) : ""));
  }

  // Larger is not better on memory retrieval: say so when the data shows it.
  if (candidate.model.params) {
    const Candidate* largest_beaten = nullptr;
    size_t beaten = 0;
    for (const Candidate& other : ranked) {
      if (!other.model.params || other.model.params->value <= candidate.model.params->value ||
          other.score >= candidate.score)
        continue;
      ++beaten;
      if (!largest_beaten || other.model.params->value > largest_beaten->model.params->value) largest_beaten = &other;
    }
    if (largest_beaten) {
      reasons.push_back(fmt::format("scores above {} larger model{} that fit, e.g. {} ({}, {:.2f})", beaten,
                                    beaten == 1 ? "" : "s", largest_beaten->model.name,
                                    format_params(largest_beaten->model.params->value), largest_beaten->score));
    }
  }

  std::vector<std::string> measured;
  std::string measured_source;
  for (const MemoryType type : kMemoryTypes) {
    if (!candidate.measured[index(type)]) continue;
    const auto& score = candidate.model.score(candidate.instructions[index(type)], type);
    measured.push_back(fmt::format("{} ({} dataset{})", type_label(type), score->datasets,
                                   score->datasets == 1 ? "" : "s"));
    measured_source = score->source;
  }
  if (measured.empty()) {
    reasons.push_back("evidence: published LMEB scores (paper Tables 2 and 3)");
  } else {
    reasons.push_back(fmt::format("evidence: measured on your tasks for {} ({}); published LMEB scores otherwise",
                                  join(measured), measured_source));
  }
  if (candidate.model.licence && candidate.model.licence->value.find("NC") != std::string::npos) {
    reasons.push_back(fmt::format("caution: licence {} does not allow commercial use", candidate.model.licence->value));
  }
}

void add_unknowns(Candidate& candidate, const Request& request) {
  const ModelInfo& model = candidate.model;
  auto& unknowns = candidate.unknowns;
  if (!model.hf_id) unknowns.push_back("Hugging Face id unknown");
  if (!model.params) unknowns.push_back("parameter count unknown");
  if (!model.dims) unknowns.push_back("embedding dims unknown");
  if (!model.max_tokens) unknowns.push_back("maximum input tokens not stated in the sources checked");
  if (!model.pooling) unknowns.push_back("pooling not stated in the sources checked");
  if (!model.query_prompt || !model.document_prompt)
    unknowns.push_back("the model's own query/document prompts not recorded");
  if (!model.licence) unknowns.push_back("licence unknown");
  // With --languages the check itself already reported the gap.
  if (!model.languages && request.languages.empty()) unknowns.push_back("language coverage unknown");
  if (!candidate.latency) unknowns.push_back("query latency not measured on this machine (run `memembed bench`)");
  if (candidate.memory && !candidate.memory->measured)
    unknowns.push_back("memory is an estimate from the parameter count (a `memembed bench` run measures it)");
  for (const std::string& note : model.notes) unknowns.push_back("note: " + note);
}

std::string describe_resources(const Request& request) {
  std::vector<std::string> parts;
  if (request.cpu_only) parts.push_back("CPU only");
  if (request.vram_bytes) parts.push_back("GPU with " + format_bytes(*request.vram_bytes) + " VRAM");
  if (request.ram_bytes) parts.push_back(format_bytes(*request.ram_bytes) + " RAM");
  if (request.latency_ms) parts.push_back(fmt::format("{:g} ms per query", *request.latency_ms));
  if (!request.languages.empty()) parts.push_back("languages " + join(request.languages));
  return parts.empty() ? "no budget given" : join(parts);
}

bool better(const Candidate& a, const Candidate& b) {
  if (a.score != b.score) return a.score > b.score;
  // Equal scores: the cheaper model wins.
  const double pa = a.model.params ? a.model.params->value : 1e30;
  const double pb = b.model.params ? b.model.params->value : 1e30;
  if (pa != pb) return pa < pb;
  return a.model.id < b.model.id;
}

}  // namespace

Recommendation recommend(const Registry& registry, const Request& request) {
  validate(request);
  Recommendation result;
  result.request = request;
  std::map<std::string, std::string> excluded_why;

  for (const ModelInfo& model : registry.models()) {
    const Scored scored = score_model(model, request.priorities);
    Candidate candidate = make_candidate(registry, model, device_for(request, model), scored);
    if (const auto reason = exclusion_reason(request, candidate)) {
      result.excluded.push_back({model.name, *reason});
      excluded_why[model.id] = *reason;
      continue;
    }
    add_unknowns(candidate, request);
    if (!scored.missing.empty()) {
      std::vector<std::string> names;
      for (const MemoryType type : scored.missing) names.push_back(type_label(type));
      candidate.reasons.push_back(fmt::format("no LMEB or local evidence for {}: run `memembed eval` on it, or set "
                                              "those priorities to none",
                                              join(names)));
      result.unranked.push_back(std::move(candidate));
      continue;
    }
    result.ranked.push_back(std::move(candidate));
  }
  std::sort(result.ranked.begin(), result.ranked.end(), better);
  for (size_t i = 0; i < result.ranked.size(); ++i) add_reasons(result.ranked[i], i, result.ranked, request);

  // Per size class: the best model on the evidence, and the best one the budget allows.
  for (const Tier tier : {Tier::GpuServer, Tier::ConsumerGpu, Tier::Cpu}) {
    TierSummary summary;
    summary.tier = tier;
    std::optional<Candidate> best_smaller;
    for (const ModelInfo& model : registry.models()) {
      const auto model_tier = tier_of(model);
      if (!model_tier) continue;
      const Scored scored = score_model(model, request.priorities);
      if (!scored.missing.empty()) continue;
      const Device device = *model_tier == Tier::Cpu ? Device::Cpu : Device::Gpu;
      Candidate candidate = make_candidate(registry, model, device, scored);
      if (*model_tier == tier && (!summary.best || better(candidate, *summary.best))) summary.best = candidate;
      if (static_cast<int>(*model_tier) < static_cast<int>(tier) && (!best_smaller || better(candidate, *best_smaller)))
        best_smaller = candidate;
    }
    for (const Candidate& candidate : result.ranked) {
      if (tier_of(candidate.model) == tier) {
        summary.best_fitting = candidate;
        break;
      }
    }
    std::vector<std::string> notes;
    if (!summary.best) {
      notes.push_back("no model of this size has evidence for the weighted memory types");
    } else {
      if (!summary.best_fitting || summary.best_fitting->model.id != summary.best->model.id) {
        const auto why = excluded_why.find(summary.best->model.id);
        notes.push_back(fmt::format("{} does not fit: {}", summary.best->model.name,
                                    why != excluded_why.end() ? why->second : "not a candidate for this request"));
      }
      if (best_smaller && best_smaller->score > summary.best->score) {
        notes.push_back(fmt::format("a smaller model scores higher: {} ({}, {:.2f})", best_smaller->model.name,
                                    best_smaller->model.params ? format_params(best_smaller->model.params->value) : "?",
                                    best_smaller->score));
      }
    }
    summary.note = join(notes, "; ");
    result.tiers.push_back(std::move(summary));
  }

  result.notes.push_back("resources: " + describe_resources(request));
  result.notes.push_back("score = LMEB NDCG@10 (x100) averaged over memory types with weights " +
                         describe(request.priorities) +
                         "; each type uses the instruction setting its evidence favours");
  if (!request.cpu_only && !request.vram_bytes && !request.ram_bytes) {
    result.notes.push_back(
        "no --ram, --vram or --cpu-only: memory was not checked; models under 1B are assumed to run on CPU, larger ones "
        "on a GPU");
  }
  if (request.latency_ms) {
    bool any_latency = false;
    for (const Candidate& candidate : result.ranked) any_latency = any_latency || candidate.latency.has_value();
    if (!any_latency) {
      result.notes.push_back(fmt::format(
          "--latency-ms {:g} was not applied: no `memembed bench` result for this device (pass --bench FILE)",
          *request.latency_ms));
    }
  }
  for (const MemoryType type : kMemoryTypes) {
    if (request.priorities.weight(type) <= 0) continue;
    size_t measured = 0;
    for (const Candidate& candidate : result.ranked) measured += candidate.measured[index(type)] ? 1 : 0;
    if (measured > 0 && measured < result.ranked.size()) {
      result.notes.push_back(fmt::format(
          "{}: {} model(s) scored on your tasks, the rest on LMEB's published tasks; the task sets differ, so compare "
          "with care",
          type_label(type), measured));
    }
  }
  return result;
}

namespace {

Json optional_number(const std::optional<double>& value) { return value ? Json(*value) : Json(nullptr); }

Json candidate_json(const Candidate& candidate, const Priorities& priorities) {
  const ModelInfo& model = candidate.model;
  Json types = Json::object();
  for (const MemoryType type : kMemoryTypes) {
    const auto& with = model.score(Instructions::On, type);
    const auto& without = model.score(Instructions::Off, type);
    types[lower(lmeb_name(type))] = {
        {"category", category_name(type)},
        {"weight", priorities.weight(type)},
        {"score", optional_number(candidate.type_scores[index(type)])},
        {"instructions", candidate.type_scores[index(type)] ? Json(to_string(candidate.instructions[index(type)]))
                                                            : Json(nullptr)},
        {"measured", candidate.measured[index(type)]},
        {"with_instructions", with ? Json(with->ndcg10) : Json(nullptr)},
        {"without_instructions", without ? Json(without->ndcg10) : Json(nullptr)},
    };
  }
  Json memory = nullptr;
  if (candidate.memory) {
    memory = {{"bytes", candidate.memory->bytes},
              {"measured", candidate.memory->measured},
              {"basis", candidate.memory->basis}};
  }
  Json latency = nullptr;
  if (candidate.latency) {
    latency = {{"ms", candidate.latency->ms},
               {"measured", candidate.latency->measured},
               {"basis", candidate.latency->basis}};
  }
  const auto tier = tier_of(model);
  return {
      {"id", model.id},
      {"name", model.name},
      {"hf_id", model.hf_id ? Json(model.hf_id->value) : Json(nullptr)},
      {"params", model.params ? Json(model.params->value) : Json(nullptr)},
      {"tier", tier ? Json(to_string(*tier)) : Json(nullptr)},
      {"dims", model.dims ? Json(model.dims->value) : Json(nullptr)},
      {"licence", model.licence ? Json(model.licence->value) : Json(nullptr)},
      {"score", candidate.score},
      {"device", to_string(candidate.device)},
      {"dtype", candidate.dtype},
      {"memory", memory},
      {"latency", latency},
      {"memory_types", types},
      {"default_instructions", to_string(candidate.default_instructions)},
      {"instruction_policy", instruction_policy(model)},
      {"reasons", candidate.reasons},
      {"unknowns", candidate.unknowns},
  };
}

}  // namespace

Json to_json(const Recommendation& recommendation) {
  const Request& request = recommendation.request;
  const Priorities& priorities = request.priorities;
  Json weights = Json::object();
  for (const MemoryType type : kMemoryTypes) weights[lower(lmeb_name(type))] = priorities.weight(type);
  Json ranked = Json::array();
  for (size_t i = 0; i < recommendation.ranked.size() && i < request.top; ++i)
    ranked.push_back(candidate_json(recommendation.ranked[i], priorities));
  Json unranked = Json::array();
  for (const Candidate& candidate : recommendation.unranked) unranked.push_back(candidate_json(candidate, priorities));
  Json excluded = Json::array();
  for (const Exclusion& exclusion : recommendation.excluded)
    excluded.push_back({{"model", exclusion.model}, {"reason", exclusion.reason}});
  Json tiers = Json::array();
  for (const TierSummary& summary : recommendation.tiers) {
    tiers.push_back({
        {"tier", to_string(summary.tier)},
        {"description", describe(summary.tier)},
        {"best", summary.best ? candidate_json(*summary.best, priorities) : Json(nullptr)},
        {"best_fitting", summary.best_fitting ? candidate_json(*summary.best_fitting, priorities) : Json(nullptr)},
        {"note", summary.note},
    });
  }
  return {
      {"request",
       {{"ram_bytes", optional_number(request.ram_bytes)},
        {"vram_bytes", optional_number(request.vram_bytes)},
        {"cpu_only", request.cpu_only},
        {"latency_ms", optional_number(request.latency_ms)},
        {"priorities", weights},
        {"languages", request.languages},
        {"top", request.top}}},
      {"recommended",
       recommendation.ranked.empty() ? Json(nullptr) : candidate_json(recommendation.ranked.front(), priorities)},
      {"ranked", ranked},
      {"ranked_total", recommendation.ranked.size()},
      {"unranked", unranked},
      {"excluded", excluded},
      {"tiers", tiers},
      {"notes", recommendation.notes},
  };
}

}  // namespace memembed::select
