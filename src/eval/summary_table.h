// The summary tables: summary.csv (one row per subset and instruction setting, every measure,
// unrounded), summary.md (aggregates beside the published LMEB rows) and the console table.
#pragma once

#include "memembed/eval.h"
#include "metrics.h"
#include "published_scores.h"

#include <filesystem>
#include <string>
#include <vector>

namespace memembed::eval {

// One model's results (one --out directory or one run).
struct ModelRun {
  std::string model_name;
  std::string model_revision;
  std::vector<SubsetResult> subsets;
};

// Rows ordered by instruction setting (off, on), memory type, dataset, subset.
void sort_subsets(std::vector<SubsetResult>& subsets);

// Header: memory_type,dataset,subset,instructions,main_score, then every MTEB name of `set`.
std::string summary_csv(const std::vector<SubsetResult>& subsets, const MetricSet& set);

std::string summary_markdown(const std::vector<ModelRun>& runs, const PublishedScores& published);

// The compact table printed at the end of `memembed eval`.
std::string console_summary(const ModelRun& run);

}  // namespace memembed::eval
