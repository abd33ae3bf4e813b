// tune: domain fine-tuning of an embedding model on an organisation's own documents.
//
//   documents -> chunks (stable ids) -> synthetic (query, positive chunk) pairs   generate_training_data
//             -> hard negatives mined with the base model                          mine_hard_negatives
//             -> InfoNCE training (GradCache, AdamW, warmup + cosine)              train_model
//             -> base vs tuned on the held-out set, gate                           evaluate_gate
//             -> embedder config pointing at the tuned model                       deploy_model
// `run_pipeline` chains the stages in one run directory and resumes where a previous run stopped.
// Every stage reads and writes plain files (JSONL, BEIR folders, sentence-transformers model
// directories), so each can be run, inspected or replaced on its own. docs/tune.md has the recipe.
#pragma once

#include "memembed/json_io.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace memembed::tune {

namespace fs = std::filesystem;

// ---- Data: documents -> chunks -> (query, positive) pairs -----------------------------------------

// A retrievable unit. `id` is stable: a corpus record keeps its own id (a long record is split into
// `<id>#<n>`); a file's chunks are `<relative path>#<n>`, n counting from 0 in file order.
struct Chunk {
  std::string id;
  std::string text;      // what is embedded: (title + " " + text).strip() for corpus records
  std::string source;    // the document (file path or record id) it came from
  bool is_turn = false;  // a dialogue turn ("[time] Speaker: ..."): generated with its neighbours
};

struct ChunkOptions {
  size_t max_words = 200;  // a longer document or record is split at paragraph, then sentence ends
};

// Reads each path: a directory (every .md, .markdown, .txt file under it, recursively, in path
// order), a `.jsonl` corpus (BEIR/LMEB: `id`, `text`, optional `title`) or a single text file.
// Errors name the file and line; duplicate ids are an error.
std::vector<Chunk> load_chunks(const std::vector<fs::path>& paths, const ChunkOptions& options = {});

// Offline generators (no model needed):
//  - inverse cloze: a sentence of the chunk is the query (a chunk of one sentence gives a span of
//    60-80% of its words instead); the chunk is the positive.
//  - dialogue: for a turn, the query is a span of the turn's words without its "[time] Speaker:"
//    header, the turn is the positive, and its neighbouring turns are "related": they are never
//    mined as its negatives (a neighbour often answers the same question).
// With an LLM endpoint, the LLM writes the queries (see LlmOptions).
enum class GeneratorKind { Auto, InverseCloze, Dialogue, Llm };
const char* to_string(GeneratorKind kind);
GeneratorKind generator_from_string(const std::string& name);  // "auto", "inverse-cloze", "dialogue", "llm"

// An OpenAI-compatible chat completions endpoint (POST {url}/chat/completions).
struct LlmOptions {
  std::string url;                       // base URL, e.g. http://127.0.0.1:8000/v1
  std::string model;                     // the "model" field of the request
  std::string api_key_env = "OPENAI_API_KEY";  // the key is read from this variable (never a flag)
  fs::path prompt_file;                  // empty: the built-in prompt; {chunk} and {count} are filled in
  size_t queries_per_chunk = 2;
  double requests_per_second = 4;        // rate limit across all requests
  int max_retries = 5;                   // for 429, 5xx and transport errors; exponential backoff
  double initial_backoff_seconds = 1;
  double timeout_seconds = 120;
  fs::path cache_dir;                    // answers keyed by (url, model, prompt, chunk); empty: none
};

struct GenerateOptions {
  std::vector<fs::path> docs;
  fs::path data_dir;  // writes chunks.jsonl, train.jsonl, generation.json
  fs::path eval_dir;  // writes the held-out set as a BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv
  GeneratorKind generator = GeneratorKind::Auto;
  std::optional<LlmOptions> llm;   // required for GeneratorKind::Llm; Auto uses it when given
  ChunkOptions chunking;
  double held_out_fraction = 0.1;  // of the chunks whose queries go to the held-out set
  size_t max_held_out = 1000;      // at most this many held-out queries
  size_t max_train_pairs = 0;      // 0 = every chunk (one pair per chunk and query)
  uint64_t seed = 42;
};

