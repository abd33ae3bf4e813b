#include "memembed/error.h"
#include "memembed/json_io.h"
#include "memembed/precision.h"
#include "memembed/select.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <system_error>

namespace fs = std::filesystem;

namespace memembed::select {

namespace {

constexpr const char* kFormat = "memembed.embedder/1";
// The template LMEB wraps instructions in; the published with-instruction scores were measured
// with it, so the deployed queries match the evidence the choice rests on.
constexpr const char* kLmebTemplate = "Instruct: {instruction}\nQuery:";
constexpr const char* kPlaceholder = "{instruction}";

// Generic instructions per memory category, in the "Given ..., retrieve ..." form LMEB's task
// instructions use. Users edit them in the written file for their own domain.
std::string default_instruction(std::string_view category) {
  if (category == "EPISODIC") return "Given a question about something that happened, retrieve the records of the events that answer it";
  if (category == "PROCEDURAL") return "Given a task, retrieve past experience and procedures that help to carry it out";
  if (category == "SEMANTIC") return "Given a question, retrieve the facts and knowledge that answer it";
  if (category == "SOCIAL") return "Given a question about a conversation or a person, retrieve the dialogue turns that answer it";
  return "Given a query, retrieve the memories that answer it";
}

Json optional_json(const std::optional<std::string>& value) { return value ? Json(*value) : Json(nullptr); }

}  // namespace

EmbedderConfig make_embedder_config(const Candidate& candidate, const Request& request) {
  const ModelInfo& model = candidate.model;
  if (!model.hf_id && !model.local_only) {
    throw invalid_input("{}: the registry has no Hugging Face id for this model, so a configuration cannot name it; "
                        "add \"hf_id\" to the registry entry",
                        model.name);
  }
  if (!model.dims) {
    throw invalid_input("{}: embedding dims unknown, and the memory index needs them; add \"dims\" to the registry "
                        "entry (--registry FILE)",
                        model.name);
  }
  EmbedderConfig config;
  config.model = model.hf_id ? model.hf_id->value : model.id;
  std::error_code error;
  if (model.local_only && fs::is_directory(model.id, error)) config.model_path = model.id;
  config.dims = model.dims->value;
  config.device = to_string(candidate.device);
  config.dtype = candidate.dtype;
  // The speed the choice rests on was measured at this precision: deploy it the same way.
  if (model.throughput) config.precision = model.throughput->precision;
  config.query_prompt = model.query_prompt ? model.query_prompt->value : "";
  config.document_prompt = model.document_prompt ? model.document_prompt->value : "";
  config.instruction_template = kLmebTemplate;

  Json evidence = Json::object();
  for (const MemoryType type : kMemoryTypes) {
    const int i = static_cast<int>(type);
    const bool on = candidate.type_scores[i] && candidate.instructions[i] == Instructions::On;
    config.query_instructions[category_name(type)] =
        on ? std::optional<std::string>(default_instruction(category_name(type))) : std::nullopt;
    const auto& with = model.score(Instructions::On, type);
    const auto& without = model.score(Instructions::Off, type);
    evidence[category_name(type)] = {
        {"lmeb_type", lmeb_name(type)},
        {"weight", request.priorities.weight(type)},
        {"instructions", on ? "on" : "off"},
        {"ndcg10_with", with ? Json(with->ndcg10) : Json(nullptr)},
        {"ndcg10_without", without ? Json(without->ndcg10) : Json(nullptr)},
        {"measured", candidate.measured[i]},
    };
  }
  config.query_instructions["DEFAULT"] =
      candidate.default_instructions == Instructions::On
          ? std::optional<std::string>(default_instruction("DEFAULT"))
          : std::nullopt;
  config.fine_tune.base_model = config.model;

  config.selection = {
      {"generated_by", "memembed recommend"},
      {"registry_id", model.id},
      {"name", model.name},
      {"score", candidate.score},
      {"priorities", describe(request.priorities)},
      {"resources",
       {{"ram_bytes", request.ram_bytes ? Json(*request.ram_bytes) : Json(nullptr)},
        {"vram_bytes", request.vram_bytes ? Json(*request.vram_bytes) : Json(nullptr)},
        {"cpu_only", request.cpu_only},
        {"latency_ms", request.latency_ms ? Json(*request.latency_ms) : Json(nullptr)}}},
      {"memory_bytes", candidate.memory ? Json(candidate.memory->bytes) : Json(nullptr)},
      {"evidence", evidence},
      {"unknowns", candidate.unknowns},
  };
  return config;
}

Json to_json(const EmbedderConfig& config) {
  Json instructions = Json::object();
  for (const char* category : kConfigCategories) {
    const auto it = config.query_instructions.find(category);
    instructions[category] = it != config.query_instructions.end() ? optional_json(it->second) : Json(nullptr);
  }
  Json json = {
      {"format", kFormat},
      {"provider", config.provider},
      {"model", config.model},
      {"model_path", optional_json(config.model_path)},
      {"endpoint", optional_json(config.endpoint)},
      {"dims", config.dims},
      {"device", config.device},
      {"dtype", config.dtype},
      {"precision", config.precision},
      {"query_prompt", config.query_prompt},
      {"document_prompt", config.document_prompt},
      {"instruction_template", config.instruction_template},
      {"query_instructions", instructions},
      {"fine_tune",
       {{"enabled", config.fine_tune.enabled},
        {"checkpoint_path", optional_json(config.fine_tune.checkpoint_path)},
        {"base_model", optional_json(config.fine_tune.base_model)},
        {"training_data_dir", optional_json(config.fine_tune.training_data_dir)}}},
      {"selection", config.selection},
  };
  if (config.fusion_weight) json["fusion_weight"] = *config.fusion_weight;
  if (!config.client.empty()) json["client"] = config.client;
  return json;
}

EmbedderConfig embedder_config_from_json(const Json& document, const std::string& where) {
  if (!document.is_object()) throw invalid_input("{}: the embedder configuration must be a JSON object", where);
  static const std::set<std::string> kKeys = {
      "format",       "provider",        "model",        "model_path",           "endpoint",
      "dims",         "device",          "dtype",        "query_prompt",         "document_prompt",
      "instruction_template", "query_instructions", "fine_tune", "selection", "fusion_weight", "precision",
      "api_key",      "client"};
  for (const auto& [key, value] : document.items()) {
    if (kKeys.count(key) == 0) throw invalid_input("{}: unknown field \"{}\"", where, key);
  }
  const std::string format = require_string(document, "format", where);
  if (format != kFormat) throw invalid_input("{}: \"format\" must be \"{}\", got \"{}\"", where, kFormat, format);

  EmbedderConfig config;
  config.provider = require_string(document, "provider", where);
  if (config.provider != "local" && config.provider != "openai")
    throw invalid_input("{}: \"provider\" must be \"local\" or \"openai\", got \"{}\"", where, config.provider);
  config.model = require_string(document, "model", where);
  if (config.model.empty()) throw invalid_input("{}: \"model\" must not be empty", where);
  config.model_path = optional_string(document, "model_path", where);
  config.endpoint = optional_string(document, "endpoint", where);
  if (config.provider == "openai" && !config.endpoint)
    throw invalid_input("{}: provider \"openai\" needs \"endpoint\" (the base URL of the embeddings API)", where);
  config.api_key = optional_string(document, "api_key", where);
  if (const auto it = document.find("client"); it != document.end() && !it->is_null()) {
    if (!it->is_object()) throw invalid_input("{}: \"client\" must be an object (the endpoint client's settings)", where);
    config.client = *it;
  }

  const auto dims = document.find("dims");
  if (dims == document.end() || !dims->is_number_integer() || dims->get<long long>() <= 0)
    throw invalid_input("{}: \"dims\" must be a positive integer (the stored index is checked against it)", where);
  config.dims = dims->get<int>();

  config.device = optional_string(document, "device", where).value_or("cpu");
  if (config.device != "cpu" && config.device != "cuda")
    throw invalid_input("{}: \"device\" must be \"cpu\" or \"cuda\", got \"{}\"", where, config.device);
  config.dtype = optional_string(document, "dtype", where).value_or("f32");
  if (config.dtype != "f32" && config.dtype != "bf16" && config.dtype != "f16")
    throw invalid_input("{}: \"dtype\" must be \"f32\", \"bf16\" or \"f16\", got \"{}\"", where, config.dtype);
  config.precision =
      to_string(parse_precision(optional_string(document, "precision", where).value_or("f32"), where + ": precision"));
  config.query_prompt = optional_string(document, "query_prompt", where).value_or("");
  config.document_prompt = optional_string(document, "document_prompt", where).value_or("");
  config.instruction_template = optional_string(document, "instruction_template", where).value_or(kLmebTemplate);
  if (config.instruction_template.find(kPlaceholder) == std::string::npos)
    throw invalid_input("{}: \"instruction_template\" must contain {}", where, kPlaceholder);

  if (const auto it = document.find("fusion_weight"); it != document.end() && !it->is_null()) {
    if (!it->is_number() || it->get<double>() < 0.0 || it->get<double>() > 1.0)
      throw invalid_input("{}: \"fusion_weight\" must be a number in [0, 1] (the dense share of hybrid search)", where);
    config.fusion_weight = it->get<double>();
  }
  for (const char* category : kConfigCategories) config.query_instructions[category] = std::nullopt;
  if (const auto it = document.find("query_instructions"); it != document.end() && !it->is_null()) {
    if (!it->is_object()) throw invalid_input("{}: \"query_instructions\" must be an object", where);
    for (const auto& item : it->items()) {
      // Named, not structured bindings: a lambda below captures the key (C++17, clang).
      const std::string& category = item.key();
      const Json& value = item.value();
      const std::string field = "query_instructions." + category;
      if (category == "WORKING")
        throw invalid_input("{}: {}: WORKING memories stay in context and are never embedded", where, field);
      if (std::find_if(kConfigCategories.begin(), kConfigCategories.end(),
                       [&](const char* known) { return category == known; }) == kConfigCategories.end()) {
        throw invalid_input("{}: {}: unknown category (expected EPISODIC, PROCEDURAL, SEMANTIC, SOCIAL or DEFAULT)",
                            where, field);
      }
      if (value.is_null()) continue;
      if (!value.is_string() || value.get<std::string>().empty())
        throw invalid_input("{}: {}: must be a non-empty string or null (no instruction)", where, field);
      config.query_instructions[category] = value.get<std::string>();
    }
  }

  if (const auto it = document.find("fine_tune"); it != document.end() && !it->is_null()) {
    const std::string fine_where = where + ": fine_tune";
    if (!it->is_object()) throw invalid_input("{}: must be an object", fine_where);
    for (const auto& [key, value] : it->items()) {
      if (key != "enabled" && key != "checkpoint_path" && key != "base_model" && key != "training_data_dir")
        throw invalid_input("{}: unknown field \"{}\"", fine_where, key);
    }
    if (it->contains("enabled")) {
      if (!(*it)["enabled"].is_boolean()) throw invalid_input("{}: \"enabled\" must be true or false", fine_where);
      config.fine_tune.enabled = (*it)["enabled"].get<bool>();
    }
    config.fine_tune.checkpoint_path = optional_string(*it, "checkpoint_path", fine_where);
    config.fine_tune.base_model = optional_string(*it, "base_model", fine_where);
    config.fine_tune.training_data_dir = optional_string(*it, "training_data_dir", fine_where);
    if (config.fine_tune.enabled && !config.fine_tune.checkpoint_path)
      throw invalid_input("{}: \"enabled\" is true but \"checkpoint_path\" is null", fine_where);
  }
  if (const auto it = document.find("selection"); it != document.end() && !it->is_null()) {
    if (!it->is_object()) throw invalid_input("{}: \"selection\" must be an object", where);
    config.selection = *it;
  }
  return config;
}

EmbedderConfig load_embedder_config(const fs::path& path) {
  return embedder_config_from_json(read_json_file(path), path.string());
}

void save_embedder_config(const fs::path& path, const EmbedderConfig& config) {
  write_json_file(path, to_json(config));
}

std::string format_query(const EmbedderConfig& config, std::string_view category, std::string_view query) {
  auto it = config.query_instructions.find(std::string(category));
  if (it == config.query_instructions.end()) it = config.query_instructions.find("DEFAULT");
  if (it == config.query_instructions.end() || !it->second) return config.query_prompt + std::string(query);
  std::string text = config.instruction_template;
  const size_t at = text.find(kPlaceholder);
  if (at == std::string::npos)
    throw invalid_input("embedder configuration: \"instruction_template\" must contain {}", kPlaceholder);
  text.replace(at, std::string_view(kPlaceholder).size(), *it->second);
  return text + std::string(query);
}

}  // namespace memembed::select
