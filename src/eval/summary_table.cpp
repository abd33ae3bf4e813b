#include "summary_table.h"

#include "aggregation.h"
#include "csv_table.h"
#include "task_layout.h"

#include "memembed/memory_type.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace memembed::eval {

namespace {

// LMEB's four memory types by their LMEB names, in its table order.
const std::vector<std::string> kTypes = [] {
  std::vector<std::string> names;
  for (const MemoryType type : kMemoryTypes) names.emplace_back(lmeb_name(type));
  return names;
}();

std::string pct(double value) { return fmt::format("{:.2f}", 100.0 * value); }

std::string pct_or_dash(const std::optional<double>& value) { return value ? pct(*value) : "-"; }

std::vector<std::string> settings_present(const std::vector<SubsetResult>& subsets) {
  std::vector<std::string> out;
  for (const char* s : {"off", "on"}) {
    if (std::any_of(subsets.begin(), subsets.end(),
                    [&](const SubsetResult& r) { return r.instructions == s; })) {
      out.push_back(s);
    }
  }
  return out;
}

std::optional<double> type_value(const Aggregate& a, const std::string& type) {
  for (const auto& t : a.types) {
    if (t.memory_type == type) return t.value;
  }
  return std::nullopt;
}

std::string type_label(const std::string& type) {
  const std::string category = agent_memory_category(type);
  return category.empty() ? type : fmt::format("{} ({})", type, category);
}

// Table of per-type and overall aggregates of `metric` for every run and setting.
std::string overall_table(const std::vector<ModelRun>& runs, const std::string& metric,
                          const PublishedScores* published, const std::string& published_suffix) {
  std::string out = "| model | instructions |";
  for (const std::string& t : kTypes) out += fmt::format(" {} |", type_label(t));
  out += " Mean (Dataset) | Mean (Type) | datasets |\n|---|---|";
  for (size_t i = 0; i < kTypes.size(); ++i) out += "---:|";
  out += "---:|---:|---:|\n";
  std::set<std::string> settings_shown;
  for (const ModelRun& run : runs) {
    for (const std::string& setting : settings_present(run.subsets)) {
      settings_shown.insert(setting);
      const Aggregate a = aggregate(run.subsets, setting, metric);
      if (a.empty()) continue;
      out += fmt::format("| **{}** | {} |", run.model_name, setting);
      for (const std::string& t : kTypes) out += fmt::format(" {} |", pct_or_dash(type_value(a, t)));
      out += fmt::format(" {} | {} | {} |\n", pct(a.mean_dataset), pct(a.mean_type), a.datasets.size());
    }
  }
  if (published != nullptr) {
    for (const std::string& setting : settings_shown) {
      for (const PublishedRow& row : published->rows) {
        if (row.setting != published_setting(setting)) continue;
        out += fmt::format("| {} (published) | {} |", row.model, setting);
        for (const std::string& t : kTypes) {
          auto it = row.values.find(published_type_prefix(t) + published_suffix);
          out += it != row.values.end() ? fmt::format(" {:.2f} |", it->second) : std::string(" - |");
        }
        for (const char* c : {"meanDS", "meanType"}) {
          auto it = row.values.find(std::string(c) + published_suffix);
          out += it != row.values.end() ? fmt::format(" {:.2f} |", it->second) : std::string(" - |");
        }
        out += " 22 |\n";
      }
    }
  }
  return out;
}

// Every (memory type, dataset) evaluated under any of the settings, in first-seen order.
std::vector<std::pair<std::string, std::string>> datasets_evaluated(const std::map<std::string, Aggregate>& by_setting,
                                                                    const std::vector<std::string>& settings) {
  std::vector<std::pair<std::string, std::string>> datasets;
  for (const auto& s : settings) {
    for (const auto& d : by_setting.at(s).datasets) {
      if (std::find(datasets.begin(), datasets.end(), std::make_pair(d.memory_type, d.dataset)) == datasets.end()) {
        datasets.emplace_back(d.memory_type, d.dataset);
      }
    }
  }
  return datasets;
}

}  // namespace

void sort_subsets(std::vector<SubsetResult>& subsets) {
  std::stable_sort(subsets.begin(), subsets.end(), [](const SubsetResult& a, const SubsetResult& b) {
    if (a.instructions != b.instructions) return a.instructions == "off";
    if (a.memory_type != b.memory_type) return memory_type_before(a.memory_type, b.memory_type);
    if (a.dataset != b.dataset) return a.dataset < b.dataset;
    return a.subset < b.subset;
  });
}

std::string summary_csv(const std::vector<SubsetResult>& subsets_in, const MetricSet& set) {
  std::vector<SubsetResult> subsets = subsets_in;
  sort_subsets(subsets);
  std::vector<std::string> names;
  for (size_t i = 0; i < set.size(); ++i) {
    const std::string name = set.mteb_name(i);
    if (!name.empty()) names.push_back(name);
  }
  std::string out = "memory_type,dataset,subset,instructions,main_score";
  for (const auto& n : names) out += "," + n;
  out += "\n";
  for (const SubsetResult& s : subsets) {
    out += fmt::format("{},{},{},{},{}", csv_field(s.memory_type), csv_field(s.dataset),
                       csv_field(s.subset), s.instructions, s.main_score);
    for (const auto& n : names) {
      auto it = s.scores.find(n);
      out += ",";
      if (it != s.scores.end() && it->second) out += fmt::format("{}", *it->second);
    }
    out += "\n";
  }
  return out;
}

