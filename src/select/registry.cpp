#include "memembed/error.h"
#include "memembed/json_io.h"
#include "memembed/select.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <string>

namespace memembed::select {

namespace {

constexpr const char* kFormat = "memembed.registry/1";

// LMEB prints means of means rounded to two decimals; a transcription slip shows up as a larger gap.
constexpr double kMeanTolerance = 0.015;
// Below this the published difference between settings is within rounding and run-to-run noise.
constexpr double kPolicyThreshold = 0.5;

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view last_component(std::string_view name) {
  while (name.size() > 1 && name.back() == '/') name.remove_suffix(1);
  const size_t slash = name.rfind('/');
  return slash == std::string_view::npos ? name : name.substr(slash + 1);
}

std::string type_name(const Json& value) { return value.type_name(); }

// Reads one model entry, with every error naming the file and the JSON path inside it.
class ModelReader {
 public:
  ModelReader(const Json& object, std::string context, const std::set<std::string>& sources)
      : object_(object), context_(std::move(context)), sources_(sources) {}

  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw invalid_input("{}.{}: {}", context_, field, message);
  }

  void check_keys(const std::set<std::string>& allowed) const {
    for (const auto& [key, value] : object_.items()) {
      if (allowed.count(key) == 0) {
        std::string names;
        for (const std::string& name : allowed) names += (names.empty() ? "" : ", ") + name;
        fail(key, fmt::format("unknown field (known fields: {})", names));
      }
    }
  }

  std::string required_string(const char* field) const {
    const auto it = object_.find(field);
    if (it == object_.end() || !it->is_string() || it->get<std::string>().empty())
      fail(field, "required, must be a non-empty string");
    return it->get<std::string>();
  }

  std::vector<std::string> string_list(const char* field) const {
    std::vector<std::string> out;
    const auto it = object_.find(field);
    if (it == object_.end() || it->is_null()) return out;
    if (!it->is_array()) fail(field, "must be an array of strings, got " + type_name(*it));
    for (const Json& item : *it) {
      if (!item.is_string()) fail(field, "must be an array of strings, got an element of type " + type_name(item));
      out.push_back(item.get<std::string>());
    }
    return out;
  }

  // A fact is {"value": ..., "source": "<source id>"}; absent or null means unknown.
  const Json* fact(const char* field) const {
    const auto it = object_.find(field);
    if (it == object_.end() || it->is_null()) return nullptr;
    if (!it->is_object()) fail(field, "must be {\"value\": ..., \"source\": ...} or null, got " + type_name(*it));
    if (!it->contains("value") || (*it)["value"].is_null()) fail(field, "missing \"value\" (use null for an unknown fact)");
    check_source(field, *it);
    return &*it;
  }

  void check_source(const std::string& field, const Json& object) const {
    const auto source = object.find("source");
    if (source == object.end() || !source->is_string())
      fail(field, "missing \"source\" naming an entry of the top-level \"sources\"");
    if (sources_.count(source->get<std::string>()) == 0)
      fail(field, fmt::format("source \"{}\" is not defined in the top-level \"sources\"",
                              source->get<std::string>()));
  }

  std::optional<Fact<std::string>> string_fact(const char* field) const {
    const Json* json = fact(field);
    if (!json) return std::nullopt;
    if (!(*json)["value"].is_string()) fail(field, "value must be a string, got " + type_name((*json)["value"]));
    return Fact<std::string>{(*json)["value"].get<std::string>(), (*json)["source"].get<std::string>()};
  }

  std::optional<Fact<double>> positive_number_fact(const char* field) const {
    const Json* json = fact(field);
    if (!json) return std::nullopt;
    const Json& value = (*json)["value"];
    if (!value.is_number() || value.get<double>() <= 0) fail(field, "value must be a positive number, got " + value.dump());
    return Fact<double>{value.get<double>(), (*json)["source"].get<std::string>()};
  }

