// retrieval: the ranking code that `eval` measures and `memory` serves - one implementation, so an
// evaluation number is a statement about what the store returns.
//
//  - BM25: Okapi BM25 with Lucene's (and Anserini's) formula and Anserini's default parameters
//      score(q, d) = sum over query tokens t of idf(t) * tf(t,d) * (k1 + 1) / (tf(t,d) + k1 * (1 - b + b * |d| / avgdl))
//      idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5)),   k1 = 0.9, b = 0.4
//    A query token that repeats counts each time. Tokens are maximal runs of Unicode letters, marks
//    and digits, lowercased ("Don't" -> "don", "t"; "Café" -> "café"), minus Lucene's 33 English
//    stopwords. Scores are accumulated in double.
//  - Dense: dot products of L2-normalised float32 vectors (cosine), exact and blocked over threads,
//    with SIMD kernels chosen at run time (AVX-512, AVX2, portable) that all give the same bits.
//  - Fusion of a BM25 candidate list and a dense one, score-aware (z-score or min-max, weighted by
//    the dense share `weight`) or reciprocal-rank (k = 60) for comparison. Each side's scores are
//    normalised over that side's candidate list; a candidate missing from a side gets the score it
//    is known to have at most there (`Side::absent`). With the weight at 0 the ranking is BM25's,
//    at 1 the dense model's.
#pragma once

#include "memembed/embed.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace memembed::retrieval {

// ---- BM25 ---------------------------------------------------------------------------------------

struct Bm25Parameters {
  double k1 = 0.9;
  double b = 0.4;
};

std::vector<std::string> bm25_tokenize(std::string_view text);

inline double bm25_idf(double documents, double document_frequency) {
  return std::log(1.0 + (documents - document_frequency + 0.5) / (document_frequency + 0.5));
}
// One query token's contribution; `length_norm` = k1 * (1 - b + b * |d| / avgdl).
inline double bm25_term(const Bm25Parameters& p, double idf, double tf, double length_norm) {
  return idf * tf * (p.k1 + 1.0) / (tf + length_norm);
}
inline double bm25_length_norm(const Bm25Parameters& p, double length, double average_length) {
  return p.k1 * (1.0 - p.b + p.b * length / average_length);
}

// An in-memory index over a fixed list of documents.
class Bm25Index {
 public:
  Bm25Index() = default;
  Bm25Index(const std::vector<std::string>& documents, Bm25Parameters parameters);

  size_t size() const { return norms_.size(); }
  // out[d] = BM25 score of document d (out is resized to size()).
  void score(std::string_view query, std::vector<double>& out) const;

 private:
  struct Posting {
    uint32_t doc;
    uint32_t tf;
  };
  Bm25Parameters parameters_;
  std::unordered_map<std::string, uint32_t> terms_;
  std::vector<std::vector<Posting>> postings_;
  std::vector<double> idf_;
  std::vector<double> norms_;  // bm25_length_norm of each document
};

// ---- Dense --------------------------------------------------------------------------------------

// Which instruction set the dense kernels use; every path gives bit-identical scores (the same
// eight partial sums in the same order), so rankings never depend on the machine.
enum class SimdPath { Portable, Avx2, Avx512 };
const char* to_string(SimdPath path);
SimdPath best_simd_path();  // the widest this CPU supports (checked once, at run time)

float dot(const float* a, const float* b, size_t dim);
// out[r] = dot(query, rows + r * dim) for `count` consecutive rows: the blocked kernel of exact search.
void dot_rows(const float* query, const float* rows, size_t count, size_t dim, float* out);
void dot_rows(const float* query, const float* rows, size_t count, size_t dim, float* out, SimdPath path);
void l2_normalize(float* values, size_t dim);  // a zero vector stays zero
// Compact int8 copies of vectors, for approximate distances where memory traffic dominates (graph
// traversal): codes in [-127, 127], value ~= code * (returned factor), the factor 1/127 of the
// largest magnitude. dot_i8 is exact integer arithmetic, the same on every path.
float quantize_i8(const float* values, size_t dim, int8_t* codes);
int32_t dot_i8(const int8_t* a, const int8_t* b, size_t dim);
// scores[q * docs + d] = <queries[q], docs[d]>, rows of `dim` floats, over `threads` threads
// (0 = all cores) split by document ranges.
void dot_products(const float* queries, size_t query_count, const float* docs, size_t doc_count,
                  size_t dim, int threads, std::vector<float>& scores);

// ---- Candidates and fusion ----------------------------------------------------------------------

struct Scored {
  size_t key = 0;  // the caller's document index
  double score = 0.0;
};

// The best `k` of `scores` (score descending, key ascending on ties).
std::vector<Scored> top_k(const std::vector<Scored>& scores, size_t k);
std::vector<Scored> top_k(const float* scores, size_t count, size_t k);

enum class Fusion {
  ZScore,  // weight * z(dense) + (1 - weight) * z(bm25)
  MinMax,  // the same on min-max normalised scores
  Rrf,     // 2 * (weight / (k + rank_dense) + (1 - weight) / (k + rank_bm25)); weight 0.5 = classic RRF
};
const char* to_string(Fusion fusion);
Fusion parse_fusion(std::string_view name);  // "zscore" | "minmax" | "rrf"; InvalidInput otherwise

inline constexpr double kDefaultFusionWeight = 0.3;
inline constexpr size_t kDefaultCandidateDepth = 100;  // candidates per side before fusion

struct FusionOptions {
  Fusion method = Fusion::ZScore;
  double weight = 0.3;  // dense share in [0, 1]
  double rrf_k = 60.0;
};

