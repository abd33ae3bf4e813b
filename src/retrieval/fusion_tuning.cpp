#include "memembed/error.h"
#include "memembed/retrieval.h"
#include "question_paraphrase.h"
#include "word_spans.h"

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

FusionTuner::FusionTuner(FusionOptions base, size_t depth, std::vector<double> grid, double confidence)
    : base_(base), depth_(depth), grid_(std::move(grid)), confidence_(confidence), per_query_(grid_.size()) {
  if (grid_.empty()) throw invalid_input("fusion tuning: the weight grid is empty");
  if (!(confidence_ > 0.0 && confidence_ < 1.0)) throw invalid_input("fusion tuning: confidence {} is not in (0, 1)", confidence_);
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
  // Paired bootstrap over queries: how often, resampling the queries, the best weight beats each
  // weight on the mean. The same resamples serve every weight, so the comparisons stay paired.
  constexpr size_t kResamples = 2000;
  t.best_wins.assign(grid_.size(), 0.0);
  std::mt19937_64 random(7);
  std::uniform_int_distribution<size_t> pick(0, t.queries - 1);
  std::vector<double> difference(grid_.size());
  for (size_t r = 0; r < kResamples; ++r) {
    std::fill(difference.begin(), difference.end(), 0.0);
    for (size_t i = 0; i < t.queries; ++i) {
      const size_t q = pick(random);
      for (size_t w = 0; w < grid_.size(); ++w) difference[w] += per_query_[best][q] - per_query_[w][q];
    }
    for (size_t w = 0; w < grid_.size(); ++w) {
      if (difference[w] > 0.0) t.best_wins[w] += 1.0 / kResamples;
    }
  }
  // The smallest weight the best one does not beat with the required confidence: a gain the
  // queries cannot tell from noise is not taken, so BM25 (weight 0) stays in charge by default.
  for (size_t w = 0; w < grid_.size(); ++w) {
    if (w != best && t.best_wins[w] >= confidence_) continue;
    t.weight = grid_[w];
    t.reason = w == best ? fmt::format("weight {} has the best NDCG@10 ({:.4f}) over {} queries", grid_[w],
                                       t.ndcg_at_10[w], t.queries)
                         : fmt::format("weight {} (NDCG@10 {:.4f}) is within noise of the best weight {} ({:.4f}): the best "
                                       "wins in {:.0f}% of {} bootstrap resamples of the {} queries, under the {:.0f}% "
                                       "required; the smaller dense share is kept",
                                       grid_[w], t.ndcg_at_10[w], grid_[best], t.ndcg_at_10[best], 100.0 * t.best_wins[w],
                                       kResamples, t.queries, 100.0 * confidence_);
    break;
  }
  return t;
}

const char* to_string(QueryStyle style) {
  switch (style) {
    case QueryStyle::Cloze: return "cloze";
    case QueryStyle::Neighbour: return "neighbour";
    case QueryStyle::Reply: return "reply";
    case QueryStyle::Question: return "question";
  }
  return "?";
}

namespace {

// A sentence when the text has several, else a third of its words (at least kMinSpanWords).
Span cloze_span(const std::vector<std::string>& words, std::mt19937_64& random) {
  const std::vector<Span> found = sentences(words);
  if (found.size() >= 2) return found[std::uniform_int_distribution<size_t>(0, found.size() - 1)(random)];
  const size_t length = std::max(kMinSpanWords, words.size() / 3);
  const size_t begin = std::uniform_int_distribution<size_t>(0, words.size() - length)(random);
  return {begin, begin + length};
}

std::string without(const std::vector<std::string>& words, Span span) {
  std::string before = join_words(words, 0, span.first), after = join_words(words, span.second, words.size());
  return before.empty() || after.empty() ? before + after : before + ' ' + after;
}

// Half the queries are questions, what a memory store is asked; the other half cover the
// other uses of a corpus (a passage looked up by its own words, the next step, the answer).
constexpr QueryStyle kStyleCycle[] = {QueryStyle::Question, QueryStyle::Cloze, QueryStyle::Question,
                                      QueryStyle::Neighbour, QueryStyle::Question, QueryStyle::Reply};
// Content words of a statement that a question about it keeps.
constexpr double kQuestionKeep = 0.5;

}  // namespace