  std::optional<Fact<int>> positive_int_fact(const char* field) const {
    const Json* json = fact(field);
    if (!json) return std::nullopt;
    const Json& value = (*json)["value"];
    if (!value.is_number_integer() || value.get<long long>() <= 0 || value.get<long long>() > 1'000'000'000)
      fail(field, "value must be a positive integer, got " + value.dump());
    return Fact<int>{value.get<int>(), (*json)["source"].get<std::string>()};
  }

  std::optional<Fact<Matryoshka>> matryoshka_fact(const char* field) const {
    const Json* json = fact(field);
    if (!json) return std::nullopt;
    const Json& value = (*json)["value"];
    Matryoshka out;
    if (value.is_array()) {
      for (const Json& dim : value) {
        if (!dim.is_number_integer() || dim.get<long long>() <= 0)
          fail(field, "value must list positive integers, got " + dim.dump());
        out.dims.push_back(dim.get<int>());
      }
      if (out.dims.empty()) fail(field, "value must not be empty (use null when there are none)");
    } else if (value.is_object() && value.contains("min") && value.contains("max") &&
               value["min"].is_number_integer() && value["max"].is_number_integer()) {
      out.min = value["min"].get<int>();
      out.max = value["max"].get<int>();
      if (out.min <= 0 || out.min > out.max) fail(field, "value needs 0 < min <= max, got " + value.dump());
    } else {
      fail(field, "value must be a list of sizes or {\"min\": a, \"max\": b}, got " + value.dump());
    }
    return Fact<Matryoshka>{out, (*json)["source"].get<std::string>()};
  }

  std::optional<Fact<std::vector<std::string>>> languages_fact(const char* field) const {
    const Json* json = fact(field);
    if (!json) return std::nullopt;
    const Json& value = (*json)["value"];
    std::vector<std::string> languages;
    if (value.is_array()) {
      for (const Json& item : value) {
        if (!item.is_string() || item.get<std::string>().empty()) {
          languages.clear();
          break;
        }
        languages.push_back(lower(item.get<std::string>()));
      }
    }
    if (languages.empty())
      fail(field, "value must be a non-empty list of language codes or [\"multilingual\"], got " + value.dump());
    return Fact<std::vector<std::string>>{languages, (*json)["source"].get<std::string>()};
  }

  std::optional<MtebRetrieval> mteb(const char* field) const {
    const auto it = object_.find(field);
    if (it == object_.end() || it->is_null()) return std::nullopt;
    if (!it->is_object()) fail(field, "must be an object or null");
    check_source(field, *it);
    const auto value = it->find("value");
    if (value == it->end() || !value->is_number() || value->get<double>() < 0 || value->get<double>() > 100)
      fail(field, "\"value\" must be a number from 0 to 100");
    const auto benchmark = it->find("benchmark");
    if (benchmark == it->end() || !benchmark->is_string() || benchmark->get<std::string>().empty())
      fail(field, "\"benchmark\" must name the MTEB variant (scores of different variants differ)");
    return MtebRetrieval{value->get<double>(), benchmark->get<std::string>(),
                         (*it)["source"].get<std::string>()};
  }

  // LMEB's table row for one setting: <type>_n10 (required) and <type>_r10, plus the means.
  void lmeb(ModelInfo& model) const {
    const auto it = object_.find("lmeb");
    if (it == object_.end() || it->is_null()) return;
    if (!it->is_object()) fail("lmeb", "must be an object or null, got " + type_name(*it));
    check_source("lmeb", *it);
    const std::string source = (*it)["source"].get<std::string>();
    for (const auto& [key, value] : it->items()) {
      if (key != "source" && key != "name" && key != "size" && key != "wo_inst" && key != "w_inst")
        fail("lmeb." + key, "unknown field (known fields: source, name, size, wo_inst, w_inst)");
    }
    if (it->contains("size")) {
      if (!(*it)["size"].is_string()) fail("lmeb.size", "must be a string such as \"307M\"");
      model.lmeb_size = (*it)["size"].get<std::string>();
    }
    bool any = false;
    for (const Instructions setting : {Instructions::Off, Instructions::On}) {
      const char* key = setting == Instructions::On ? "w_inst" : "wo_inst";
      const auto row = it->find(key);
      if (row == it->end() || row->is_null()) continue;
      any = true;
      const std::string field = std::string("lmeb.") + key;
      if (!row->is_object()) fail(field, "must be an object of scores, got " + type_name(*row));
      std::set<std::string> allowed = {"meanDS_n10", "meanDS_r10", "meanType_n10", "meanType_r10"};
      double sum = 0;
      for (const MemoryType type : kMemoryTypes) {
        const std::string n10 = std::string(short_name(type)) + "_n10";
        const std::string r10 = std::string(short_name(type)) + "_r10";
        allowed.insert(n10);
        allowed.insert(r10);
        TypeScore score;
        score.ndcg10 = percent(*row, field, n10, true).value();
        score.recall10 = percent(*row, field, r10, false);
        score.source = source;
        sum += score.ndcg10;
        model.scores[static_cast<int>(setting)][static_cast<int>(type)] = score;
      }
      for (const auto& [name, value] : row->items()) {
        if (allowed.count(name) == 0) fail(field + "." + name, "unknown score column");
        percent(*row, field, name, false);
      }
      const std::optional<double> mean_type = percent(*row, field, "meanType_n10", false);
      const double computed = sum / kMemoryTypeCount;
      if (mean_type && std::fabs(*mean_type - computed) > kMeanTolerance) {
        fail(field + ".meanType_n10",
             fmt::format("{:.2f} is not the mean of the four memory-type scores ({:.3f}); check the transcription",
                         *mean_type, computed));
      }
    }
    if (!any) fail("lmeb", "needs \"wo_inst\" or \"w_inst\" (use null for a model without LMEB results)");
  }

 private:
  std::optional<double> percent(const Json& row, const std::string& field, const std::string& key,
                                bool required) const {
    const auto it = row.find(key);
    if (it == row.end() || it->is_null()) {
      if (required) fail(field + "." + key, "required score is missing");
      return std::nullopt;
    }
    if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > 100)
      fail(field + "." + key, "must be a score from 0 to 100 (x100, as LMEB prints), got " + it->dump());
    return it->get<double>();
  }

