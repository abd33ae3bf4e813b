// eval: scores embedding models (and a BM25 baseline) on long-horizon memory retrieval the way
// LMEB does, so the numbers can stand next to the published LMEB tables and MTEB results.
//
// Contract of `run_evaluation` (and `memembed eval`):
//  - Tasks: LMEB's on-disk layout (<MemoryType>/<Dataset>/..., corpus/candidates placed per
//    dataset as LMEB's loaders expect, task_instructions.json) or a BEIR folder (corpus.jsonl,
//    queries.jsonl, qrels/<split>.tsv). The memory type comes from the path. docs/eval.md has the
//    rules.
//  - Retrieval: every query against the subset's whole corpus file, float32 scores, then the
//    scene's candidate list when the task has one. Document = (title + " " + text).strip();
//    with instructions a query is "Instruct: {instruction}\nQuery:" + query.
//  - Measures: trec_eval 9.0.8 (what pytrec_eval/MTEB run) for ndcg/map/recall/precision at each
//    cutoff, mteb's mrr_at_k and LMEB's R_cap_at_k; MTEB's mean (queries without results count 0).
//  - Output under `out` (kept exactly; other modules read it):
//      summary.csv   one row per subset and instruction setting:
//                    memory_type,dataset,subset,instructions,main_score, then every measure under
//                    its MTEB name (ndcg_at_k, map_at_k, recall_at_k, precision_at_k, mrr_at_k,
//                    r_cap_at_k for each k), unrounded; an undefined r_cap is an empty cell.
//      results/<off|on>/<MemoryType>/<Dataset>/<subset, '/' -> '__'>.json
//                    MTEB-TaskResult-like: task_name, memory_type, subset, instructions,
//                    model_name, model_revision, evaluation_time, memembed_version,
//                    scores.test[0] = {hf_subset, languages, main_score, <measures>} with the
//                    values MTEB would store (ndcg/map/recall/precision/r_cap rounded to 5
//                    decimals, mrr unrounded).
//      summary.md, report.html (self-contained, inline SVG), both beside the published LMEB rows.
//    A subset whose result file exists is reused, not recomputed, unless `overwrite` is set: an
//    interrupted run picks up where it stopped.
//  - `save_run`: <dir>/<off|on>/<MemoryType>/<Dataset>/<subset path>/{run.trec,qrels.trec}, so
//    `trec_eval -c -m ndcg_cut.10 qrels.trec run.trec` reproduces the reported ndcg_at_10.
#pragma once

#include "memembed/retrieval.h"
#include "memembed/precision.h"
#include "memembed/provider.h"

#include <atomic>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace memembed::eval {

enum class InstructionMode { Off, On, Both };

struct EvalOptions {
  std::filesystem::path tasks;  // benchmark tree, memory-type folder, dataset, subset or BEIR folder
  std::string model = "bm25";   // "bm25", a sentence-transformers model directory, an endpoint
                                // (openai:URL#MODEL, provider.h), or "hybrid:" + either (the
                                // memory store's BM25 + dense fusion, `fusion` below)
  InstructionMode instructions = InstructionMode::Off;
  std::vector<int> cutoffs = {1, 3, 5, 10, 20, 25, 50, 100, 1000};  // 10 is always evaluated
  std::filesystem::path out;       // empty: print only
  std::filesystem::path save_run;  // empty: no run files
  size_t run_depth = 0;            // results kept per query in run files; 0 = largest cutoff
  size_t max_tokens = 1024;        // truncation of model inputs (not used by BM25)
  std::filesystem::path cache_dir; // corpus-embedding cache; empty = $MEMEMBED_EMBEDDING_CACHE,
                                   // else $XDG_CACHE_HOME or ~/.cache, /memembed/embeddings
  bool use_cache = true;
  bool overwrite = false;          // recompute subsets that already have a result file
  int threads = 0;                 // scoring threads, 0 = all cores (the model's threads are the
                                   // application's: model::configure_compute)
  size_t batch_size = 64;          // texts per model batch
  Precision precision = Precision::F32;  // of the model's linear layers
  std::string split = "test";      // BEIR qrels/<split>.tsv
  std::string memory_type;         // for task paths that name no memory type (e.g. BEIR)
  std::filesystem::path instructions_file;  // instead of the nearest task_instructions.json
  std::filesystem::path published_scores;   // instead of the built-in LMEB paper rows
  const std::atomic<bool>* stop = nullptr;  // when it turns true: finish the current step, return
  retrieval::FusionOptions fusion;          // --model hybrid:DIR: fusion method and dense weight
  provider::RemoteOptions remote;           // --model openai:URL#MODEL: the client's settings
};

