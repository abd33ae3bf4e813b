// Model selection: which embedding model to run for a user's memory workload and resources.
//
// The contract, in the order data flows:
//   1. A Registry holds model facts (Hugging Face id, size, dims, prompts, licence, ...) and LMEB
//      scores per memory type, with and without query instructions. Every fact names its source;
//      an unknown fact is absent (std::nullopt), never guessed. The built-in registry is
//      data/models.json (schema: docs/registry.md); `load` reads another file of the same form.
//   2. Local evidence merges in: `merge_eval_results` reads a `memembed eval --out DIR` tree and
//      `merge_bench` a `memembed bench --json FILE`. Measured numbers override published ones for
//      the same model, instruction setting and memory type, and are marked as measured.
//   3. `recommend` filters the models by the Request's resources (RAM/VRAM, latency, languages),
//      scores each by its priority-weighted NDCG@10 over the memory types, choosing per memory type
//      whether query instructions help, and ranks them. It explains the choice (reasons), lists
//      what it could not check (unknowns) and summarises the best model per size tier.
//   4. `make_embedder_config` turns a ranked candidate into the EmbedderConfig that the memory
//      service (`memembed serve`) reads (format: docs/embedder-config.md).
//
// Scores are NDCG@10 x100 as in the LMEB tables. Bad input (unknown memory type, negative budget,
// malformed registry or evidence files) throws memembed::Error naming the problem and its place.
#pragma once

#include "memembed/bench_record.h"
#include "memembed/json_io.h"
#include "memembed/memory_type.h"

#include <array>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace memembed::select {

// ---- Memory types -------------------------------------------------------------------------------

// LMEB's four memory types and their names: memembed/memory_type.h.
using memembed::category_name;
using memembed::kMemoryTypeCount;
using memembed::kMemoryTypes;
using memembed::lmeb_name;
using memembed::MemoryType;
using memembed::parse_memory_type;
using memembed::short_name;

enum class Instructions { Off = 0, On = 1 };
const char* to_string(Instructions setting);  // "off" / "on"

// ---- Registry -----------------------------------------------------------------------------------

// A fact and the id of the registry source it comes from ("measured:<path>" for local evidence).
template <typename T>
struct Fact {
  T value;
  std::string source;
};

// Matryoshka output sizes: either a list, or every size in [min, max] when `dims` is empty.
struct Matryoshka {
  std::vector<int> dims;
  int min = 0;
  int max = 0;
};

struct MtebRetrieval {
  double value = 0;
  std::string benchmark;  // the published scores come from different MTEB variants; not comparable
  std::string source;
};

// One memory type's score under one instruction setting.
struct TypeScore {
  double ndcg10 = 0;               // x100
  std::optional<double> recall10;  // R_cap@10 x100
  bool measured = false;
  std::string source;  // registry source id, or the evaluation directory
  int datasets = 0;    // measured: how many datasets were averaged
};

// Throughput measured by `memembed bench` on the user's machine (its --json record).
struct Throughput : BenchRecord {
  std::string source;  // the bench file
  // An endpoint's bench (query_latency_ms): single-text request latency, p50 and p99 in ms.
  std::optional<double> query_p50_ms;
  std::optional<double> query_p99_ms;
};

struct ModelInfo {
  std::string id;    // registry key, e.g. "embeddinggemma-300m"
  std::string name;  // display name (LMEB's where it has one)
  std::vector<std::string> aliases;
  std::optional<Fact<std::string>> hf_id;
  std::optional<Fact<double>> params;
  std::optional<Fact<int>> dims;
  std::optional<Fact<Matryoshka>> matryoshka;
  std::optional<Fact<int>> max_tokens;
  std::optional<Fact<std::string>> pooling;
  // "" = the model uses no prompt; absent = unknown.
  std::optional<Fact<std::string>> query_prompt;
  std::optional<Fact<std::string>> document_prompt;
  std::optional<Fact<std::string>> instruction_template;  // the model's own; "{instruction}" marks it
  std::optional<Fact<std::string>> licence;
  std::optional<Fact<std::vector<std::string>>> languages;  // ISO codes, or "multilingual"
  std::optional<MtebRetrieval> mteb_retrieval;
  std::optional<std::string> lmeb_size;  // the size column as LMEB prints it
  // scores[Instructions][MemoryType]; measured evidence replaces published in place.
  std::array<std::array<std::optional<TypeScore>, kMemoryTypeCount>, 2> scores;
  std::optional<Throughput> throughput;
  std::vector<std::string> notes;
  bool local_only = false;  // not in the registry file: created from local evidence

  const std::optional<TypeScore>& score(Instructions setting, MemoryType type) const {
    return scores[static_cast<int>(setting)][static_cast<int>(type)];
  }
  // Mean over the four memory types (LMEB's "Mean (Type)"), when all four are known.
  std::optional<double> mean_type(Instructions setting) const;

