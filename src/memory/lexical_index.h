// BM25 over every memory of the store, held in memory: postings per token (sorted by slot), each
// memory's length, N and the total length - all derived from the memories' content in SQLite and
// kept current by the backend on every acknowledged write.
//
// search() scores term at a time: each query token's postings add its BM25 term into one
// accumulator per slot, tokens in query order (a repeated token counts each time), so every score
// is the same floating-point sum retrieval::Bm25Index (and eval) computes, bit for bit. Then one
// pass over the accumulators keeps the best k, the filter checked only on slots that would enter
// them. Measured at 100k memories (docs/memory.md, "Search speed") this beat MaxScore document at
// a time several-fold: a posting costs a division and an add here against a heap of cursors and
// binary searches there, and queries of common words leave MaxScore little to skip.
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
  };
  struct Document {
    std::vector<uint32_t> terms;  // distinct term ids, for removal
    bool present = false;
  };
  // Length norms of shorter documents are computed once per search (a table lookup instead of a
  // division per posting).
  static constexpr uint32_t kNormTableLengths = 1024;

  retrieval::Bm25Parameters parameters_;
  std::unordered_map<std::string, uint32_t> term_ids_;
  std::vector<Term> terms_;
  std::vector<Document> docs_;      // by slot
  std::vector<uint32_t> lengths_;  // by slot, in tokens; apart from docs_ to keep it compact for search
  size_t documents_ = 0;
  uint64_t total_length_ = 0;
};

}  // namespace memembed::memory
