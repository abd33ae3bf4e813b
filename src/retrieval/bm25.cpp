#include "memembed/retrieval.h"

#include <utf8proc.h>

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace memembed::retrieval {

namespace {

// Lucene's classic English stop set (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET).
const std::unordered_set<std::string>& stopwords() {
  static const std::unordered_set<std::string> words = {
      "a",    "an",   "and",   "are",  "as",   "at",    "be",   "but",   "by",
      "for",  "if",   "in",    "into", "is",   "it",    "no",   "not",   "of",
      "on",   "or",   "such",  "that", "the",  "their", "then", "there", "these",
      "they", "this", "to",    "was",  "will", "with"};
  return words;
}

bool is_token_codepoint(utf8proc_int32_t c) {
  switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

void append_utf8(std::string& out, utf8proc_int32_t c) {
  utf8proc_uint8_t buffer[4];
  const auto n = utf8proc_encode_char(c, buffer);
  out.append(reinterpret_cast<const char*>(buffer), static_cast<size_t>(n));
}

}  // namespace

std::vector<std::string> bm25_tokenize(std::string_view text) {
  std::vector<std::string> tokens;
  std::string current;
  auto flush = [&] {
    if (!current.empty() && stopwords().count(current) == 0) tokens.push_back(current);
    current.clear();
  };
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = bytes[i];
    if (c < 0x80) {  // ASCII fast path
      if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) current.push_back(static_cast<char>(c));
      else if (c >= 'A' && c <= 'Z') current.push_back(static_cast<char>(c - 'A' + 'a'));
      else flush();
      ++i;
      continue;
    }
    utf8proc_int32_t codepoint = 0;
    const auto n = utf8proc_iterate(bytes + i, static_cast<utf8proc_ssize_t>(text.size() - i), &codepoint);
    if (n <= 0) {  // invalid byte: a separator
      flush();
      ++i;
      continue;
    }
    if (is_token_codepoint(codepoint)) append_utf8(current, utf8proc_tolower(codepoint));
    else flush();
    i += static_cast<size_t>(n);
  }
  flush();
  return tokens;
}

Bm25Index::Bm25Index(const std::vector<std::string>& documents, Bm25Parameters parameters)
    : parameters_(parameters) {
  std::vector<double> lengths(documents.size(), 0.0);
  std::unordered_map<uint32_t, uint32_t> counts;
  for (size_t d = 0; d < documents.size(); ++d) {
    const auto tokens = bm25_tokenize(documents[d]);
    lengths[d] = static_cast<double>(tokens.size());
    counts.clear();
    for (const auto& token : tokens) {
      auto [it, inserted] = terms_.try_emplace(token, static_cast<uint32_t>(postings_.size()));
      if (inserted) postings_.emplace_back();
      ++counts[it->second];
    }
    for (const auto& [term, tf] : counts) postings_[term].push_back({static_cast<uint32_t>(d), tf});
  }
  const double n = static_cast<double>(documents.size());
  double total = 0.0;
  for (double length : lengths) total += length;
  const double average = n > 0 && total > 0 ? total / n : 1.0;
  norms_.resize(documents.size());
  for (size_t d = 0; d < documents.size(); ++d) {
    norms_[d] = bm25_length_norm(parameters_, lengths[d], average);
  }
  idf_.resize(postings_.size());
  for (size_t t = 0; t < postings_.size(); ++t) {
    idf_[t] = bm25_idf(n, static_cast<double>(postings_[t].size()));
  }
}

void Bm25Index::score(std::string_view query, std::vector<double>& out) const {
  out.assign(norms_.size(), 0.0);
  for (const auto& token : bm25_tokenize(query)) {
    auto it = terms_.find(token);
    if (it == terms_.end()) continue;
    const double idf = idf_[it->second];
    for (const Posting& p : postings_[it->second]) {
      out[p.doc] += bm25_term(parameters_, idf, static_cast<double>(p.tf), norms_[p.doc]);
    }
  }
}

}  // namespace memembed::retrieval
