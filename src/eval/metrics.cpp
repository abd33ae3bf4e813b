#include "metrics.h"

#include "memembed/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace memembed::eval {

namespace {

constexpr Measure kCutMeasures[] = {Measure::Ndcg,      Measure::Map, Measure::Recall,
                                    Measure::Precision, Measure::Mrr, Measure::RCap};
constexpr size_t kNumCutMeasures = sizeof(kCutMeasures) / sizeof(kCutMeasures[0]);
constexpr Measure kUncutMeasures[] = {Measure::RecipRank, Measure::NumRet, Measure::NumRel,
                                      Measure::NumRelRet};

}  // namespace

const std::vector<int>& default_cutoffs() {
  static const std::vector<int> cutoffs = {1, 3, 5, 10, 20, 25, 50, 100, 1000};
  return cutoffs;
}

MetricSet::MetricSet(std::vector<int> cutoffs) : cutoffs_(std::move(cutoffs)) {
  if (cutoffs_.empty()) throw invalid_input("cutoffs: at least one cutoff k is needed");
  for (int k : cutoffs_) {
    if (k <= 0) throw invalid_input("cutoffs: k must be a positive integer, got {}", k);
  }
  std::sort(cutoffs_.begin(), cutoffs_.end());
  cutoffs_.erase(std::unique(cutoffs_.begin(), cutoffs_.end()), cutoffs_.end());
}

size_t MetricSet::index(Measure measure, size_t cutoff_index) const {
  const size_t n = cutoffs_.size();
  for (size_t f = 0; f < kNumCutMeasures; ++f) {
    if (kCutMeasures[f] == measure) {
      MEMEMBED_ASSERT(cutoff_index < n);
      return f * n + cutoff_index;
    }
  }
  for (size_t u = 0; u < 4; ++u) {
    if (kUncutMeasures[u] == measure) return kNumCutMeasures * n + u;
  }
  MEMEMBED_ASSERT(false);
  return 0;
}

size_t MetricSet::index_at(Measure measure, int k) const {
  auto it = std::find(cutoffs_.begin(), cutoffs_.end(), k);
  if (it == cutoffs_.end()) {
    throw invalid_input("cutoff {} is not among the evaluated cutoffs ({})", k,
                        fmt::join(cutoffs_, ","));
  }
  return index(measure, static_cast<size_t>(it - cutoffs_.begin()));
}

Measure MetricSet::measure_of(size_t i) const {
  const size_t n = cutoffs_.size();
  MEMEMBED_ASSERT(i < size());
  if (i < kNumCutMeasures * n) return kCutMeasures[i / n];
  return kUncutMeasures[i - kNumCutMeasures * n];
}

int MetricSet::cutoff_of(size_t i) const {
  const size_t n = cutoffs_.size();
  if (i < kNumCutMeasures * n) return cutoffs_[i % n];
  return 0;
}

std::string MetricSet::trec_name(size_t i) const {
  const int k = cutoff_of(i);
  switch (measure_of(i)) {
    case Measure::Ndcg: return fmt::format("ndcg_cut_{}", k);
    case Measure::Map: return fmt::format("map_cut_{}", k);
    case Measure::Recall: return fmt::format("recall_{}", k);
    case Measure::Precision: return fmt::format("P_{}", k);
    case Measure::Mrr: return fmt::format("mrr_at_{}", k);
    case Measure::RCap: return fmt::format("R_cap_at_{}", k);
    case Measure::RecipRank: return "recip_rank";
    case Measure::NumRet: return "num_ret";
    case Measure::NumRel: return "num_rel";
    case Measure::NumRelRet: return "num_rel_ret";
  }
  return "";
}

std::string MetricSet::mteb_name(size_t i) const {
  const int k = cutoff_of(i);
  switch (measure_of(i)) {
    case Measure::Ndcg: return fmt::format("ndcg_at_{}", k);
    case Measure::Map: return fmt::format("map_at_{}", k);
    case Measure::Recall: return fmt::format("recall_at_{}", k);
    case Measure::Precision: return fmt::format("precision_at_{}", k);
    case Measure::Mrr: return fmt::format("mrr_at_{}", k);
    case Measure::RCap: return fmt::format("r_cap_at_{}", k);
    default: return "";
  }
}

Judgments make_judgments(const std::vector<int64_t>& relevances) {
  Judgments judgments;
  std::vector<int64_t> positive;
  for (int64_t rel : relevances) {
    if (rel >= 1) ++judgments.num_rel;
    if (rel > 0) positive.push_back(rel);
  }
  std::sort(positive.begin(), positive.end(), std::greater<>());
  for (int64_t rel : positive) {
    if (judgments.positive_levels.empty() || judgments.positive_levels.back().first != rel) {
      judgments.positive_levels.emplace_back(rel, 0);
    }
    ++judgments.positive_levels.back().second;
  }
  return judgments;
}

