#include "scoring.h"

#include "memembed/error.h"
#include "ranking.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace memembed::eval {

ScoreReport score_run(const Qrels& qrels, const TrecRun& run, const MetricSet& set,
                      bool trec_eval_mean) {
  ScoreReport report{set, trec_eval_mean, {}, {}, {}};

  std::unordered_map<std::string_view, size_t> run_index;
  run_index.reserve(run.num_queries());
  for (size_t q = 0; q < run.num_queries(); ++q) run_index.emplace(run.query_id(q), q);

  std::vector<size_t> order(qrels.query_ids().size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return qrels.query_ids()[a] < qrels.query_ids()[b]; });

  size_t missing_from_run = 0;
  std::vector<ScoredDoc> docs;
  std::vector<int64_t> relevances;
  for (size_t qi : order) {
    const std::string& query_id = qrels.query_ids()[qi];
    const std::vector<Judgment>& judged = qrels.judgments(qi);
    auto found = run_index.find(query_id);
    docs.clear();
    if (found == run_index.end()) {
      ++missing_from_run;
      if (trec_eval_mean) continue;
    } else {
      // Both sides are sorted by doc id: one merge attaches the judgments.
      auto j = judged.begin();
      for (const RunDoc* d = run.begin(found->second); d != run.end(found->second); ++d) {
        while (j != judged.end() && j->doc_id < d->doc_id) ++j;
        const int64_t rel = (j != judged.end() && j->doc_id == d->doc_id) ? j->relevance : kNotJudged;
        docs.push_back(ScoredDoc{d->score, d->doc_id, rel});
      }
    }
    relevances.clear();
    for (const Judgment& judgment : judged) relevances.push_back(judgment.relevance);
    const Judgments judgments = make_judgments(relevances);
    const RankedRelevance ranked = rank_documents(docs, static_cast<size_t>(set.max_cutoff()));
    QueryScores scores{query_id, std::vector<double>(set.size())};
    compute_query_metrics(set, judgments, ranked, scores.values.data());
    report.per_query.push_back(std::move(scores));
  }

  size_t without_qrels = 0;
  for (size_t q = 0; q < run.num_queries(); ++q) {
    if (qrels.find(std::string(run.query_id(q))) == nullptr) ++without_qrels;
  }
  std::vector<std::vector<double>> values;
  values.reserve(report.per_query.size());
  for (const auto& q : report.per_query) values.push_back(q.values);
  report.mean = average_metrics(set, values);

  if (without_qrels > 0) {
    report.warnings.push_back(
        fmt::format("{} run queries have no qrels and are ignored", without_qrels));
  }
  if (missing_from_run > 0) {
    report.warnings.push_back(fmt::format(
        "{} qrels queries have no line in the run: {}", missing_from_run,
        trec_eval_mean ? "left out of the mean (trec_eval default)"
                       : "each counts as 0 in the mean (MTEB convention, trec_eval -c)"));
  }
  if (run.duplicates() > 0) {
    report.warnings.push_back(fmt::format(
        "{} run lines repeat a (query, doc) pair; the last line of each was used",
        run.duplicates()));
  }
  if (qrels.duplicates() > 0) {
    report.warnings.push_back(fmt::format(
        "{} qrels lines repeat a (query, doc) pair; the last line of each was used",
        qrels.duplicates()));
  }
  return report;
}

namespace {

bool is_count(Measure m) {
  return m == Measure::NumRet || m == Measure::NumRel || m == Measure::NumRelRet;
}

// trec_eval's measures first (counts, recip_rank, P, recall, map_cut, ndcg_cut), then ours.
std::vector<size_t> print_order(const MetricSet& set) {
  std::vector<size_t> order;
  for (Measure m : {Measure::NumRet, Measure::NumRel, Measure::NumRelRet, Measure::RecipRank}) {
    order.push_back(set.index(m));
  }
  for (Measure m : {Measure::Precision, Measure::Recall, Measure::Map, Measure::Ndcg,
                    Measure::Mrr, Measure::RCap}) {
    for (size_t c = 0; c < set.cutoffs().size(); ++c) order.push_back(set.index(m, c));
  }
  return order;
}

void append_block(std::string& out, const MetricSet& set, const std::string& query_id,
                  const std::vector<double>& values, int digits) {
  for (size_t i : print_order(set)) {
    const double v = values[i];
    if (is_count(set.measure_of(i))) {
      out += fmt::format("{:<22}\t{}\t{}\n", set.trec_name(i), query_id,
                         static_cast<long long>(std::llround(v)));
    } else if (std::isnan(v)) {
      out += fmt::format("{:<22}\t{}\tNone\n", set.trec_name(i), query_id);
    } else {
      out += fmt::format("{:<22}\t{}\t{:.{}f}\n", set.trec_name(i), query_id, v, digits);
    }
  }
}

Json value_json(double v) { return std::isnan(v) ? Json(nullptr) : Json(v); }

}  // namespace

std::string format_trec_eval(const ScoreReport& report, bool per_query, int digits) {
  std::string out;
  if (per_query) {
    for (const auto& q : report.per_query) append_block(out, report.set, q.query_id, q.values, digits);
  }
  out += fmt::format("{:<22}\tall\t{}\n", "num_q", report.per_query.size());
  append_block(out, report.set, "all", report.mean, digits);
  return out;
}

Json score_report_json(const ScoreReport& report, bool per_query) {
  const MetricSet& set = report.set;
  Json json = Json::object();
  json["convention"] = report.trec_eval_mean ? "trec_eval" : "mteb";
  json["num_queries"] = report.per_query.size();
  json["cutoffs"] = set.cutoffs();
  Json mean = Json::object();
  Json mteb = Json::object();
  for (size_t i : print_order(set)) {
    mean[set.trec_name(i)] = value_json(report.mean[i]);
    const std::string name = set.mteb_name(i);
    if (!name.empty()) mteb[name] = value_json(mteb_stored_value(set, i, report.mean[i]));
  }
  if (mteb.contains("ndcg_at_10")) mteb["main_score"] = mteb["ndcg_at_10"];
  json["mean"] = std::move(mean);
  json["mteb"] = std::move(mteb);
  if (per_query) {
    Json queries = Json::object();
    for (const auto& q : report.per_query) {
      Json values = Json::object();
      for (size_t i : print_order(set)) values[set.trec_name(i)] = value_json(q.values[i]);
      queries[q.query_id] = std::move(values);
    }
    json["per_query"] = std::move(queries);
  }
  json["warnings"] = report.warnings;
  return json;
}

}  // namespace memembed::eval

#include "memembed/eval.h"

namespace memembed::eval {

CommandOutput score_files(const std::filesystem::path& qrels_path,
                          const std::filesystem::path& run_path, const ScoreOptions& options) {
  const MetricSet set(options.cutoffs);
  const Qrels qrels = Qrels::read(qrels_path);
  const TrecRun run = TrecRun::read(run_path);
  const ScoreReport report = score_run(qrels, run, set, options.trec_eval_mean);
  CommandOutput output;
  output.warnings = report.warnings;
  if (options.json) {
    output.text = score_report_json(report, options.per_query).dump(2) + "\n";
  } else {
    if (options.digits < 0 || options.digits > 17) {
      throw invalid_input("--digits must be between 0 and 17, got {}", options.digits);
    }
    output.text = format_trec_eval(report, options.per_query, options.digits);
  }
  return output;
}

}  // namespace memembed::eval