std::string summary_markdown(const std::vector<ModelRun>& runs, const PublishedScores& published) {
  std::string out = "# memembed eval summary\n\n";
  out += "Scores are NDCG@10 (LMEB's main score) and R_cap@10, x100. A dataset's score is the mean "
         "of its subsets, a memory type's the mean of its datasets; Mean (Dataset) averages all "
         "datasets, Mean (Type) the memory types (LMEB's summary.py). Published rows cover all 22 "
         "LMEB datasets; ours cover the datasets evaluated (see the datasets column), so compare "
         "means only over the same datasets.\n\n";
  for (const ModelRun& run : runs) {
    out += fmt::format("- **{}** (revision `{}`): {} subset results\n", run.model_name,
                       run.model_revision, run.subsets.size());
  }
  out += fmt::format("\nPublished rows: {}\n\n", published.source);
  out += "## NDCG@10 by memory type (agent memory category)\n\n";
  out += overall_table(runs, "ndcg_at_10", &published, "_n10");
  out += "\n## R_cap@10 by memory type\n\n";
  out += overall_table(runs, "r_cap_at_10", &published, "_r10");

  for (const ModelRun& run : runs) {
    const auto settings = settings_present(run.subsets);
    out += fmt::format("\n## {}: NDCG@10 per dataset\n\n| memory type | dataset | subsets |",
                       run.model_name);
    for (const auto& s : settings) out += fmt::format(" instructions {} |", s);
    if (settings.size() == 2) out += " on - off |";
    out += "\n|---|---|---:|";
    for (size_t i = 0; i < settings.size() + (settings.size() == 2 ? 1 : 0); ++i) out += "---:|";
    out += "\n";
    std::map<std::string, Aggregate> by_setting;
    for (const auto& s : settings) by_setting[s] = aggregate(run.subsets, s, "ndcg_at_10");
    const auto datasets = datasets_evaluated(by_setting, settings);
    for (const auto& [type, dataset] : datasets) {
      std::vector<std::optional<double>> values;
      size_t subsets = 0;
      for (const auto& s : settings) {
        std::optional<double> v;
        for (const auto& d : by_setting[s].datasets) {
          if (d.memory_type == type && d.dataset == dataset) {
            v = d.value;
            subsets = std::max(subsets, d.subsets);
          }
        }
        values.push_back(v);
      }
      out += fmt::format("| {} | {} | {} |", type, dataset, subsets);
      for (const auto& v : values) out += fmt::format(" {} |", pct_or_dash(v));
      if (values.size() == 2) {
        out += values[0] && values[1] ? fmt::format(" {:+.2f} |", 100.0 * (*values[1] - *values[0]))
                                      : std::string(" - |");
      }
      out += "\n";
    }

    out += fmt::format("\n## {}: every subset (NDCG@10, R_cap@10)\n\n", run.model_name);
    out += "| instructions | memory type | dataset | subset | NDCG@10 | R_cap@10 | MAP@10 | Recall@10 |\n";
    out += "|---|---|---|---|---:|---:|---:|---:|\n";
    std::vector<SubsetResult> sorted = run.subsets;
    sort_subsets(sorted);
    for (const auto& s : sorted) {
      auto get = [&](const char* name) -> std::optional<double> {
        auto it = s.scores.find(name);
        return it == s.scores.end() ? std::nullopt : it->second;
      };
      out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} |\n", s.instructions,
                         s.memory_type, s.dataset, s.subset, pct(s.main_score),
                         pct_or_dash(get("r_cap_at_10")), pct_or_dash(get("map_at_10")),
                         pct_or_dash(get("recall_at_10")));
    }
  }
  return out;
}

std::string console_summary(const ModelRun& run) {
  std::string out;
  const auto settings = settings_present(run.subsets);
  out += fmt::format("{} (NDCG@10 x100)\n", run.model_name);
  out += fmt::format("{:<12} {:<20}", "type", "dataset");
  for (const auto& s : settings) out += fmt::format(" {:>8}", "inst " + s);
  out += "\n";
  std::map<std::string, Aggregate> by_setting;
  for (const auto& s : settings) by_setting[s] = aggregate(run.subsets, s, "ndcg_at_10");
  if (settings.empty()) return out;
  auto value_of = [&](const std::string& setting, const std::string& type,
                      const std::string& dataset) -> std::optional<double> {
    for (const auto& d : by_setting[setting].datasets) {
      if (d.memory_type == type && d.dataset == dataset) return d.value;
    }
    return std::nullopt;
  };
  const auto datasets = datasets_evaluated(by_setting, settings);
  for (const auto& [type, dataset] : datasets) {
    out += fmt::format("{:<12} {:<20}", type, dataset);
    for (const auto& s : settings) out += fmt::format(" {:>8}", pct_or_dash(value_of(s, type, dataset)));
    out += "\n";
  }
  for (const std::string& type : kTypes) {
    bool any = false;
    std::string line = fmt::format("{:<33}", type_label(type) + " mean");
    for (const auto& s : settings) {
      const auto v = type_value(by_setting[s], type);
      any = any || v.has_value();
      line += fmt::format(" {:>8}", pct_or_dash(v));
    }
    if (any) out += line + "\n";
  }
  out += fmt::format("{:<33}", "Mean (Dataset)");
  for (const auto& s : settings) out += fmt::format(" {:>8}", pct(by_setting[s].mean_dataset));
  out += fmt::format("\n{:<33}", "Mean (Type)");
  for (const auto& s : settings) out += fmt::format(" {:>8}", pct(by_setting[s].mean_type));
  out += "\n";
  return out;
}

}  // namespace memembed::eval
