#include "memembed/error.h"
#include "memembed/json_io.h"
#include "memembed/lmeb_aggregation.h"
#include "memembed/memory_type.h"
#include "memembed/select.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <system_error>
#include <tuple>

namespace fs = std::filesystem;

namespace memembed::select {

namespace {

struct SubsetScore {
  double ndcg10 = 0;
  std::optional<double> recall10;
};

// model -> setting -> (memory type, dataset, subset) -> score
using Tree = std::map<std::string, std::map<int, std::map<std::tuple<MemoryType, std::string, std::string>, SubsetScore>>>;

Instructions parse_setting(const std::string& text, const std::string& where) {
  if (text == "on") return Instructions::On;
  if (text == "off") return Instructions::Off;
  throw invalid_input("{}: field \"instructions\" must be \"on\" or \"off\", got \"{}\"", where, text);
}

double unit_score(const Json& entry, const char* field, const std::string& where) {
  const double value = require_number(entry, field, where);
  if (value < 0 || value > 1) throw invalid_input("{}: \"{}\" must lie in [0, 1], got {}", where, field, value);
  return value;
}

// One subset result as `memembed eval` writes it (close to MTEB's TaskResult). Averages the
// main score over the hf_subset entries of the test split, as MTEB reports a task's score.
void read_subset(const fs::path& file, const fs::path& results_dir, Tree& tree) {
  const std::string where = file.string();
  const Json document = read_json_file(file);
  if (!document.is_object()) throw invalid_input("{}: expected a JSON object", where);
  const std::string model = require_string(document, "model_name", where);
  const std::string dataset = require_string(document, "task_name", where);
  const std::string subset = require_string(document, "subset", where);
  const Instructions setting = parse_setting(require_string(document, "instructions", where), where);
  const std::string type_text = require_string(document, "memory_type", where);
  MemoryType type;
  try {
    type = parse_memory_type(type_text);
  } catch (const Error& e) {
    throw invalid_input("{}: field \"memory_type\": {}", where, e.what());
  }

  // The folder names repeat the setting and memory type; disagreement means files were moved or
  // hand-edited, and trusting either one silently would misfile the score.
  const fs::path relative = file.lexically_relative(results_dir);
  auto part = relative.begin();
  if (part != relative.end() && part->string() != to_string(setting)) {
    throw invalid_input("{}: lies under results/{}/ but says \"instructions\": \"{}\"", where, part->string(),
                        to_string(setting));
  }
  if (part != relative.end() && ++part != relative.end() && part->string() != lmeb_name(type)) {
    throw invalid_input("{}: lies under a {}/ folder but says \"memory_type\": \"{}\"", where, part->string(),
                        type_text);
  }

  const auto scores = document.find("scores");
  if (scores == document.end() || !scores->is_object() || !scores->contains("test") ||
      !(*scores)["test"].is_array() || (*scores)["test"].empty()) {
    throw invalid_input("{}: \"scores.test\" must be a non-empty array of score objects", where);
  }
  SubsetScore score;
  double recall_sum = 0;
  size_t recall_count = 0;
  const Json& entries = (*scores)["test"];
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string entry_where = fmt::format("{}: scores.test[{}]", where, i);
    if (!entries[i].is_object()) throw invalid_input("{}: expected an object", entry_where);
    score.ndcg10 += unit_score(entries[i], "main_score", entry_where);
    if (entries[i].contains("r_cap_at_10")) {
      recall_sum += unit_score(entries[i], "r_cap_at_10", entry_where);
      ++recall_count;
    }
  }
  score.ndcg10 /= static_cast<double>(entries.size());
  if (recall_count == entries.size()) score.recall10 = recall_sum / static_cast<double>(recall_count);
  tree[model][static_cast<int>(setting)][{type, dataset, subset}] = score;
}

}  // namespace