  const Json& object_;
  std::string context_;
  const std::set<std::string>& sources_;
};

ModelInfo read_model(const Json& object, const std::string& context, const std::set<std::string>& sources) {
  if (!object.is_object()) throw invalid_input("{}: must be an object, got {}", context, type_name(object));
  const ModelReader reader(object, context, sources);
  reader.check_keys({"id", "name", "aliases", "hf_id", "params", "dims", "matryoshka_dims", "max_tokens",
                     "pooling", "query_prompt", "document_prompt", "instruction_template", "licence",
                     "languages", "mteb_retrieval", "lmeb", "notes"});
  ModelInfo model;
  model.id = reader.required_string("id");
  model.name = object.contains("name") ? reader.required_string("name") : model.id;
  model.aliases = reader.string_list("aliases");
  model.hf_id = reader.string_fact("hf_id");
  model.params = reader.positive_number_fact("params");
  model.dims = reader.positive_int_fact("dims");
  model.matryoshka = reader.matryoshka_fact("matryoshka_dims");
  model.max_tokens = reader.positive_int_fact("max_tokens");
  model.pooling = reader.string_fact("pooling");
  model.query_prompt = reader.string_fact("query_prompt");
  model.document_prompt = reader.string_fact("document_prompt");
  model.instruction_template = reader.string_fact("instruction_template");
  if (model.instruction_template && model.instruction_template->value.find("{instruction}") == std::string::npos)
    reader.fail("instruction_template", "value must contain the placeholder {instruction}");
  model.licence = reader.string_fact("licence");
  model.languages = reader.languages_fact("languages");
  model.mteb_retrieval = reader.mteb("mteb_retrieval");
  reader.lmeb(model);
  model.notes = reader.string_list("notes");
  return model;
}

}  // namespace

std::optional<double> ModelInfo::mean_type(Instructions setting) const {
  double sum = 0;
  for (const MemoryType type : kMemoryTypes) {
    const auto& value = score(setting, type);
    if (!value) return std::nullopt;
    sum += value->ndcg10;
  }
  return sum / kMemoryTypeCount;
}