SelfSupervisedQueries self_supervised_queries(const std::vector<std::string>& documents, const SelfSupervisedOptions& options) {
  if (!(options.keep_span >= 0.0 && options.keep_span <= 1.0)) {
    throw invalid_input("self-supervised queries: keep_span {} is not in [0, 1]", options.keep_span);
  }
  SelfSupervisedQueries set;
  set.documents = documents;
  std::vector<std::vector<std::string>> words(documents.size());
  std::vector<uint32_t> eligible;
  for (size_t d = 0; d < documents.size(); ++d) {
    words[d] = split_words(documents[d]);
    if (words[d].size() >= 2 * kMinSpanWords) eligible.push_back(static_cast<uint32_t>(d));
  }
  const InflectionForms forms(documents);
  std::mt19937_64 random(options.seed);
  std::shuffle(eligible.begin(), eligible.end(), random);
  if (eligible.size() > options.max_queries) eligible.resize(options.max_queries);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const size_t n = documents.size();
  for (size_t k = 0; k < eligible.size(); ++k) {
    const uint32_t d = eligible[k];
    const std::vector<std::string>& w = words[d];
    // Styles in turn; one a document cannot give (no neighbour, no question, no content word)
    // falls back to cloze.
    QueryStyle style = kStyleCycle[k % std::size(kStyleCycle)];
    std::string question;
    if (style == QueryStyle::Question) {
      question = question_paraphrase(w, forms, kQuestionKeep, random);
      if (question.empty()) style = QueryStyle::Cloze;
    }
    std::vector<Span> questions;
    if (style == QueryStyle::Reply) {
      for (const Span& s : sentences(w)) {
        if (w[s.second - 1].back() == '?') questions.push_back(s);
      }
      if (questions.empty() || d + 1 >= n) style = QueryStyle::Cloze;
    }
    if (style == QueryStyle::Neighbour && n < 2) style = QueryStyle::Cloze;
    std::vector<uint32_t> relevant;
    Span span;
    switch (style) {
      case QueryStyle::Question:
        relevant = {d};
        break;
      case QueryStyle::Cloze:
        span = cloze_span(w, random);
        if (unit(random) >= options.keep_span) set.documents[d] = without(w, span);
        relevant = {d};
        break;
      case QueryStyle::Neighbour:
        span = cloze_span(w, random);
        if (d > 0) relevant.push_back(d - 1);
        if (d + 1 < n) relevant.push_back(d + 1);
        break;
      case QueryStyle::Reply:
        span = questions[std::uniform_int_distribution<size_t>(0, questions.size() - 1)(random)];
        set.documents[d] = without(w, span);
        relevant = {d, d + 1};
        break;
    }
    // Ranked among the documents around it in corpus order, as a store ranks among one agent's
    // memories and a benchmark among one conversation's turns.
    const size_t begin = options.window == 0 || d < options.window ? 0 : d - options.window;
    const size_t end = options.window == 0 ? n : std::min(n, static_cast<size_t>(d) + options.window + 1);
    std::vector<uint32_t> scope;
    scope.reserve(end - begin);
    for (size_t x = begin; x < end; ++x) {
      if (style != QueryStyle::Neighbour || x != d) scope.push_back(static_cast<uint32_t>(x));
    }
    set.queries.push_back(style == QueryStyle::Question ? std::move(question) : join_words(w, span.first, span.second));
    set.styles.push_back(style);
    set.relevant.push_back(std::move(relevant));
    set.scope.push_back(std::move(scope));
  }
  return set;
}

FusionTuning tune_fusion_on_documents(const std::vector<std::string>& documents, const EmbedFunction& embed_documents,
                                      const EmbedFunction& embed_queries, const FusionOptions& base,
                                      const SelfSupervisedOptions& options, double confidence) {
  const SelfSupervisedQueries set = self_supervised_queries(documents, options);
  if (set.queries.size() < 10) {
    throw invalid_input("fusion tuning needs at least 10 documents of {} words or more; found {}", 2 * kMinSpanWords,
                        set.queries.size());
  }
  const size_t n = set.documents.size();
  embed::Embeddings docs = embed_documents(set.documents);
  embed::Embeddings queries = embed_queries(set.queries);
  for (size_t i = 0; i < docs.rows; ++i) l2_normalize(docs.row(i), docs.dim);
  for (size_t i = 0; i < queries.rows; ++i) l2_normalize(queries.row(i), queries.dim);
  std::vector<float> dense;
  dot_products(queries.values.data(), queries.rows, docs.values.data(), docs.rows, docs.dim, 0, dense);
  const Bm25Index index(set.documents, {});
  FusionTuner tuner(base, kDefaultCandidateDepth, FusionTuner::kDefaultGrid, confidence);
  std::vector<double> row;
  std::vector<float> lexical(n);
  for (size_t q = 0; q < set.queries.size(); ++q) {
    index.score(set.queries[q], row);
    for (size_t d = 0; d < n; ++d) lexical[d] = static_cast<float>(row[d]);
    tuner.add_query(lexical.data(), dense.data() + q * n, n, &set.scope[q], set.relevant[q]);
  }
  FusionTuning tuning = tuner.result();
  for (QueryStyle style : set.styles) ++tuning.query_styles[to_string(style)];
  return tuning;
}

}  // namespace memembed::retrieval