void merge_eval_results(Registry& registry, const fs::path& dir) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) throw not_found("--evidence {}: no such directory", dir.string());
  const fs::path results = dir / "results";
  if (!fs::is_directory(results, error)) {
    throw invalid_input(
        "--evidence {}: no results/ folder; expected the layout `memembed eval --out DIR` writes "
        "(results/<off|on>/<MemoryType>/<Dataset>/<subset>.json)",
        dir.string());
  }
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(results, error); !error && it != fs::recursive_directory_iterator();
       it.increment(error)) {
    if (it->is_regular_file() && it->path().extension() == ".json") files.push_back(it->path());
  }
  if (error) throw io_error("--evidence {}: cannot list results/: {}", dir.string(), error.message());
  if (files.empty()) throw invalid_input("--evidence {}: no result files (*.json) under results/", dir.string());
  std::sort(files.begin(), files.end());

  Tree tree;
  for (const fs::path& file : files) read_subset(file, results, tree);

  // LMEB's aggregation of each model's subsets, per instruction setting.
  for (const auto& [model_name, settings] : tree) {
    ModelInfo& model = registry.entry_for(model_name);
    for (const auto& [setting, subsets] : settings) {
      // R_cap@10 of a memory type only when every one of its subsets reported it.
      std::vector<LmebSubsetScore> ndcg, recall;
      std::set<std::string> recall_incomplete;
      for (const auto& [key, score] : subsets) {
        const auto& [type, dataset, subset] = key;
        ndcg.push_back({lmeb_name(type), dataset, score.ndcg10});
        if (score.recall10) recall.push_back({lmeb_name(type), dataset, *score.recall10});
        else recall_incomplete.insert(lmeb_name(type));
      }
      const LmebAggregate recall_means = aggregate_lmeb(recall);
      for (const LmebTypeScore& type : aggregate_lmeb(ndcg).types) {
        TypeScore merged;
        merged.ndcg10 = 100.0 * type.value;
        if (!recall_incomplete.count(type.memory_type)) {
          for (const LmebTypeScore& r : recall_means.types) {
            if (r.memory_type == type.memory_type) merged.recall10 = 100.0 * r.value;
          }
        }
        merged.measured = true;
        merged.source = dir.string();
        merged.datasets = static_cast<int>(type.datasets);
        model.scores[setting][static_cast<int>(parse_memory_type(type.memory_type))] = merged;
      }
    }
  }
}

void merge_bench(Registry& registry, const fs::path& file) {
  Throughput throughput;
  const std::string where = file.string();
  const Json document = read_json_file(file);
  static_cast<BenchRecord&>(throughput) = read_bench_record(document, where);
  throughput.source = where;
  if (const auto latency = document.find("query_latency_ms"); latency != document.end() && !latency->is_null()) {
    const std::string field = where + ": query_latency_ms";
    if (!latency->is_object()) throw invalid_input("{} must be an object {{\"p50\", \"p99\"}}", field);
    throughput.query_p50_ms = require_number(*latency, "p50", field);
    throughput.query_p99_ms = require_number(*latency, "p99", field);
    if (!(*throughput.query_p50_ms > 0) || *throughput.query_p99_ms < *throughput.query_p50_ms)
      throw invalid_input("{}: p50 must be positive and p99 at least p50", field);
  }

  // Bench names the model as the user passed it; the directory name often carries the real id.
  const ModelInfo* known = registry.find(throughput.model);
  if (!known && !throughput.model_dir.empty()) known = registry.find(throughput.model_dir);
  ModelInfo& model = known ? registry.entry_for(known->id) : registry.entry_for(throughput.model);
  model.throughput = throughput;
}

Registry load_registry(const std::optional<fs::path>& registry_file, const std::vector<fs::path>& evidence_dirs,
                       const std::vector<fs::path>& bench_files) {
  Registry registry = registry_file ? Registry::load(*registry_file) : Registry::builtin();
  for (const fs::path& dir : evidence_dirs) merge_eval_results(registry, dir);
  for (const fs::path& file : bench_files) merge_bench(registry, file);
  return registry;
}

}  // namespace memembed::select
