#include "memembed/error.h"
#include "memembed/retrieval.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace memembed::retrieval {

std::vector<Scored> fuse_rows(const float* lexical, const float* dense, size_t docs, const std::vector<uint32_t>* scope,
                              size_t depth, const FusionOptions& options) {
  std::vector<Scored> lexical_all, dense_all;
  auto consider = [&](size_t d) {
    if (lexical[d] > 0.0f) lexical_all.push_back({d, lexical[d]});
    if (dense) dense_all.push_back({d, dense[d]});
  };
  if (scope) {
    for (uint32_t d : *scope) consider(d);
  } else {
    for (size_t d = 0; d < docs; ++d) consider(d);
  }
  return fuse(make_side(top_k(lexical_all, depth), depth, 0.0), make_side(top_k(dense_all, depth), depth, std::nullopt),
              options);
}

namespace {

double ndcg_at_10(const std::vector<Scored>& ranking, const std::vector<uint32_t>& relevant) {
  double dcg = 0.0, ideal = 0.0;
  for (size_t i = 0; i < std::min<size_t>(10, ranking.size()); ++i) {
    if (std::find(relevant.begin(), relevant.end(), ranking[i].key) != relevant.end()) dcg += 1.0 / std::log2(i + 2.0);
  }
  for (size_t i = 0; i < std::min<size_t>(10, relevant.size()); ++i) ideal += 1.0 / std::log2(i + 2.0);
  return ideal > 0.0 ? dcg / ideal : 0.0;
}

double mean(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

}  // namespace

FusionTuner::FusionTuner(FusionOptions base, size_t depth, std::vector<double> grid)
    : base_(base), depth_(depth), grid_(std::move(grid)), per_query_(grid_.size()) {
  if (grid_.empty()) throw invalid_input("fusion tuning: the weight grid is empty");
}

void FusionTuner::add_query(const float* lexical, const float* dense, size_t docs, const std::vector<uint32_t>* scope,
                            const std::vector<uint32_t>& relevant) {
  for (size_t w = 0; w < grid_.size(); ++w) {
    FusionOptions options = base_;
    options.weight = grid_[w];
    per_query_[w].push_back(ndcg_at_10(fuse_rows(lexical, dense, docs, scope, depth_, options), relevant));
  }
}

FusionTuning FusionTuner::result() const {
  FusionTuning t;
  t.grid = grid_;
  t.queries = per_query_.front().size();
  if (t.queries == 0) throw invalid_input("fusion tuning: no queries to tune on");
  for (const auto& scores : per_query_) t.ndcg_at_10.push_back(mean(scores));
  const size_t best = static_cast<size_t>(std::max_element(t.ndcg_at_10.begin(), t.ndcg_at_10.end()) - t.ndcg_at_10.begin());
  t.best_weight = grid_[best];
  // The smallest weight whose shortfall against the best is within one standard error of the
  // paired per-query differences: a gain the queries cannot tell from noise is not taken.
  for (size_t w = 0; w < grid_.size(); ++w) {
    std::vector<double> diff(t.queries);
    for (size_t q = 0; q < t.queries; ++q) diff[q] = per_query_[best][q] - per_query_[w][q];
    const double m = mean(diff);
    double squares = 0.0;
    for (double d : diff) squares += (d - m) * (d - m);
    const double se = t.queries > 1 ? std::sqrt(squares / static_cast<double>(t.queries - 1) / static_cast<double>(t.queries)) : 0.0;
    if (m <= se) {
      t.weight = grid_[w];
      t.reason = w == best ? fmt::format("weight {} has the best NDCG@10 ({:.4f}) over {} queries", grid_[w],
                                         t.ndcg_at_10[w], t.queries)
                           : fmt::format("weight {} is within one standard error ({:.4f}) of the best weight {} "
                                         "(NDCG@10 {:.4f} vs {:.4f}) over {} queries; the smaller dense share is kept",
                                         grid_[w], se, grid_[best], t.ndcg_at_10[w], t.ndcg_at_10[best], t.queries);
      break;
    }
  }
  return t;
}

ClozeSet inverse_cloze(const std::vector<std::string>& documents, size_t max_queries, uint64_t seed) {
  ClozeSet set;
  set.documents = documents;
  std::vector<uint32_t> eligible;
  std::vector<std::vector<std::string>> words(documents.size());
  for (size_t d = 0; d < documents.size(); ++d) {
    std::string current;
    for (char c : documents[d] + " ") {
      if (c == ' ' || c == '\n' || c == '\t') {
        if (!current.empty()) words[d].push_back(current);
        current.clear();
      } else {
        current += c;
      }
    }
    if (words[d].size() >= 12) eligible.push_back(static_cast<uint32_t>(d));
  }
  std::mt19937_64 random(seed);
  std::shuffle(eligible.begin(), eligible.end(), random);
  if (eligible.size() > max_queries) eligible.resize(max_queries);
  std::sort(eligible.begin(), eligible.end());
  for (uint32_t d : eligible) {
    const auto& w = words[d];
    // A sentence when the document has several, else a third of its words.
    std::vector<std::pair<size_t, size_t>> sentences;
    size_t start = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      const char last = w[i].back();
      if (last == '.' || last == '?' || last == '!' || i + 1 == w.size()) {
        if (i + 1 - start >= 4) sentences.emplace_back(start, i + 1);
        start = i + 1;
      }
    }
    std::pair<size_t, size_t> span;
    if (sentences.size() >= 2) {
      span = sentences[std::uniform_int_distribution<size_t>(0, sentences.size() - 1)(random)];
    } else {
      const size_t length = std::max<size_t>(4, w.size() / 3);
      const size_t begin = std::uniform_int_distribution<size_t>(0, w.size() - length)(random);
      span = {begin, begin + length};
    }
    std::string query, rest;
    for (size_t i = 0; i < w.size(); ++i) {
      std::string& out = i >= span.first && i < span.second ? query : rest;
      if (!out.empty()) out += ' ';
      out += w[i];
    }
    set.documents[d] = rest;
    set.queries.push_back(query);
    set.relevant.push_back(d);
  }
  return set;
}

FusionTuning tune_fusion_on_documents(const std::vector<std::string>& documents, const EmbedFunction& embed_documents,
                                      const EmbedFunction& embed_queries, const FusionOptions& base, size_t max_queries) {
  const ClozeSet cloze = inverse_cloze(documents, max_queries);
  if (cloze.queries.size() < 10) {
    throw invalid_input("fusion tuning needs at least 10 documents of 12 words or more; found {}", cloze.queries.size());
  }
  const size_t n = cloze.documents.size();
  embed::Embeddings docs = embed_documents(cloze.documents);
  embed::Embeddings queries = embed_queries(cloze.queries);
  for (size_t i = 0; i < docs.rows; ++i) l2_normalize(docs.row(i), docs.dim);
  for (size_t i = 0; i < queries.rows; ++i) l2_normalize(queries.row(i), queries.dim);
  std::vector<float> dense;
  dot_products(queries.values.data(), queries.rows, docs.values.data(), docs.rows, docs.dim, 0, dense);
  const Bm25Index index(cloze.documents, {});
  FusionTuner tuner(base);
  std::vector<double> row;
  std::vector<float> lexical(n);
  for (size_t q = 0; q < cloze.queries.size(); ++q) {
    index.score(cloze.queries[q], row);
    for (size_t d = 0; d < n; ++d) lexical[d] = static_cast<float>(row[d]);
    tuner.add_query(lexical.data(), dense.data() + q * n, n, nullptr, {cloze.relevant[q]});
  }
  return tuner.result();
}

}  // namespace memembed::retrieval
