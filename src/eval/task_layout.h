// Where LMEB keeps each dataset's files, as data.
//
// LMEB's loaders (KaLM-Embedding/LMEB src/abstasks/LocalRetrieval.py + SubsetRetrieval.py) hard-code
// per task name where the corpus lives, whether a candidates file restricts each query to a scene,
// where that file lives, and how a query id maps to its scene. This table transcribes those rules;
// datasets it does not know get the general rules in task_loader.cpp (nearest file upwards, scene
// by exact query id or by LMEB's two-part prefix).
#pragma once

#include <string>
#include <string_view>

namespace memembed::eval {

enum class CorpusPlace {
  Dataset,       // <Dataset>/corpus.jsonl, shared by every subset
  SubsetParent,  // the folder above the subset folder (EPBench, KnowMeBench, ReMe workspaces)
  Subset,        // the subset folder itself
};

enum class CandidatesPlace { None, Dataset, Subset };

enum class SceneRule {
  Prefix,  // scene_id == "_".join(query_id.split("_")[:2])   (conv_26_q82 -> conv_26)
  Exact,   // scene_id == query_id
  Auto,    // unknown dataset: exact match first, else the prefix rule
};

enum class InstructionKey {
  Subset,         // task_instructions[task][subset name]
  LastComponent,  // task_instructions[task][last '/'-part of the subset name]
  Fixed,          // task_instructions[task][fixed_key]
};

struct DatasetLayout {
  const char* task_name;    // LMEB's task name (MTEB task_name, key in task_instructions.json)
  const char* folder;       // the dataset folder in LMEB's tree
  const char* memory_type;  // Episodic | Dialogue | Semantic | Procedural
  CorpusPlace corpus;
  const char* single_subset;  // non-null: the dataset folder is the subset folder, with this name
  CandidatesPlace candidates;
  SceneRule scene;
  InstructionKey instruction_key;
  const char* fixed_key;      // for InstructionKey::Fixed
};

// The layout of a dataset folder named `name` (its folder name or its LMEB task name), or nullptr.
const DatasetLayout* find_layout(std::string_view name);

// "Episodic", "Dialogue", "Semantic" or "Procedural" for a folder name matching one of them
// case-insensitively; empty otherwise.
std::string canonical_memory_type(std::string_view name);

// Agent-memory category of an LMEB memory type (EPISODIC, PROCEDURAL, SEMANTIC, SOCIAL=Dialogue).
std::string agent_memory_category(std::string_view memory_type);

}  // namespace memembed::eval
