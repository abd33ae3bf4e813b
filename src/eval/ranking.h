// Ordering retrieved documents as trec_eval does, and reducing a ranking to what the measures need.
//
// trec_eval sorts a query's results by score (a C float) descending and breaks ties by doc id
// descending in strcmp byte order ('d9' > 'd10' > 'd1'); the order in the run file and its rank
// column play no part. Everything here uses that one order.
#pragma once

#include "metrics.h"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace memembed::eval {

struct ScoredDoc {
  float score = 0.0f;
  std::string_view doc_id;
  int64_t relevance = kNotJudged;  // from the qrels; kNotJudged when they do not mention it
};

// True when `a` ranks before `b` in trec_eval order. Scores must not be NaN.
inline bool ranks_before(const ScoredDoc& a, const ScoredDoc& b) {
  if (a.score != b.score) return a.score > b.score;
  return a.doc_id > b.doc_id;  // string_view compares bytes as unsigned char, like strcmp
}

// Puts the first min(depth, docs.size()) documents of `docs` in trec_eval order at its front (the
// rest is left unordered) and returns what the measures need about the whole ranking. depth
// must be at least the largest cutoff for the cut measures to be exact.
RankedRelevance rank_documents(std::vector<ScoredDoc>& docs, size_t depth);

}  // namespace memembed::eval
