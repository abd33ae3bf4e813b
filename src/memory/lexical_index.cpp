#include "lexical_index.h"

#include <algorithm>
#include <map>

namespace memembed::memory {

void LexicalIndex::put(uint32_t slot, std::string_view content) {
  remove(slot);
  if (docs_.size() <= slot) docs_.resize(slot + 1);
  const std::vector<std::string> tokens = retrieval::bm25_tokenize(content);
  std::map<uint32_t, uint32_t> counts;
  for (const std::string& token : tokens) {
    auto [it, inserted] = term_ids_.try_emplace(token, static_cast<uint32_t>(terms_.size()));
    if (inserted) terms_.emplace_back();
    ++counts[it->second];
  }
  Document& doc = docs_[slot];
  doc.length = static_cast<uint32_t>(tokens.size());
  doc.present = true;
  doc.terms.clear();
  for (const auto& [term_id, tf] : counts) {
    Term& term = terms_[term_id];
    auto at = std::lower_bound(term.postings.begin(), term.postings.end(), slot,
                               [](const Posting& p, uint32_t s) { return p.slot < s; });
    term.postings.insert(at, {slot, tf});
    term.max_tf = std::max(term.max_tf, tf);
    term.min_length = std::min(term.min_length, doc.length);
    doc.terms.push_back(term_id);
  }
  ++documents_;
  total_length_ += doc.length;
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
  total_length_ -= doc.length;
  doc = Document{};
}

std::vector<LexicalIndex::Hit> LexicalIndex::search(std::string_view query, const RowFilter& filter,
                                                    const MemoryRows& rows, size_t k) const {
  if (k == 0 || filter.matches_nothing() || documents_ == 0) return {};
  const double n = static_cast<double>(documents_);
  const double total = static_cast<double>(total_length_);
  const double average = total > 0 ? total / n : 1.0;

  // Distinct query terms present in the index; `order` keeps the query's token order, repeats
  // included, for the final sum.
  struct QueryTerm {
    const Term* term;
    double idf;
    double repeats;  // how often the query holds it
    double bound;    // the most this term (all its repeats) can add to one score
    size_t cursor = 0;
  };
  std::vector<QueryTerm> query_terms;
  std::vector<size_t> order;
  std::unordered_map<uint32_t, size_t> position;
  for (const std::string& token : retrieval::bm25_tokenize(query)) {
    auto it = term_ids_.find(token);
    if (it == term_ids_.end() || terms_[it->second].postings.empty()) continue;
    auto [at, inserted] = position.try_emplace(it->second, query_terms.size());
    if (inserted) {
      const Term& term = terms_[it->second];
      const double idf = retrieval::bm25_idf(n, static_cast<double>(term.postings.size()));
      query_terms.push_back({&term, idf, 0.0, 0.0});
    }
    order.push_back(at->second);
  }
  if (query_terms.empty()) return {};
  // A term's score grows with tf and falls with the document's length: its largest tf in the
  // shortest document holding it bounds it (at today's average length).
  for (size_t t = 0; t < query_terms.size(); ++t) {
    QueryTerm& q = query_terms[t];
    q.repeats = static_cast<double>(std::count(order.begin(), order.end(), t));
    const double smallest_norm = retrieval::bm25_length_norm(parameters_, q.term->min_length, average);
    q.bound = q.repeats * retrieval::bm25_term(parameters_, q.idf, q.term->max_tf, smallest_norm) * (1.0 + 1e-9);
  }

  // Weakest first; bound_below[i] = what terms 0..i-1 can add together.
  std::vector<size_t> by_bound(query_terms.size());
  for (size_t i = 0; i < by_bound.size(); ++i) by_bound[i] = i;
  std::sort(by_bound.begin(), by_bound.end(),
            [&](size_t a, size_t b) { return query_terms[a].bound < query_terms[b].bound; });
  std::vector<double> bound_below(by_bound.size() + 1, 0.0);
  for (size_t i = 0; i < by_bound.size(); ++i) bound_below[i + 1] = bound_below[i] + query_terms[by_bound[i]].bound;

  TopSlots<double> best(rows, k);
  double threshold = -1.0;  // a candidate must reach it (ties resolved by id in the heap)
  size_t essential = 0;     // by_bound[essential..] drive the search

  std::vector<uint32_t> tf(query_terms.size());
  const uint32_t kEnd = MemoryRows::kNone;
  auto current = [&](size_t t) {
    const QueryTerm& q = query_terms[t];
    return q.cursor < q.term->postings.size() ? q.term->postings[q.cursor].slot : kEnd;
  };
  while (essential < by_bound.size()) {
    uint32_t slot = kEnd;
    for (size_t i = essential; i < by_bound.size(); ++i) slot = std::min(slot, current(by_bound[i]));
    if (slot == kEnd) break;
    std::fill(tf.begin(), tf.end(), 0);
    double partial = 0.0;
    const bool admitted = filter.admits(slot);
    const double norm = retrieval::bm25_length_norm(parameters_, docs_[slot].length, average);
    for (size_t i = essential; i < by_bound.size(); ++i) {
      QueryTerm& q = query_terms[by_bound[i]];
      if (current(by_bound[i]) != slot) continue;
      if (admitted) {
        tf[by_bound[i]] = q.term->postings[q.cursor].tf;
        partial += q.repeats * retrieval::bm25_term(parameters_, q.idf, tf[by_bound[i]], norm);
      }
      ++q.cursor;
    }
    if (!admitted) continue;
    // Probe the weak terms, strongest first, while the memory can still reach the threshold.
    bool reachable = true;
    for (size_t i = essential; i-- > 0;) {
      if (partial + bound_below[i + 1] < threshold) {
        reachable = false;
        break;
      }
      QueryTerm& q = query_terms[by_bound[i]];
      const auto& postings = q.term->postings;
      q.cursor = static_cast<size_t>(std::lower_bound(postings.begin() + static_cast<std::ptrdiff_t>(q.cursor),
                                                      postings.end(), slot,
                                                      [](const Posting& p, uint32_t s) { return p.slot < s; }) -
                                     postings.begin());
      if (q.cursor < postings.size() && postings[q.cursor].slot == slot) {
        tf[by_bound[i]] = postings[q.cursor].tf;
        partial += q.repeats * retrieval::bm25_term(parameters_, q.idf, tf[by_bound[i]], norm);
      }
    }
    if (!reachable || partial * (1.0 + 1e-9) < threshold) continue;
    // The exact score, summed as Bm25Index sums it.
    double score = 0.0;
    for (size_t t : order) {
      if (tf[t] > 0) score += retrieval::bm25_term(parameters_, query_terms[t].idf, tf[t], norm);
    }
    if (best.offer(slot, score) && best.full()) {
      threshold = best.worst() * (1.0 - 1e-9);
      while (essential < by_bound.size() && bound_below[essential + 1] < threshold) ++essential;
    }
  }
  return best.take();
}

}  // namespace memembed::memory
