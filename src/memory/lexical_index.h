// BM25 over every memory of the store, held in memory: postings per token (sorted by slot), each
// memory's length, N and the total length - all derived from the memories' content in SQLite and
// kept current by the backend on every acknowledged write.
//
// search() is top-k by MaxScore (Turtle & Flood): query tokens ordered by the most they can add to
// a score; once the k-th best score so far exceeds what the weakest tokens can add together, a
// memory found only in those cannot enter the top k, so only the other tokens' postings drive the
// search and the weak ones are probed for candidates still in reach. A term's bound is its
// largest tf in the shortest document holding it, at the current average length. The filter is checked on
// each candidate before scoring. Scores are exactly retrieval::Bm25Index's: the same terms added
// in query order (a repeated query token counts each time).
#pragma once

#include "memembed/retrieval.h"
#include "memory_rows.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace memembed::memory {

class LexicalIndex {
 public:
  explicit LexicalIndex(retrieval::Bm25Parameters parameters = {}) : parameters_(parameters) {}

  // Indexes `content` under `slot`, replacing what the slot held.
  void put(uint32_t slot, std::string_view content);
  void remove(uint32_t slot);
  size_t documents() const { return documents_; }

  using Hit = ScoredSlot<double>;
  // The best `k` admitted slots sharing a token with `query`, score descending, id ascending on ties.
  std::vector<Hit> search(std::string_view query, const RowFilter& filter, const MemoryRows& rows, size_t k) const;

 private:
  struct Posting {
    uint32_t slot;
    uint32_t tf;
  };
  struct Term {
    std::vector<Posting> postings;  // sorted by slot
    uint32_t max_tf = 0;            // never lowered on removal: still an upper bound
    uint32_t min_length = UINT32_MAX;  // of the documents holding it; never raised on removal: a lower bound
  };
  struct Document {
    uint32_t length = 0;
    std::vector<uint32_t> terms;  // distinct term ids, for removal
    bool present = false;
  };

  retrieval::Bm25Parameters parameters_;
  std::unordered_map<std::string, uint32_t> term_ids_;
  std::vector<Term> terms_;
  std::vector<Document> docs_;  // by slot
  size_t documents_ = 0;
  uint64_t total_length_ = 0;
};

}  // namespace memembed::memory