  // The better of the two instruction settings for `type` (a tie goes to Off, the simpler query):
  // LMEB applies instructions to queries only, so each memory type may use its better setting.
  // This is how `recommend` scores a model and how `models` shows it. nullopt when neither is known.
  struct BestScore {
    TypeScore score;
    Instructions setting = Instructions::Off;
  };
  std::optional<BestScore> best_score(MemoryType type) const;
  // Mean of best_score over the four memory types, when all four are known.
  std::optional<double> best_mean_type() const;
};

struct Source {
  std::string id;
  std::string title;
  std::string url;
};

// "use instructions" / "no instructions" / "no clear difference" / "unknown": from the mean over
// memory types with and without instructions (differences under 0.5 points count as no difference).
std::string instruction_policy(const ModelInfo& model);

class Registry {
 public:
  // The registry compiled into memembed from data/models.json.
  static Registry builtin();
  // Reads and validates a registry file; errors name the file and the JSON path.
  static Registry load(const std::filesystem::path& path);
  static Registry from_json(const Json& document, const std::string& where);

  const std::vector<ModelInfo>& models() const { return models_; }
  const std::vector<Source>& sources() const { return sources_; }
  const Source* source(std::string_view id) const;
  // Matches id, display name, Hugging Face id, aliases, or the last component of a path or
  // Hugging Face id ("/models/embeddinggemma-300m"), ignoring case. nullptr when none matches.
  const ModelInfo* find(std::string_view name) const;
  // The entry for a model named in local evidence, created (local_only) when the registry lacks it.
  ModelInfo& entry_for(std::string_view name);

 private:
  std::vector<ModelInfo> models_;
  std::vector<Source> sources_;
};

// Merges every results/<off|on>/<MemoryType>/<Dataset>/<subset>.json under `dir` (the layout
// `memembed eval --out DIR` writes): subset main scores average into dataset scores, dataset scores
// into memory-type scores, as LMEB aggregates. Later merges override earlier ones.
void merge_eval_results(Registry& registry, const std::filesystem::path& dir);
// Merges one `memembed bench --json FILE` result (throughput and peak memory).
void merge_bench(Registry& registry, const std::filesystem::path& file);
// What the commands work on: `registry_file` (else the built-in registry), then the evidence
// directories and bench files merged in the order given.
Registry load_registry(const std::optional<std::filesystem::path>& registry_file,
                       const std::vector<std::filesystem::path>& evidence_dirs,
                       const std::vector<std::filesystem::path>& bench_files);

// ---- Resources and the request ------------------------------------------------------------------

// "2", "2GB", "1.5G", "512MB", "512MiB", "4GiB": bytes. A bare number is gigabytes (10^9).
// Throws InvalidInput naming `what` (e.g. "--ram") for negative or malformed sizes.
double parse_size(std::string_view text, std::string_view what);
// "300M", "1.5B", "7e9": a parameter count.
double parse_param_count(std::string_view text, std::string_view what);
std::string format_bytes(double bytes);    // "1.75 GB", "420 MB" (decimal units)
std::string format_params(double params);  // "308M", "9.24B"

// Weight per memory type; each defaults to medium (1), so the default score is LMEB's Mean (Type).
struct Priorities {
  std::array<double, kMemoryTypeCount> weights = {1, 1, 1, 1};
  double weight(MemoryType type) const { return weights[static_cast<int>(type)]; }
};
// "episodic=high,procedural=high,social=medium": levels none (0), low (0.5), medium (1), high (2),
// or a non-negative number. Types not named stay medium.
Priorities parse_priorities(std::string_view spec);
std::string describe(const Priorities& priorities);

enum class Device { Cpu, Gpu };
const char* to_string(Device device);  // "cpu" / "cuda"

// Size classes for the tier summary: CPU-only (< 1B parameters), consumer GPU (1B to < 6B),
// GPU server (6B and up).
enum class Tier { Cpu, ConsumerGpu, GpuServer };
const char* to_string(Tier tier);  // "cpu", "consumer-gpu", "gpu-server"
const char* describe(Tier tier);   // "CPU-only (<1B)", ...
Tier parse_tier(std::string_view name);
std::optional<Tier> tier_of(const ModelInfo& model);

struct MemoryEstimate {
  double bytes = 0;
  bool measured = false;  // peak RSS from `memembed bench`
  std::string basis;      // how it was computed, for the user
};
// Memory to run `model` on `device`: f32 weights on CPU, bf16 on GPU, plus activation and runtime
// overhead (docs/registry.md). nullopt when the parameter count is unknown and nothing was measured.
std::optional<MemoryEstimate> estimate_memory(const ModelInfo& model, Device device);

struct LatencyEstimate {
  double ms = 0;
  bool measured = false;  // this model was benchmarked; otherwise scaled from another model's bench
  std::string basis;
};