std::optional<ModelInfo::BestScore> ModelInfo::best_score(MemoryType type) const {
  const auto& on = score(Instructions::On, type);
  const auto& off = score(Instructions::Off, type);
  if (on && (!off || on->ndcg10 > off->ndcg10)) return BestScore{*on, Instructions::On};
  if (off) return BestScore{*off, Instructions::Off};
  return std::nullopt;
}

std::optional<double> ModelInfo::best_mean_type() const {
  double sum = 0;
  for (const MemoryType type : kMemoryTypes) {
    const auto best = best_score(type);
    if (!best) return std::nullopt;
    sum += best->score.ndcg10;
  }
  return sum / kMemoryTypeCount;
}

std::string instruction_policy(const ModelInfo& model) {
  const auto with = model.mean_type(Instructions::On);
  const auto without = model.mean_type(Instructions::Off);
  if (!with || !without) return "unknown";
  const double gain = *with - *without;
  if (gain >= kPolicyThreshold) return "use instructions";
  if (gain <= -kPolicyThreshold) return "no instructions";
  return "no clear difference";
}

Registry Registry::from_json(const Json& document, const std::string& where) {
  if (!document.is_object()) throw invalid_input("{}: the registry must be a JSON object", where);
  for (const auto& [key, value] : document.items()) {
    if (key != "format" && key != "description" && key != "sources" && key != "models")
      throw invalid_input("{}: unknown top-level field \"{}\" (known: format, description, sources, models)",
                          where, key);
  }
  const auto format = document.find("format");
  if (format == document.end() || !format->is_string() || format->get<std::string>() != kFormat) {
    throw invalid_input("{}: \"format\" must be \"{}\", got {}", where, kFormat,
                        format == document.end() ? "nothing" : format->dump());
  }

  Registry registry;
  std::set<std::string> source_ids;
  const auto sources = document.find("sources");
  if (sources == document.end() || !sources->is_object())
    throw invalid_input("{}: \"sources\" must be an object mapping source ids to {{title, url}}", where);
  for (const auto& [id, value] : sources->items()) {
    const std::string context = fmt::format("{}: sources.{}", where, id);
    if (!value.is_object()) throw invalid_input("{}: must be an object with \"title\" and \"url\"", context);
    Source source{id, require_string(value, "title", context), optional_string(value, "url", context).value_or("")};
    source_ids.insert(id);
    registry.sources_.push_back(std::move(source));
  }

  const auto models = document.find("models");
  if (models == document.end() || !models->is_array() || models->empty())
    throw invalid_input("{}: \"models\" must be a non-empty array", where);
  std::set<std::string> ids;
  for (size_t i = 0; i < models->size(); ++i) {
    const Json& entry = (*models)[i];
    std::string context = fmt::format("{}: models[{}]", where, i);
    if (entry.is_object() && entry.contains("id") && entry["id"].is_string())
      context += fmt::format(" ({})", entry["id"].get<std::string>());
    ModelInfo model = read_model(entry, context, source_ids);
    if (!ids.insert(lower(model.id)).second) throw invalid_input("{}: duplicate model id \"{}\"", context, model.id);
    registry.models_.push_back(std::move(model));
  }
  return registry;
}

Registry Registry::load(const std::filesystem::path& path) {
  return from_json(read_json_file(path), path.string());
}

const Source* Registry::source(std::string_view id) const {
  for (const Source& source : sources_) {
    if (source.id == id) return &source;
  }
  return nullptr;
}

const ModelInfo* Registry::find(std::string_view name) const {
  const std::string full = lower(name);
  const std::string base = lower(last_component(name));
  if (full.empty()) return nullptr;
  // Exact names first, so "BAAI/bge-m3" never resolves through a looser basename match.
  for (const ModelInfo& model : models_) {
    if (lower(model.id) == full || lower(model.name) == full) return &model;
    if (model.hf_id && lower(model.hf_id->value) == full) return &model;
    for (const std::string& alias : model.aliases) {
      if (lower(alias) == full) return &model;
    }
  }
  for (const ModelInfo& model : models_) {
    if (model.local_only) continue;
    if (lower(model.id) == base || lower(model.name) == base) return &model;
    if (model.hf_id && lower(last_component(model.hf_id->value)) == base) return &model;
    for (const std::string& alias : model.aliases) {
      if (lower(last_component(alias)) == base) return &model;
    }
  }
  return nullptr;
}

