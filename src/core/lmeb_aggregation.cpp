#include "memembed/lmeb_aggregation.h"

#include "memembed/memory_type.h"

#include <algorithm>
#include <map>
#include <utility>

namespace memembed {

namespace {

// LMEB's table order for its four types (by their LMEB names), anything else after them.
size_t type_rank(const std::string& type) {
  for (size_t i = 0; i < kMemoryTypes.size(); ++i) {
    if (type == lmeb_name(kMemoryTypes[i])) return i;
  }
  return kMemoryTypes.size();
}

}  // namespace

bool memory_type_before(const std::string& a, const std::string& b) {
  const size_t ra = type_rank(a), rb = type_rank(b);
  if (ra != rb) return ra < rb;
  return a < b;
}

LmebAggregate aggregate_lmeb(const std::vector<LmebSubsetScore>& subsets) {
  LmebAggregate result;
  // (type, dataset) -> subset values
  std::map<std::pair<std::string, std::string>, std::vector<double>> by_dataset;
  for (const LmebSubsetScore& s : subsets) by_dataset[{s.memory_type, s.dataset}].push_back(s.value);
  for (const auto& [key, values] : by_dataset) {
    double sum = 0;
    for (double v : values) sum += v;
    result.datasets.push_back({key.first, key.second, values.size(), sum / static_cast<double>(values.size())});
  }
  std::stable_sort(result.datasets.begin(), result.datasets.end(),
                   [](const LmebDatasetScore& a, const LmebDatasetScore& b) {
                     if (a.memory_type != b.memory_type) return memory_type_before(a.memory_type, b.memory_type);
                     return a.dataset < b.dataset;
                   });
  double all = 0;
  for (const LmebDatasetScore& d : result.datasets) {
    all += d.value;
    if (result.types.empty() || result.types.back().memory_type != d.memory_type) {
      result.types.push_back({d.memory_type, 0, 0});
    }
    result.types.back().datasets += 1;
    result.types.back().value += d.value;
  }
  double type_sum = 0;
  for (LmebTypeScore& t : result.types) {
    t.value /= static_cast<double>(t.datasets);
    type_sum += t.value;
  }
  if (!result.datasets.empty()) {
    result.mean_dataset = all / static_cast<double>(result.datasets.size());
    result.mean_type = type_sum / static_cast<double>(result.types.size());
  }
  return result;
}

}  // namespace memembed