// One side's candidates, best first, and what a document absent from them scores there at most:
// `absent` when the list holds every document that scores above it (BM25 lists shorter than the
// depth asked for: the others score 0), else the list's last score.
struct Side {
  std::vector<Scored> candidates;
  double absent = 0.0;
};
Side make_side(std::vector<Scored> candidates, size_t depth, std::optional<double> known_absent_score);

// Fused scores of the union of both candidate lists, best first (key ascending on ties). An empty
// side carries no evidence: the other side decides alone.
std::vector<Scored> fuse(const Side& lexical, const Side& dense, const FusionOptions& options);

// A fused score mapped onto [0, 1] (monotone), for ranking with recency and min_relevance:
// z-score -> logistic, min-max -> clamped, RRF -> divided by its maximum.
double fused_relevance(double fused, const FusionOptions& options);

// One query over full score rows (eval, calibration): each side's best `depth` among the documents
// in `scope` (nullptr = all; BM25 keeps only documents scoring above 0, as a text index does), fused
// exactly as the memory store fuses its candidate lists.
std::vector<Scored> fuse_rows(const float* lexical, const float* dense, size_t docs,
                              const std::vector<uint32_t>* scope, size_t depth, const FusionOptions& options);

// ---- Choosing the fusion weight -----------------------------------------------------------------

struct FusionTuning {
  double weight = 0.0;               // the choice
  double best_weight = 0.0;          // the highest mean NDCG@10 on the grid
  std::vector<double> grid;          // weights tried
  std::vector<double> ndcg_at_10;    // mean per weight (binary relevance)
  std::vector<double> best_wins;     // per weight: share of bootstrap resamples where the best weight's mean is higher
  size_t queries = 0;
  std::map<std::string, size_t> query_styles;  // self-supervised queries per style (tune on documents only)
  std::string reason;                // why `weight`, in words
};

// Collects per-query NDCG@10 of the fused ranking at each weight of a grid; result() applies the
// conservative rule: the smallest weight that the best weight does not beat in at least
// `confidence` of paired bootstrap resamples of the queries. A gain within noise is not taken, so
// the BM25 side (weight 0) is kept unless the evidence for a dense share is real.
class FusionTuner {
 public:
  static inline const std::vector<double> kDefaultGrid = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
  explicit FusionTuner(FusionOptions base = {}, size_t depth = kDefaultCandidateDepth, std::vector<double> grid = kDefaultGrid,
                       double confidence = 0.95);
  void add_query(const float* lexical, const float* dense, size_t docs, const std::vector<uint32_t>* scope,
                 const std::vector<uint32_t>& relevant);
  FusionTuning result() const;

 private:
  FusionOptions base_;
  size_t depth_;
  std::vector<double> grid_;
  double confidence_;
  std::vector<std::vector<double>> per_query_;  // [weight][query]
};

// ---- Self-supervised queries from documents alone -----------------------------------------------

// Each query is made from one document of 8 words or more (documents taken in a seeded random
// order, styles in turn: every other query a Question, the rest Cloze, Neighbour, Reply in turn):
//  - Question: a statement of the document reworded the way a question about it is asked: the
//    speaker's name (a leading "Name:") for first-person words, "[...]" annotations left out, half
//    of its content words, each in another inflection the corpus has of it (Snowball stems:
//    went stays, signed -> sign, groups -> group), after a question word ("When did Caroline sign
//    pottery class?"). The document stays whole and is the relevant one. This is the lexical
//    mismatch between a question and its answer that a word-vector model can bridge and BM25,
//    which does not stem, cannot; a statement without content words gives a cloze query.
//  - Cloze (inverse cloze, Lee et al. 2019): a sentence, or a third of the words, is the query; it
//    is cut out of its document (left in with probability keep_span), which is the relevant one.
//  - Neighbour: a sentence of a document; the relevant ones are the documents just before and after
//    it in corpus order (the same session's neighbouring turns); the document itself is not ranked.
//  - Reply: a question sentence, cut out of its document; relevant: that document and the next one
//    (where the answer is in a dialogue). A document without a question gives a cloze query.
// Every query is ranked among the documents within `window` places of its own in corpus order
// (0 = the whole corpus), as a store ranks one agent's memories and a benchmark one conversation.
enum class QueryStyle { Cloze, Neighbour, Reply, Question };
const char* to_string(QueryStyle style);

struct SelfSupervisedOptions {
  size_t max_queries = 5000;
  double keep_span = 0.1;
  size_t window = 300;
  uint64_t seed = 42;
};

struct SelfSupervisedQueries {
  std::vector<std::string> documents;          // the corpus with the cut-out spans removed
  std::vector<std::string> queries;
  std::vector<QueryStyle> styles;
  std::vector<std::vector<uint32_t>> relevant;  // per query
  std::vector<std::vector<uint32_t>> scope;     // per query: the documents it is ranked among
};
SelfSupervisedQueries self_supervised_queries(const std::vector<std::string>& documents,
                                              const SelfSupervisedOptions& options = {});

using EmbedFunction = std::function<embed::Embeddings(const std::vector<std::string>&)>;
// tune-fusion --docs and `memory calibrate`: the weight for `documents` (in corpus order) with this
// dense model, on self_supervised_queries and the FusionTuner rule.
FusionTuning tune_fusion_on_documents(const std::vector<std::string>& documents, const EmbedFunction& embed_documents,
                                      const EmbedFunction& embed_queries, const FusionOptions& base = {},
                                      const SelfSupervisedOptions& options = {}, double confidence = 0.95);

}  // namespace memembed::retrieval