ModelInfo& Registry::entry_for(std::string_view name) {
  if (const ModelInfo* found = find(name)) return const_cast<ModelInfo&>(*found);
  ModelInfo model;
  model.id = std::string(name);
  model.name = std::string(last_component(name));
  model.local_only = true;
  models_.push_back(std::move(model));
  return models_.back();
}

namespace {

template <typename T>
Json fact_json(const std::optional<Fact<T>>& fact) {
  if (!fact) return nullptr;
  return {{"value", fact->value}, {"source", fact->source}};
}

Json matryoshka_json(const std::optional<Fact<Matryoshka>>& fact) {
  if (!fact) return nullptr;
  Json value = fact->value.dims.empty() ? Json{{"min", fact->value.min}, {"max", fact->value.max}}
                                        : Json(fact->value.dims);
  return {{"value", value}, {"source", fact->source}};
}

}  // namespace

Json to_json(const ModelInfo& model) {
  Json scores = Json::object();
  Json means = Json::object();
  for (const Instructions setting : {Instructions::Off, Instructions::On}) {
    const char* key = setting == Instructions::On ? "w_inst" : "wo_inst";
    Json row = Json::object();
    for (const MemoryType type : kMemoryTypes) {
      const auto& score = model.score(setting, type);
      row[lower(lmeb_name(type))] =
          score ? Json{{"ndcg10", score->ndcg10},
                       {"recall10", score->recall10 ? Json(*score->recall10) : Json(nullptr)},
                       {"measured", score->measured},
                       {"source", score->source}}
                : Json(nullptr);
    }
    scores[key] = row;
    const auto mean = model.mean_type(setting);
    means[key] = mean ? Json(*mean) : Json(nullptr);
  }
  Json memory = Json::object();
  for (const Device device : {Device::Cpu, Device::Gpu}) {
    const auto estimate = estimate_memory(model, device);
    memory[device == Device::Gpu ? "gpu_bf16" : "cpu_f32"] =
        estimate ? Json{{"bytes", estimate->bytes}, {"measured", estimate->measured}, {"basis", estimate->basis}}
                 : Json(nullptr);
  }
  Json throughput = nullptr;
  if (model.throughput) {
    throughput = to_json(static_cast<const BenchRecord&>(*model.throughput));
    throughput["source"] = model.throughput->source;
  }
  Json mteb = nullptr;
  if (model.mteb_retrieval) {
    mteb = {{"value", model.mteb_retrieval->value},
            {"benchmark", model.mteb_retrieval->benchmark},
            {"source", model.mteb_retrieval->source}};
  }
  const auto tier = tier_of(model);
  return {
      {"id", model.id},
      {"name", model.name},
      {"aliases", model.aliases},
      {"local_only", model.local_only},
      {"hf_id", fact_json(model.hf_id)},
      {"params", fact_json(model.params)},
      {"tier", tier ? Json(to_string(*tier)) : Json(nullptr)},
      {"dims", fact_json(model.dims)},
      {"matryoshka_dims", matryoshka_json(model.matryoshka)},
      {"max_tokens", fact_json(model.max_tokens)},
      {"pooling", fact_json(model.pooling)},
      {"query_prompt", fact_json(model.query_prompt)},
      {"document_prompt", fact_json(model.document_prompt)},
      {"instruction_template", fact_json(model.instruction_template)},
      {"licence", fact_json(model.licence)},
      {"languages", fact_json(model.languages)},
      {"mteb_retrieval", mteb},
      {"lmeb_size", model.lmeb_size ? Json(*model.lmeb_size) : Json(nullptr)},
      {"scores", scores},
      {"mean_type", means},
      {"instruction_policy", instruction_policy(model)},
      {"memory", memory},
      {"throughput", throughput},
      {"notes", model.notes},
  };
}

}  // namespace memembed::select