void compute_query_metrics(const MetricSet& set, const Judgments& judgments,
                           const RankedRelevance& ranked, double* out) {
  const std::vector<int>& cutoffs = set.cutoffs();
  const size_t nc = cutoffs.size();
  const double num_rel = static_cast<double>(judgments.num_rel);
  int64_t num_positive = 0;
  for (const auto& level : judgments.positive_levels) num_positive += level.second;

  // DCG, hits and the average-precision sum are accumulated in rank order and read off at each
  // cutoff, in the same order of operations as trec_eval so the doubles agree bit for bit.
  double dcg = 0.0;
  double precision_sum = 0.0;
  int64_t hits = 0;
  size_t first_hit = 0;
  size_t ci = 0;
  std::vector<double> dcg_at(nc, 0.0);
  auto record = [&](size_t c) {
    const int k = cutoffs[c];
    dcg_at[c] = dcg;
    out[set.index(Measure::Precision, c)] = static_cast<double>(hits) / static_cast<double>(k);
    out[set.index(Measure::Recall, c)] = num_rel > 0 ? static_cast<double>(hits) / num_rel : 0.0;
    out[set.index(Measure::Map, c)] = num_rel > 0 ? precision_sum / num_rel : 0.0;
    out[set.index(Measure::Mrr, c)] =
        first_hit > 0 && first_hit <= static_cast<size_t>(k) ? 1.0 / static_cast<double>(first_hit)
                                                              : 0.0;
    const int64_t denominator = std::min<int64_t>(num_positive, k);
    out[set.index(Measure::RCap, c)] =
        denominator > 0 ? static_cast<double>(hits) / static_cast<double>(denominator)
                        : std::numeric_limits<double>::quiet_NaN();
  };
  const size_t n = ranked.top.size();
  for (size_t i = 0; i < n && ci < nc; ++i) {
    while (ci < nc && i == static_cast<size_t>(cutoffs[ci])) record(ci++);
    if (ci == nc) break;
    const int64_t rel = ranked.top[i];
    if (rel > 0) dcg += static_cast<double>(rel) / std::log2(static_cast<double>(i + 2));
    if (rel >= 1) {
      ++hits;
      precision_sum += static_cast<double>(hits) / static_cast<double>(i + 1);
      if (first_hit == 0) first_hit = i + 1;
    }
  }
  while (ci < nc) record(ci++);

  // Ideal DCG: every positive judgment, highest level first.
  std::vector<double> ideal_at(nc, 0.0);
  double ideal = 0.0;
  size_t rank = 0;
  ci = 0;
  for (const auto& [level, count] : judgments.positive_levels) {
    for (int64_t c = 0; c < count && ci < nc; ++c, ++rank) {
      while (ci < nc && rank == static_cast<size_t>(cutoffs[ci])) ideal_at[ci++] = ideal;
      if (ci == nc) break;
      ideal += static_cast<double>(level) / std::log2(static_cast<double>(rank + 2));
    }
    if (ci == nc) break;
  }
  while (ci < nc) ideal_at[ci++] = ideal;
  for (size_t c = 0; c < nc; ++c) {
    out[set.index(Measure::Ndcg, c)] = ideal_at[c] > 0.0 ? dcg_at[c] / ideal_at[c] : dcg_at[c];
  }

  out[set.index(Measure::RecipRank)] =
      ranked.first_rel_rank > 0 ? 1.0 / static_cast<double>(ranked.first_rel_rank) : 0.0;
  out[set.index(Measure::NumRet)] = static_cast<double>(ranked.num_ret);
  out[set.index(Measure::NumRel)] = num_rel;
  out[set.index(Measure::NumRelRet)] = static_cast<double>(ranked.num_rel_ret);
}

std::vector<double> average_metrics(const MetricSet& set,
                                    const std::vector<std::vector<double>>& per_query) {
  std::vector<double> mean(set.size(), 0.0);
  std::vector<size_t> defined(set.size(), 0);
  for (const auto& values : per_query) {
    MEMEMBED_ASSERT(values.size() == set.size());
    for (size_t i = 0; i < values.size(); ++i) {
      if (std::isnan(values[i])) continue;
      mean[i] += values[i];
      ++defined[i];
    }
  }
  for (size_t i = 0; i < mean.size(); ++i) {
    switch (set.measure_of(i)) {
      case Measure::NumRet:
      case Measure::NumRel:
      case Measure::NumRelRet:
        break;  // trec_eval prints the sum for counts
      case Measure::RCap:
        mean[i] = defined[i] > 0 ? mean[i] / static_cast<double>(defined[i])
                                 : std::numeric_limits<double>::quiet_NaN();
        break;
      default:
        mean[i] = per_query.empty() ? 0.0 : mean[i] / static_cast<double>(per_query.size());
    }
  }
  return mean;
}

double round_like_python(double value, int digits) {
  if (!std::isfinite(value)) return value;
  // glibc's printf converts the exact binary value and rounds ties to even, as CPython's round().
  char buffer[512];
  std::snprintf(buffer, sizeof(buffer), "%.*f", digits, value);
  return std::strtod(buffer, nullptr);
}

double mteb_stored_value(const MetricSet& set, size_t index, double mean) {
  switch (set.measure_of(index)) {
    case Measure::Ndcg:
    case Measure::Map:
    case Measure::Recall:
    case Measure::Precision:
    case Measure::RCap:
      return round_like_python(mean, 5);
    default:
      return mean;
  }
}

}  // namespace memembed::eval
