#include "task_layout.h"

#include "memembed/memory_type.h"

#include <algorithm>
#include <cctype>

namespace memembed::eval {

namespace {

using CP = CorpusPlace;
using KP = CandidatesPlace;
using SR = SceneRule;
using IK = InstructionKey;

// Transcribed from LMEB@a02ae84: LocalRetrieval.load_data (corpus and subset folders),
// SubsetRetrieval._load_scene_docids_mapping / _filter_results_by_mapping (candidates and scenes),
// each task's origin_data_file, and STWrapper.get_instruction (instruction keys).
constexpr DatasetLayout kLayouts[] = {
    // Episodic
    {"EPBench", "EPBench", "Episodic", CP::SubsetParent, nullptr, KP::None, SR::Prefix, IK::LastComponent, nullptr},
    {"KnowMeBench", "KnowMeBench", "Episodic", CP::SubsetParent, nullptr, KP::None, SR::Prefix, IK::LastComponent, nullptr},
    // Dialogue
    {"LoCoMo", "LoCoMo", "Dialogue", CP::Dataset, nullptr, KP::Dataset, SR::Prefix, IK::Subset, nullptr},
    {"LongMemEval", "LongMemEval", "Dialogue", CP::Dataset, nullptr, KP::Dataset, SR::Prefix, IK::Subset, nullptr},
    {"REALTALK", "REALTALK", "Dialogue", CP::Dataset, nullptr, KP::Dataset, SR::Prefix, IK::Subset, nullptr},
    {"TMD", "TMD", "Dialogue", CP::Dataset, nullptr, KP::Dataset, SR::Prefix, IK::Subset, nullptr},
    {"MemBench", "MemBench", "Dialogue", CP::Subset, nullptr, KP::Subset, SR::Prefix, IK::Subset, nullptr},
    {"ConvoMem", "ConvoMem", "Dialogue", CP::Subset, nullptr, KP::Subset, SR::Prefix, IK::Subset, nullptr},
    // Semantic
    {"CovidQA", "Covid-QA", "Semantic", CP::Subset, "Covid-QA", KP::Dataset, SR::Exact, IK::Subset, nullptr},
    {"ESGReports", "ESG-Reports", "Semantic", CP::Subset, "ESG-Reports", KP::Dataset, SR::Exact, IK::Subset, nullptr},
    {"LMEB_SciFact", "SciFact", "Semantic", CP::Subset, "LMEB_SciFact", KP::None, SR::Exact, IK::Subset, nullptr},
    {"QASPER", "QASPER", "Semantic", CP::Subset, "QASPER", KP::Dataset, SR::Exact, IK::Subset, nullptr},
    {"PeerQA", "PeerQA", "Semantic", CP::Subset, "PeerQA", KP::Dataset, SR::Exact, IK::Subset, nullptr},
    {"MLDR", "MLDR", "Semantic", CP::Subset, "MLDR", KP::Dataset, SR::Exact, IK::Subset, nullptr},
    {"NovelQA", "NovelQA", "Semantic", CP::Dataset, nullptr, KP::Dataset, SR::Exact, IK::Subset, nullptr},
    {"LooGLE", "LooGLE", "Semantic", CP::Subset, nullptr, KP::Subset, SR::Exact, IK::Subset, nullptr},
    // Procedural
    {"ReMe", "ReMe", "Procedural", CP::SubsetParent, nullptr, KP::None, SR::Prefix, IK::LastComponent, nullptr},
    {"Proced_mem_bench", "Proced_mem_bench", "Procedural", CP::Dataset, nullptr, KP::None, SR::Prefix, IK::Subset, nullptr},
    {"MemGovern", "MemGovern", "Procedural", CP::Subset, nullptr, KP::None, SR::Prefix, IK::Fixed, "MemGovern"},
    {"DeepPlanning", "DeepPlanning", "Procedural", CP::Subset, nullptr, KP::Subset, SR::Exact, IK::Subset, nullptr},
    {"Gorilla", "Gorilla", "Procedural", CP::Subset, nullptr, KP::None, SR::Prefix, IK::Subset, nullptr},
    {"ToolBench", "ToolBench", "Procedural", CP::Subset, "ToolBench", KP::None, SR::Prefix, IK::Subset, nullptr},
};

}  // namespace

const DatasetLayout* find_layout(std::string_view name) {
  for (const DatasetLayout& layout : kLayouts) {
    if (name == layout.folder || name == layout.task_name) return &layout;
  }
  return nullptr;
}

std::string canonical_memory_type(std::string_view name) {
  const auto type = find_memory_type(name);
  return type ? lmeb_name(*type) : "";
}

std::string agent_memory_category(std::string_view memory_type) {
  for (const MemoryType type : kMemoryTypes) {
    if (memory_type == lmeb_name(type)) return category_name(type);
  }
  return "";
}

}  // namespace memembed::eval
