// Subset -> dataset -> memory type -> overall, as LMEB's summary.py aggregates (the means are
// memembed/lmeb_aggregation.h's). Like summary.py, the inputs are the values MTEB stores per
// subset (ndcg/map/recall/precision/r_cap rounded to 5 decimals), so our aggregates match a LMEB
// run on the same results.
#pragma once

#include "memembed/eval.h"
#include "memembed/lmeb_aggregation.h"

#include <string>
#include <vector>

namespace memembed::eval {

// One metric under one instruction setting.
struct Aggregate : LmebAggregate {
  std::string instructions;  // "off" | "on"
  std::string metric;        // MTEB name, e.g. ndcg_at_10
};

// The value MTEB stores for an MTEB-named measure (mrr_at_k unrounded, the others to 5 decimals).
double stored_value(const std::string& metric, double unrounded);

// Subsets of one instruction setting with an undefined value for `metric` are skipped.
Aggregate aggregate(const std::vector<SubsetResult>& subsets, const std::string& instructions,
                    const std::string& metric);

}  // namespace memembed::eval