struct GenerateReport {
  std::string generator;
  size_t documents = 0;
  size_t chunks = 0;
  size_t train_pairs = 0;
  size_t held_out_queries = 0;
  size_t skipped_chunks = 0;  // too short to make a query from
  Json to_json() const;
};

GenerateReport generate_training_data(const GenerateOptions& options);

// ---- Data-parallel ranks (mining and training) ---------------------------------------------------

// Several processes or machines on libtorch c10d (a TCPStore rendezvous at rank 0, Gloo over TCP).
// `master` is HOST:PORT of rank 0's TCPStore; every rank is started with the same data directory.
struct DataParallel {
  int world_size = 1;
  int rank = 0;
  std::string master;
};

// ---- Hard-negative mining ------------------------------------------------------------------------

struct MineOptions {
  fs::path data_dir;    // reads chunks.jsonl and train.jsonl; writes negatives.jsonl and mining.json
  fs::path base_model;
  size_t negatives = 4;
  // Positive-aware filter: candidates scoring above threshold x the positive's score are dropped
  // as likely unlabelled positives.
  double threshold = 0.95;
  size_t candidates = 0;       // ranked candidates examined per query (0 = max(64, 16 x negatives))
  size_t block_rows = 8192;    // corpus rows scored at a time (memory: queries x block_rows floats)
  uint64_t seed = 42;          // for the random negatives that fill slots the filter left empty
  bool show_progress = false;
  // Each rank embeds its share of the chunks and queries; the embeddings are all-gathered and rank 0
  // ranks, filters and writes negatives.jsonl and mining.json (the other ranks return its report).
  DataParallel parallel;
};

struct MiningReport {
  size_t queries = 0;
  size_t slots = 0;               // queries x negatives
  size_t hard = 0;                // slots filled with a mined candidate
  size_t random = 0;              // slots no mined candidate filled, filled with random chunks (that pass the filter)
  size_t empty = 0;               // slots nothing filled (no random chunk passed the filter either)
  size_t dropped_by_filter = 0;   // candidates above the threshold (likely positives)
  size_t dropped_related = 0;     // candidates that were the positive or a related chunk
  // Share of slots the mined candidates did not fill after the filter.
  double unfilled_fraction() const {
    return slots == 0 ? 0.0 : static_cast<double>(random + empty) / static_cast<double>(slots);
  }
  Json to_json() const;
};

MiningReport mine_hard_negatives(const MineOptions& options);

// ---- Training ------------------------------------------------------------------------------------

// Defaults per model kind (docs/tune.md). Transformers: the DESIGN recipe. Static tables move
// little at lr 1e-5; they need a large rate and more epochs.
struct Recipe {
  double learning_rate;
  double temperature;
  int epochs;
};
Recipe default_recipe(bool static_model);

struct TrainOptions {
  fs::path data_dir;     // reads chunks.jsonl, negatives.jsonl
  fs::path base_model;
  fs::path train_dir;    // checkpoint/, log.jsonl, loss.svg, train.json
  fs::path export_dir;   // the tuned model, a complete sentence-transformers directory
  std::optional<double> learning_rate;  // unset: the recipe of the model kind
  std::optional<double> temperature;
  std::optional<int> epochs;
  double weight_decay = 0.01;
  double warmup_fraction = 0.1;  // of all steps; then cosine decay to 0
  double grad_clip = 1.0;        // max global L2 norm of the gradient
  size_t negatives = 4;          // hard negatives per query used (at most what was mined)
  bool in_batch_negatives = true;  // every other query's documents are negatives too
  size_t batch_size = 128;       // queries per optimiser step, over all ranks
  size_t mini_batch = 32;        // texts per forward/backward chunk (GradCache); memory does not grow with batch
  size_t max_steps = 0;          // 0 = epochs x steps per epoch
  size_t max_seq_length = 256;   // token limit for training inputs (transformers)
  size_t checkpoint_every = 50;  // steps; the last step is always checkpointed
  uint64_t seed = 42;
  bool show_progress = true;
  // Each rank takes batch_size / world_size queries of every step; representations are
  // all-gathered so the loss is the global batch's; gradients are all-reduced.
  DataParallel parallel;
  const std::atomic<bool>* stop = nullptr;  // when it turns true: checkpoint and return
};

