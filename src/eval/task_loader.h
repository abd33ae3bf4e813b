// Finding tasks on disk and loading them.
//
// discover_subsets() turns whatever path the user gave (a whole LMEB tree, a memory-type folder, a
// dataset, a subset folder, a BEIR folder) into subsets with every file resolved, following LMEB's
// per-dataset rules (task_layout.h) and general rules for datasets it does not know. Loading reads
// the files with errors that name file, line and field, and reduces the qrels to what retrieval
// and the measures need.
#pragma once

#include "metrics.h"
#include "qrels.h"
#include "task_layout.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace memembed::eval {

struct SubsetSpec {
  std::string memory_type;  // Episodic | Dialogue | Semantic | Procedural, or the given/"Other"
  std::string dataset;      // LMEB task name (folder name for unknown datasets)
  std::string subset;       // "single_hop", "bfcl_qwen3_8b/task_query", "default" (BEIR)
  std::filesystem::path dataset_dir;
  std::filesystem::path subset_dir;
  std::filesystem::path queries;
  std::filesystem::path qrels;
  std::filesystem::path corpus;
  std::filesystem::path candidates;  // empty: rank against the whole corpus
  SceneRule scene_rule = SceneRule::Auto;
  std::string instruction_task;      // key in task_instructions.json
  std::vector<std::string> instruction_subset_keys;  // keys to try, in order
  std::vector<std::string> notes;    // layout decisions worth telling the user
};

struct DiscoveryOptions {
  std::string split = "test";  // BEIR qrels/<split>.tsv
  std::string memory_type;     // overrides the type found in the path
};

// Throws NotFound when `root` does not exist or holds no queries.jsonl, and NotFound naming the
// paths tried when a subset's qrels or corpus cannot be found.
std::vector<SubsetSpec> discover_subsets(const std::filesystem::path& root,
                                         const DiscoveryOptions& options);

struct Corpus {
  std::filesystem::path path;
  std::vector<std::string> ids;
  std::vector<std::string> texts;  // (title + " " + text).strip()
  std::unordered_map<std::string, uint32_t> index;
  size_t duplicates = 0;           // lines whose id appeared before (the last text is kept)
};

// Reads corpus.jsonl: {"id" (or "_id"): str|int, "title": str|null, "text": str|null}.
std::shared_ptr<const Corpus> load_corpus(const std::filesystem::path& path);

struct Queries {
  std::vector<std::string> ids;
  std::vector<std::string> texts;
  size_t duplicates = 0;
};

// Reads queries.jsonl: {"id" (or "_id"): str|int, "text": str}.
Queries load_queries(const std::filesystem::path& path);

// scene_id -> indices of its candidate documents in `corpus` (unknown doc ids are dropped and
// counted in `unknown_docs`).
struct Candidates {
  std::unordered_map<std::string, std::vector<uint32_t>> scenes;
  size_t unknown_docs = 0;
};

Candidates load_candidates(const std::filesystem::path& path, const Corpus& corpus);

// The scene of a query under `rule`, or nullptr when none matches (the query then keeps its
// whole-corpus ranking, as in LMEB).
const std::vector<uint32_t>* find_scene(const Candidates& candidates, const std::string& query_id,
                                        SceneRule rule);

// task_instructions.json: {"<Task>": {"<subset key>": "<instruction>"}}.
class InstructionTable {
 public:
  static InstructionTable load(const std::filesystem::path& path);
  // The nearest task_instructions.json in `dir` or its ancestors; nullopt when there is none.
  static std::optional<std::filesystem::path> find_near(const std::filesystem::path& dir);

  // The instruction for the first key that exists; throws InvalidInput naming the file, the task
  // and the keys tried when there is none.
  std::string lookup(const std::string& task, const std::vector<std::string>& subset_keys) const;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::map<std::string, std::map<std::string, std::string>> table_;
};

// LMEB's query with instruction: "Instruct: {instruction}\nQuery:" + query; an instruction that is
// empty after stripping adds nothing.
std::string apply_instruction(const std::string& instruction, const std::string& query);

// Everything one subset needs for retrieval and measures.
struct LoadedSubset {
  std::shared_ptr<const Corpus> corpus;
  Queries queries;                   // the evaluated queries: those with qrels, file order
  std::vector<Judgments> judgments;  // per evaluated query
  // Per evaluated query: (corpus index, relevance) of its judged documents present in the corpus.
  std::vector<std::vector<std::pair<uint32_t, int64_t>>> judged_docs;
  // Per evaluated query: its scene's candidates, or nullptr for the whole corpus.
  std::vector<const std::vector<uint32_t>*> candidates;
  std::shared_ptr<const Candidates> candidate_table;
  Qrels qrels;                       // de-duplicated, restricted to evaluated queries
  std::vector<std::string> warnings;
};

// Caches corpora and candidate tables by path, so subsets sharing a dataset-level corpus read it once.
class TaskLoader {
 public:
  LoadedSubset load(const SubsetSpec& spec);

 private:
  std::map<std::filesystem::path, std::shared_ptr<const Corpus>> corpora_;
  std::map<std::filesystem::path, std::shared_ptr<const Candidates>> candidates_;
};

}  // namespace memembed::eval
