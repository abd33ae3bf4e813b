#include "task_result.h"

#include "memembed/error.h"

#include <algorithm>

#ifndef MEMEMBED_VERSION
#define MEMEMBED_VERSION "unknown"
#endif

namespace memembed::eval {

namespace fs = std::filesystem;

namespace {

std::string file_safe_subset(std::string subset) {
  std::string out;
  for (size_t i = 0; i < subset.size(); ++i) {
    if (subset[i] == '/') out += "__";
    else out += subset[i];
  }
  return out;
}

Json optional_json(const std::optional<double>& value) {
  return value ? Json(*value) : Json(nullptr);
}

}  // namespace

fs::path task_result_path(const fs::path& out, const SubsetResult& result) {
  return out / "results" / result.instructions / result.memory_type / result.dataset /
         (file_safe_subset(result.subset) + ".json");
}

Json make_task_result(const SubsetResult& result, const ResultMetadata& metadata,
                      const std::map<std::string, std::optional<double>>& stored) {
  Json scores = Json::object();
  scores["hf_subset"] = result.subset;
  scores["languages"] = Json::array({"eng-Latn"});
  auto main = stored.find("ndcg_at_10");
  scores["main_score"] = main != stored.end() ? optional_json(main->second) : Json(nullptr);
  for (const auto& [name, value] : stored) scores[name] = optional_json(value);

  Json unrounded = Json::object();
  for (const auto& [name, value] : result.scores) unrounded[name] = optional_json(value);

  Json json = Json::object();
  json["task_name"] = result.dataset;
  json["memory_type"] = result.memory_type;
  json["subset"] = result.subset;
  json["instructions"] = result.instructions;
  json["model_name"] = metadata.model_name;
  json["model_revision"] = metadata.model_revision;
  json["evaluation_time"] = result.evaluation_time;
  json["memembed_version"] = MEMEMBED_VERSION;
  json["scores"] = {{"test", Json::array({scores})}};
  json["memembed"] = {{"unrounded", unrounded},
                      {"main_score", result.main_score},
                      {"k_values", metadata.cutoffs},
                      {"retriever", metadata.retriever_settings},
                      {"num_queries", metadata.num_queries},
                      {"corpus_size", metadata.corpus_size},
                      {"warnings", result.warnings}};
  return json;
}

StoredResult read_task_result(const fs::path& path) {
  const Json json = read_json_file(path);
  const std::string where = path.string();
  StoredResult stored;
  SubsetResult& r = stored.result;
  r.dataset = require_string(json, "task_name", where);
  r.memory_type = require_string(json, "memory_type", where);
  r.subset = require_string(json, "subset", where);
  r.instructions = require_string(json, "instructions", where);
  if (r.instructions != "off" && r.instructions != "on") {
    throw invalid_input("{}: \"instructions\" must be \"off\" or \"on\", got \"{}\"", where,
                        r.instructions);
  }
  r.evaluation_time = require_number(json, "evaluation_time", where);
  stored.metadata.model_name = require_string(json, "model_name", where);
  stored.metadata.model_revision = require_string(json, "model_revision", where);
  r.reused = true;
  auto memembed = json.find("memembed");
  if (memembed == json.end() || !memembed->is_object()) {
    throw invalid_input("{}: missing object \"memembed\" (not written by memembed eval?)", where);
  }
  const Json& m = *memembed;
  auto unrounded = m.find("unrounded");
  if (unrounded == m.end() || !unrounded->is_object()) {
    throw invalid_input("{}: missing object \"memembed.unrounded\"", where);
  }
  for (const auto& [name, value] : unrounded->items()) {
    if (value.is_null()) r.scores[name] = std::nullopt;
    else if (value.is_number()) r.scores[name] = value.get<double>();
    else throw invalid_input("{}: memembed.unrounded.{} must be a number or null", where, name);
  }
  auto main = r.scores.find("ndcg_at_10");
  if (main == r.scores.end() || !main->second) {
    throw invalid_input("{}: memembed.unrounded has no ndcg_at_10", where);
  }
  r.main_score = *main->second;
  if (m.contains("k_values") && m["k_values"].is_array()) {
    for (const auto& k : m["k_values"]) {
      if (k.is_number_integer()) stored.metadata.cutoffs.push_back(k.get<int>());
    }
  }
  if (m.contains("retriever") && m["retriever"].is_string()) {
    stored.metadata.retriever_settings = m["retriever"].get<std::string>();
  }
  if (m.contains("num_queries") && m["num_queries"].is_number_unsigned()) {
    stored.metadata.num_queries = m["num_queries"].get<size_t>();
  }
  if (m.contains("warnings") && m["warnings"].is_array()) {
    for (const auto& w : m["warnings"]) {
      if (w.is_string()) r.warnings.push_back(w.get<std::string>());
    }
  }
  return stored;
}

std::vector<StoredResult> read_all_task_results(const fs::path& out) {
  std::vector<StoredResult> results;
  const fs::path root = out / "results";
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return results;
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file() && it->path().extension() == ".json") files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) results.push_back(read_task_result(file));
  return results;
}

}  // namespace memembed::eval