struct Request {
  std::optional<double> ram_bytes;
  std::optional<double> vram_bytes;
  bool cpu_only = false;
  std::optional<double> latency_ms;  // budget per query
  Priorities priorities;
  std::vector<std::string> languages;  // ISO codes; empty = any
  size_t top = 5;
};
// Throws InvalidInput for contradictions (--cpu-only with --vram) and out-of-range values.
void validate(const Request& request);

// ---- Recommendation -----------------------------------------------------------------------------

struct Candidate {
  ModelInfo model;
  Device device = Device::Cpu;
  std::string dtype;  // "f32" / "bf16"
  std::optional<MemoryEstimate> memory;
  std::optional<LatencyEstimate> latency;
  double score = 0;  // priority-weighted NDCG@10 x100 over the types with weight > 0
  std::array<std::optional<double>, kMemoryTypeCount> type_scores;  // under the chosen setting
  std::array<Instructions, kMemoryTypeCount> instructions{};        // chosen per memory type
  std::array<bool, kMemoryTypeCount> measured{};
  Instructions default_instructions = Instructions::Off;  // for queries spanning several types
  std::vector<std::string> reasons;
  std::vector<std::string> unknowns;
};

struct Exclusion {
  std::string model;
  std::string reason;
};

struct TierSummary {
  Tier tier = Tier::Cpu;
  std::optional<Candidate> best;          // best in this size class, whatever the budget
  std::optional<Candidate> best_fitting;  // best in this class that fits the request
  std::string note;
};

struct Recommendation {
  Request request;
  std::vector<Candidate> ranked;    // fit the request, scored, best first (all of them)
  std::vector<Candidate> unranked;  // fit, but lack evidence for a weighted memory type
  std::vector<Exclusion> excluded;
  std::vector<TierSummary> tiers;  // GPU server, consumer GPU, CPU-only
  std::vector<std::string> notes;
};

Recommendation recommend(const Registry& registry, const Request& request);
Json to_json(const Recommendation& recommendation);
Json to_json(const ModelInfo& model);

// ---- Embedder configuration ---------------------------------------------------------------------

// What `memembed serve` reads to embed memories and queries (docs/embedder-config.md).
struct EmbedderConfig {
  std::string provider = "local";  // "local" (memembed's engine) or "openai" (compatible endpoint)
  std::string model;               // Hugging Face id or local name
  std::optional<std::string> model_path;
  std::optional<std::string> endpoint;  // provider "openai"
  // Provider "openai": the bearer key (else $MEMEMBED_API_KEY). Never written back by to_json, so a
  // config printed or reported by the server does not show it.
  std::optional<std::string> api_key;
  Json client = Json::object();  // provider "openai": client settings (provider::remote_options_from_json)
  int dims = 0;
  std::string device = "cpu";  // "cpu" / "cuda"
  std::string dtype = "f32";   // "f32" / "bf16"
  std::string precision = "f32";  // local engine's linear layers: "f32" / "bf16" / "int8"
  std::string query_prompt;     // used when a category has no instruction
  std::string document_prompt;  // documents never get instructions
  std::string instruction_template = "Instruct: {instruction}\nQuery:";
  // EPISODIC, PROCEDURAL, SEMANTIC, SOCIAL and DEFAULT (queries spanning several categories or
  // none); nullopt = no instruction for that category.
  std::map<std::string, std::optional<std::string>> query_instructions;
  struct FineTune {
    bool enabled = false;
    std::optional<std::string> checkpoint_path;
    std::optional<std::string> base_model;
    std::optional<std::string> training_data_dir;
  } fine_tune;
  // Dense share of the memory store's BM25 + dense fusion (`memembed eval tune-fusion`,
  // `memembed memory calibrate`); nullopt = the store's calibrated weight, else 0.3.
  std::optional<double> fusion_weight;
  Json selection = Json::object();  // provenance written by `memembed recommend`
};

inline constexpr std::array<const char*, 5> kConfigCategories = {"EPISODIC", "PROCEDURAL", "SEMANTIC",
                                                                  "SOCIAL", "DEFAULT"};

// Throws InvalidInput when the candidate's model has no Hugging Face id or no known dims.
EmbedderConfig make_embedder_config(const Candidate& candidate, const Request& request);
Json to_json(const EmbedderConfig& config);
EmbedderConfig embedder_config_from_json(const Json& document, const std::string& where);
EmbedderConfig load_embedder_config(const std::filesystem::path& path);
void save_embedder_config(const std::filesystem::path& path, const EmbedderConfig& config);
// The text to embed for a query in `category` (one of kConfigCategories; unknown names use DEFAULT).
std::string format_query(const EmbedderConfig& config, std::string_view category,
                         std::string_view query);

}  // namespace memembed::select