struct TrainResult {
  size_t steps = 0;          // optimiser steps done in total
  size_t total_steps = 0;
  size_t resumed_from = 0;   // step of the checkpoint this run started from (0 = fresh)
  double final_loss = 0;
  double seconds = 0;
  bool interrupted = false;
  Json to_json() const;
};

TrainResult train_model(const TrainOptions& options);

// ---- Evaluation and gate -------------------------------------------------------------------------

struct EvaluateOptions {
  fs::path eval_dir;      // the held-out BEIR folder
  fs::path base_model;
  fs::path tuned_model;
  fs::path out_dir;       // evaluation outputs of both models, evaluation.json
  std::vector<fs::path> extra_tasks;  // more task trees (e.g. real LMEB queries), reported per subset
  double alpha = 0.05;    // the gate needs the paired test's p-value below this
  uint64_t seed = 42;     // of the paired randomisation test
  int threads = 0;
};

struct Scores {
  double ndcg_at_10 = 0;
  double recall_at_10 = 0;
  double recall_at_60 = 0;
};

struct SubsetComparison {
  std::string task;    // "held-out" or memory_type/dataset
  std::string subset;
  Scores base;
  Scores tuned;
};

struct GateDecision {
  Scores base;           // held-out, overall
  Scores tuned;
  double p_value = 1;    // paired randomisation test on per-query NDCG@10 (two-sided)
  size_t queries = 0;
  bool passed = false;
  std::string reason;
  std::vector<SubsetComparison> subsets;
  std::vector<std::string> regressed;  // subsets whose NDCG@10 dropped
  Json to_json() const;
};

GateDecision evaluate_gate(const EvaluateOptions& options);

// ---- Deployment ----------------------------------------------------------------------------------

struct DeployOptions {
  fs::path config;            // the embedder config (docs/embedder-config.md); created when absent
  fs::path model_dir;         // the tuned model
  fs::path base_model;
  fs::path training_data_dir;
};

// Writes the config with fine_tune {enabled, checkpoint_path, base_model, training_data_dir}; an
// existing config is first copied to `<config>.previous`. Returns the backup path (empty if none).
fs::path deploy_model(const DeployOptions& options);
// Puts `<config>.previous` back. NotFound when there is none.
void rollback_deployment(const fs::path& config);

// ---- The whole pipeline --------------------------------------------------------------------------

struct RunOptions {
  std::vector<fs::path> docs;
  fs::path base_model;
  fs::path run_dir;
  std::optional<int> epochs;
  size_t max_steps = 0;
  size_t batch_size = 128;
  size_t mini_batch = 32;
  size_t negatives = 4;            // hard negatives mined and trained on per query
  double held_out_fraction = 0.1;  // of the chunks, held out for the gate
  uint64_t seed = 42;
  std::optional<double> learning_rate;
  std::optional<double> temperature;
  std::optional<LlmOptions> llm;
  GeneratorKind generator = GeneratorKind::Auto;
  bool force_deploy = false;  // deploy even when the gate fails
  int threads = 0;
  const std::atomic<bool>* stop = nullptr;
};

// Stages: generating_data -> mining_negatives -> training -> evaluating -> deploying -> complete,
// or failed (with the error). State in RUN_DIR/state.json; a rerun with the same settings
// continues at the first stage not completed (training resumes from its checkpoint); other
// settings are refused. Everything is written inside RUN_DIR: data/, eval/ (held-out BEIR set),
// train/ (checkpoint, log, loss curve), model/ (the tuned model), evaluation/, embedder.json (the
// deployed config, when the gate passes) and report.json. Returns report.json's content.
Json run_pipeline(const RunOptions& options);

}  // namespace memembed::tune
