#include "memembed/error.h"
#include "memembed/json_io.h"
#include "memembed/precision.h"
#include "memembed/select.h"

#include <algorithm>
#include <map>
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

// model -> setting -> memory type -> dataset -> subset -> score
using Tree = std::map<std::string,
                      std::map<int, std::map<int, std::map<std::string, std::map<std::string, SubsetScore>>>>>;

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
  tree[model][static_cast<int>(setting)][static_cast<int>(type)][dataset][subset] = score;
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

  // LMEB's aggregation: unweighted mean of subsets per dataset, of datasets per memory type.
  for (const auto& [model_name, settings] : tree) {
    ModelInfo& model = registry.entry_for(model_name);
    for (const auto& [setting, types] : settings) {
      for (const auto& [type, datasets] : types) {
        double ndcg_sum = 0;
        double recall_sum = 0;
        bool recall_complete = true;
        for (const auto& [dataset, subsets] : datasets) {
          double dataset_ndcg = 0;
          double dataset_recall = 0;
          for (const auto& [subset, score] : subsets) {
            dataset_ndcg += score.ndcg10;
            if (score.recall10) dataset_recall += *score.recall10;
            else recall_complete = false;
          }
          ndcg_sum += dataset_ndcg / static_cast<double>(subsets.size());
          recall_sum += dataset_recall / static_cast<double>(subsets.size());
        }
        const double count = static_cast<double>(datasets.size());
        TypeScore merged;
        merged.ndcg10 = 100.0 * ndcg_sum / count;
        if (recall_complete) merged.recall10 = 100.0 * recall_sum / count;
        merged.measured = true;
        merged.source = dir.string();
        merged.datasets = static_cast<int>(datasets.size());
        model.scores[setting][type] = merged;
      }
    }
  }
}

void merge_bench(Registry& registry, const fs::path& file) {
  const std::string where = file.string();
  const Json document = read_json_file(file);
  if (!document.is_object()) throw invalid_input("{}: expected a JSON object from `memembed bench --json`", where);
  const std::string model_name = require_string(document, "model", where);
  const std::optional<std::string> model_dir = optional_string(document, "model_dir", where);

  Throughput throughput;
  const auto positive = [&](const char* field) {
    const double value = require_number(document, field, where);
    if (!(value > 0)) throw invalid_input("{}: \"{}\" must be greater than zero, got {}", where, field, value);
    return value;
  };
  throughput.texts_per_second = positive("texts_per_second");
  throughput.tokens_per_second = positive("tokens_per_second");
  throughput.peak_rss_bytes = positive("peak_rss_bytes");
  throughput.mean_tokens_per_text = positive("mean_tokens_per_text");
  throughput.threads = static_cast<int>(positive("threads"));
  const std::string device = optional_string(document, "device", where).value_or("cpu");
  if (device == "cpu") throughput.device = "cpu";
  else if (device == "cuda" || device == "gpu") throughput.device = "cuda";
  else throw invalid_input("{}: \"device\" must be \"cpu\" or \"cuda\", got \"{}\"", where, device);
  throughput.precision =
      to_string(parse_precision(optional_string(document, "precision", where).value_or("f32"), where + ": precision"));
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
  const ModelInfo* known = registry.find(model_name);
  if (!known && model_dir) known = registry.find(*model_dir);
  ModelInfo& model = known ? registry.entry_for(known->id) : registry.entry_for(model_name);
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
