// Subset -> dataset -> memory type -> overall, as LMEB's summary.py aggregates.
//
// A dataset's score is the unweighted mean of its subsets, a memory type's the mean of its
// datasets; "Mean (Dataset)" averages all datasets, "Mean (Type)" the memory-type means. Like
// summary.py, the inputs are the values MTEB stores per subset (ndcg/map/recall/precision/r_cap
// rounded to 5 decimals), so our aggregates match a LMEB run on the same results.
#pragma once

#include "memembed/eval.h"

#include <string>
#include <vector>

namespace memembed::eval {

struct DatasetScore {
  std::string memory_type;
  std::string dataset;
  size_t subsets = 0;
  double value = 0;
};

struct TypeScore {
  std::string memory_type;
  size_t datasets = 0;
  double value = 0;
};

struct Aggregate {
  std::string instructions;  // "off" | "on"
  std::string metric;        // MTEB name, e.g. ndcg_at_10
  std::vector<DatasetScore> datasets;  // memory-type order, then dataset name
  std::vector<TypeScore> types;        // Episodic, Dialogue, Semantic, Procedural, then others
  double mean_dataset = 0;
  double mean_type = 0;
  bool empty() const { return datasets.empty(); }
};

// The value MTEB stores for an MTEB-named measure (mrr_at_k unrounded, the others to 5 decimals).
double stored_value(const std::string& metric, double unrounded);

// Subsets of one instruction setting with an undefined value for `metric` are skipped.
Aggregate aggregate(const std::vector<SubsetResult>& subsets, const std::string& instructions,
                    const std::string& metric);

// Episodic < Dialogue < Semantic < Procedural < anything else (alphabetical).
bool memory_type_before(const std::string& a, const std::string& b);

}  // namespace memembed::eval