struct SubsetResult {
  std::string memory_type;   // Episodic | Dialogue | Semantic | Procedural (or the given type)
  std::string dataset;       // LMEB task name
  std::string subset;        // LMEB subset name ("workspace/query_type" for nested ones)
  std::string instructions;  // "off" | "on"
  double main_score = 0;     // ndcg_at_10, unrounded
  std::map<std::string, std::optional<double>> scores;  // MTEB names, unrounded
  double evaluation_time = 0;
  bool reused = false;       // read back from an earlier run's result file
  std::vector<std::string> warnings;
};

struct EvalResult {
  std::string model_name;
  std::vector<SubsetResult> subsets;
  bool interrupted = false;
  std::string summary;  // the table printed at the end (markdown)
};

// Throws memembed::Error for unusable input (a missing task folder, a malformed line, an unknown
// instruction key, ...), naming the file, line and field.
EvalResult run_evaluation(const EvalOptions& options);

// `memembed eval score`: a trec_eval-compatible scorer for any TREC run and qrels file.
struct ScoreOptions {
  std::vector<int> cutoffs = {1, 3, 5, 10, 20, 25, 50, 100, 1000};
  bool trec_eval_mean = false;  // mean over run ∩ qrels queries (trec_eval default) instead of MTEB's
  bool per_query = false;
  bool json = false;
  int digits = 4;  // decimals in the text output (trec_eval prints 4)
};

struct CommandOutput {
  std::string text;                   // for stdout
  std::vector<std::string> warnings;  // for stderr
};

CommandOutput score_files(const std::filesystem::path& qrels, const std::filesystem::path& run,
                          const ScoreOptions& options);

// `memembed eval correlate`: Pearson and Spearman (tie-averaged ranks) between a score column of
// A and one of B, rows matched on a key column. CSV with a header line; '#' lines are comments.
struct CorrelateOptions {
  std::filesystem::path a;
  std::filesystem::path b;         // empty: A again (two columns of one file)
  std::string a_column;
  std::string b_column;
  std::string key = "model";       // column present in both files
  std::vector<std::string> a_where;  // "column=value" row filters on A
  std::vector<std::string> b_where;  // on B
  bool json = false;
};

CommandOutput correlate_files(const CorrelateOptions& options);

// `memembed eval tune-fusion --tasks`: the dense share of hybrid fusion for `options.model` (a
// model directory) chosen on the tasks' own queries, each searched within its scene, by
// retrieval::FusionTuner's conservative rule (options.fusion gives the method) at `confidence`.
retrieval::FusionTuning tune_fusion_on_tasks(const EvalOptions& options, double confidence = 0.95);

// `memembed eval report`: one summary.md / report.html comparing several `--out` directories
// (e.g. several models) beside the published LMEB rows.
struct ReportOptions {
  std::vector<std::filesystem::path> results;  // directories written by run_evaluation
  std::filesystem::path html;
  std::filesystem::path markdown;
  std::filesystem::path published_scores;      // empty: the built-in LMEB paper rows
};

void write_comparison_report(const ReportOptions& options);

}  // namespace memembed::eval
