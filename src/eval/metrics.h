// Retrieval measures computed exactly as trec_eval 9.0.8 computes them (the code pytrec_eval and
// therefore MTEB run), plus the two measures MTEB/LMEB compute themselves (mrr_at_k, R_cap_at_k).
//
// The inputs are already reduced to numbers: what the qrels say about a query (Judgments) and the
// relevance values of its retrieved documents in trec_eval order (RankedRelevance). Both the TREC
// run-file scorer and the benchmark harness build those, so the arithmetic lives in one place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace memembed::eval {

// Relevance given to a retrieved document the qrels do not mention. Like trec_eval's
// RELVALUE_NONPOOL it is below every judged value, so it never counts as relevant or as gain.
constexpr int32_t kNotJudged = -1;

// LMEB's and mteb's cutoffs (mteb's native LMEB port uses all nine; LMEB's repo 1, 5, 10, 25, 50).
const std::vector<int>& default_cutoffs();

enum class Measure {
  Ndcg,        // ndcg_cut_k   / ndcg_at_k
  Map,         // map_cut_k    / map_at_k
  Recall,      // recall_k     / recall_at_k
  Precision,   // P_k          / precision_at_k
  Mrr,         // (not trec_eval) mteb's mrr_at_k
  RCap,        // (not trec_eval) LMEB's R_cap_at_k
  RecipRank,   // recip_rank (whole ranking, no cutoff)
  NumRet,      // num_ret
  NumRel,      // num_rel
  NumRelRet,   // num_rel_ret
};

// The layout of one query's values: every cut measure at every cutoff, then the uncut ones.
class MetricSet {
 public:
  // Cutoffs must be positive; they are sorted and de-duplicated. Throws InvalidInput otherwise.
  explicit MetricSet(std::vector<int> cutoffs = default_cutoffs());

  const std::vector<int>& cutoffs() const { return cutoffs_; }
  int max_cutoff() const { return cutoffs_.back(); }
  size_t size() const { return 6 * cutoffs_.size() + 4; }

  // Index of a cut measure at cutoffs()[cutoff_index], or of an uncut one (cutoff_index ignored).
  size_t index(Measure measure, size_t cutoff_index = 0) const;
  // Index of `measure` at cutoff k; throws InvalidInput when k is not one of the cutoffs.
  size_t index_at(Measure measure, int k) const;
  Measure measure_of(size_t index) const;
  int cutoff_of(size_t index) const;  // 0 for uncut measures

  std::string trec_name(size_t index) const;  // ndcg_cut_10, P_10, recip_rank, mrr_at_10, R_cap_at_10
  // MTEB/LMEB result names (ndcg_at_10, precision_at_10, mrr_at_10, r_cap_at_10); empty for the
  // measures MTEB does not report (recip_rank and the counts).
  std::string mteb_name(size_t index) const;

 private:
  std::vector<int> cutoffs_;
};

// What the qrels say about one query.
struct Judgments {
  // (relevance level, number of judged documents at that level) for every level > 0, highest
  // first: the ideal ranking for nDCG. Unretrievable relevant documents count too.
  std::vector<std::pair<int64_t, int64_t>> positive_levels;
  int64_t num_rel = 0;  // documents with relevance >= 1 (trec_eval's default relevance_level)
};

// Builds Judgments from the relevance values of one query's de-duplicated qrels.
Judgments make_judgments(const std::vector<int64_t>& relevances);

// One query's retrieved list, ordered as trec_eval orders it (score desc, then doc id desc).
struct RankedRelevance {
  std::vector<int64_t> top;    // relevance of the first min(num_ret, max_cutoff) documents
  size_t num_ret = 0;          // documents retrieved
  size_t num_rel_ret = 0;      // retrieved documents with relevance >= 1
  size_t first_rel_rank = 0;   // 1-based rank of the first relevant document; 0 when none
};

// Fills `out[0 .. set.size())`. R_cap_at_k is NaN for a query without positives (LMEB's None).
void compute_query_metrics(const MetricSet& set, const Judgments& judgments,
                           const RankedRelevance& ranked, double* out);

// Averages per-query values the way trec_eval's "all" line does: means for the measures, sums
// for the counts. R_cap_at_k averages the queries where it is defined (NaN when none is).
std::vector<double> average_metrics(const MetricSet& set,
                                    const std::vector<std::vector<double>>& per_query);

// Python's round(x, digits) for a double: correctly rounded, ties to even on the exact binary
// value (what mteb applies to its stored scores).
double round_like_python(double value, int digits);

// The value mteb stores for a measure in its results: ndcg/map/recall/precision and R_cap rounded
// to 5 decimals, mrr unrounded. `mean` comes from average_metrics.
double mteb_stored_value(const MetricSet& set, size_t index, double mean);

}  // namespace memembed::eval
