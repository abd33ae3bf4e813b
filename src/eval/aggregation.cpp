#include "aggregation.h"

#include "metrics.h"

namespace memembed::eval {

double stored_value(const std::string& metric, double unrounded) {
  if (metric.rfind("mrr_at_", 0) == 0) return unrounded;
  return round_like_python(unrounded, 5);
}

Aggregate aggregate(const std::vector<SubsetResult>& subsets, const std::string& instructions,
                    const std::string& metric) {
  std::vector<LmebSubsetScore> values;
  for (const SubsetResult& s : subsets) {
    if (s.instructions != instructions) continue;
    auto it = s.scores.find(metric);
    if (it == s.scores.end() || !it->second) continue;
    values.push_back({s.memory_type, s.dataset, stored_value(metric, *it->second)});
  }
  Aggregate result;
  static_cast<LmebAggregate&>(result) = aggregate_lmeb(values);
  result.instructions = instructions;
  result.metric = metric;
  return result;
}

}  // namespace memembed::eval
