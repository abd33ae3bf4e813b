// Scoring a TREC run against qrels: the engine behind `memembed eval score`.
//
// Which queries count is the one thing the two conventions disagree on:
//  - MTEB (default): every query in the qrels, a query missing from the run scoring 0
//    (trec_eval -c; MTEB hands pytrec_eval every query, with an empty result when nothing came back);
//  - trec_eval's default: only queries both in the run and in the qrels.
// Run queries without qrels are ignored by both.
#pragma once

#include "memembed/json_io.h"
#include "metrics.h"
#include "qrels.h"
#include "run_file.h"

#include <string>
#include <vector>

namespace memembed::eval {

struct QueryScores {
  std::string query_id;
  std::vector<double> values;  // laid out by the report's MetricSet
};

struct ScoreReport {
  MetricSet set;
  bool trec_eval_mean = false;
  std::vector<QueryScores> per_query;  // sorted by query id in byte order, as trec_eval prints
  std::vector<double> mean;            // average_metrics over per_query
  std::vector<std::string> warnings;
};

ScoreReport score_run(const Qrels& qrels, const TrecRun& run, const MetricSet& set,
                      bool trec_eval_mean);

// trec_eval's text layout: "measure<TAB>qid<TAB>value", the "all" block last. The derived
// measures (mrr_at_k, R_cap_at_k) follow the trec_eval ones; an undefined R_cap prints as "None".
std::string format_trec_eval(const ScoreReport& report, bool per_query, int digits);

// {"convention", "num_queries", "mean": {trec_eval names}, "mteb": {MTEB names as MTEB stores
// them, main_score}, "per_query": {...} (when asked), "warnings": [...]}.
Json score_report_json(const ScoreReport& report, bool per_query);

}  // namespace memembed::eval
