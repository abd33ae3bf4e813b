#include "ranking.h"

#include <algorithm>

namespace memembed::eval {

RankedRelevance rank_documents(std::vector<ScoredDoc>& docs, size_t depth) {
  RankedRelevance ranked;
  ranked.num_ret = docs.size();

  // recip_rank and num_rel_ret look at the whole ranking, which need not be sorted for that: the
  // first relevant document is the relevant one that ranks before every other relevant one.
  const ScoredDoc* best = nullptr;
  for (const ScoredDoc& doc : docs) {
    if (doc.relevance < 1) continue;
    ++ranked.num_rel_ret;
    if (best == nullptr || ranks_before(doc, *best)) best = &doc;
  }
  if (best != nullptr) {
    const ScoredDoc target = *best;
    size_t ahead = 0;
    for (const ScoredDoc& doc : docs) ahead += ranks_before(doc, target) ? 1 : 0;
    ranked.first_rel_rank = ahead + 1;
  }

  const size_t top = std::min(depth, docs.size());
  if (top < docs.size()) {
    std::nth_element(docs.begin(), docs.begin() + static_cast<std::ptrdiff_t>(top), docs.end(),
                     ranks_before);
  }
  std::sort(docs.begin(), docs.begin() + static_cast<std::ptrdiff_t>(top), ranks_before);
  ranked.top.reserve(top);
  for (size_t i = 0; i < top; ++i) ranked.top.push_back(docs[i].relevance);
  return ranked;
}

}  // namespace memembed::eval
