// lmeb_aggregation: LMEB's summary of per-subset scores, defined once for `memembed eval`'s tables
// and for `recommend --evidence`, which reads eval's result files back.
//
// A dataset's score is the unweighted mean of its subsets, a memory type's the unweighted mean of
// its datasets; "Mean (Dataset)" averages all datasets, "Mean (Type)" the memory-type means (as
// LMEB's summary.py does). Memory types are named as in LMEB's tables ("Episodic", ...); a name
// outside the four is kept and ordered after them.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace memembed {

struct LmebSubsetScore {
  std::string memory_type;
  std::string dataset;
  double value = 0;
};

struct LmebDatasetScore {
  std::string memory_type;
  std::string dataset;
  size_t subsets = 0;
  double value = 0;
};

struct LmebTypeScore {
  std::string memory_type;
  size_t datasets = 0;
  double value = 0;
};

struct LmebAggregate {
  std::vector<LmebDatasetScore> datasets;  // memory-type order, then dataset name
  std::vector<LmebTypeScore> types;        // Episodic, Dialogue, Semantic, Procedural, then others
  double mean_dataset = 0;                 // 0 when there are no datasets
  double mean_type = 0;
  bool empty() const { return datasets.empty(); }
};

// Each element is one subset's value; the order of the input does not matter.
LmebAggregate aggregate_lmeb(const std::vector<LmebSubsetScore>& subsets);

// Episodic < Dialogue < Semantic < Procedural < anything else (alphabetical).
bool memory_type_before(const std::string& a, const std::string& b);

}  // namespace memembed
