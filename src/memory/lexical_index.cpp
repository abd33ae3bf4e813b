#include "lexical_index.h"

#include <algorithm>
#include <limits>
#include <map>

namespace memembed::memory {

void LexicalIndex::put(uint32_t slot, std::string_view content) {
  remove(slot);
  if (docs_.size() <= slot) {
    docs_.resize(slot + 1);
    lengths_.resize(slot + 1);
  }
  const std::vector<std::string> tokens = retrieval::bm25_tokenize(content);
  std::map<uint32_t, uint32_t> counts;
  for (const std::string& token : tokens) {
    auto [it, inserted] = term_ids_.try_emplace(token, static_cast<uint32_t>(terms_.size()));
    if (inserted) terms_.emplace_back();
    ++counts[it->second];
  }
  Document& doc = docs_[slot];
  lengths_[slot] = static_cast<uint32_t>(tokens.size());
  doc.present = true;
  doc.terms.clear();
  for (const auto& [term_id, tf] : counts) {
    Term& term = terms_[term_id];
    auto at = std::lower_bound(term.postings.begin(), term.postings.end(), slot,
                               [](const Posting& p, uint32_t s) { return p.slot < s; });
    term.postings.insert(at, {slot, tf});
    doc.terms.push_back(term_id);
  }
  ++documents_;
  total_length_ += lengths_[slot];
}

void LexicalIndex::remove(uint32_t slot) {
  if (slot >= docs_.size() || !docs_[slot].present) return;
  Document& doc = docs_[slot];
  for (uint32_t term_id : doc.terms) {
    auto& postings = terms_[term_id].postings;
    auto at = std::lower_bound(postings.begin(), postings.end(), slot,
                               [](const Posting& p, uint32_t s) { return p.slot < s; });
    if (at != postings.end() && at->slot == slot) postings.erase(at);
  }
  --documents_;
  total_length_ -= lengths_[slot];
  lengths_[slot] = 0;
  doc = Document{};
}

std::vector<LexicalIndex::Hit> LexicalIndex::search(std::string_view query, const RowFilter& filter,
                                                    const MemoryRows& rows, size_t k) const {
  if (k == 0 || filter.matches_nothing() || documents_ == 0) return {};
  const double n = static_cast<double>(documents_);
  const double total = static_cast<double>(total_length_);
  const double average = total > 0 ? total / n : 1.0;

  // The query's tokens present in the index, in query order (repeats included: each counts).
  struct QueryToken {
    const Term* term;
    double idf;
  };
  std::vector<QueryToken> tokens;
  for (const std::string& token : retrieval::bm25_tokenize(query)) {
    auto it = term_ids_.find(token);
    if (it == term_ids_.end() || terms_[it->second].postings.empty()) continue;
    const Term& term = terms_[it->second];
    tokens.push_back({&term, retrieval::bm25_idf(n, static_cast<double>(term.postings.size()))});
  }
  if (tokens.empty()) return {};

  // Term at a time into one accumulator per slot: a slot's sum grows token by token in query
  // order, so it is the same floating-point sum Bm25Index (and eval) computes. Every term's score
  // is positive, so a slot holds a score exactly when it was touched.
  static thread_local std::vector<double> scores;
  scores.assign(docs_.size(), 0.0);
  std::vector<double> norms(kNormTableLengths);
  for (size_t length = 0; length < norms.size(); ++length) {
    norms[length] = retrieval::bm25_length_norm(parameters_, static_cast<double>(length), average);
  }
  auto norm_of = [&](uint32_t length) {
    return length < kNormTableLengths ? norms[length] : retrieval::bm25_length_norm(parameters_, length, average);
  };
  for (const QueryToken& token : tokens) {
    for (const Posting& p : token.term->postings) {
      scores[p.slot] += retrieval::bm25_term(parameters_, token.idf, p.tf, norm_of(lengths_[p.slot]));
    }
  }

  // The filter is checked only on slots that would enter the top k: a score below `cut` cannot
  // (any positive one until k are kept, then the k-th best, which an equal score with a smaller
  // id still displaces). Slots are scanned in blocks of 8 with one branch per block.
  TopSlots<double> best(rows, k);
  double cut = std::numeric_limits<double>::denorm_min();
  const size_t slots = scores.size();
  const double* score = scores.data();
  constexpr size_t kBlock = 8;
  auto visit = [&](size_t slot) {
    if (score[slot] < cut || !filter.admits(static_cast<uint32_t>(slot))) return;
    if (best.offer(static_cast<uint32_t>(slot), score[slot]) && best.full()) cut = best.worst();
  };
  size_t slot = 0;
  for (; slot + kBlock <= slots; slot += kBlock) {
    bool any = false;
    for (size_t i = 0; i < kBlock; ++i) any |= score[slot + i] >= cut;
    if (!any) continue;
    for (size_t i = 0; i < kBlock; ++i) visit(slot + i);
  }
  for (; slot < slots; ++slot) visit(slot);
  return best.take();
}

}  // namespace memembed::memory
