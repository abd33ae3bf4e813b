// One subset's result on disk: an MTEB-TaskResult-like JSON file per subset and instruction
// setting, at <out>/results/<off|on>/<MemoryType>/<Dataset>/<subset, '/' -> '__'>.json.
//
// scores.test[0] holds the values MTEB would store (rounded as mteb rounds them); the unrounded
// means are kept under memembed.unrounded so summary.csv can be rebuilt from the files alone.
#pragma once

#include "memembed/eval.h"
#include "memembed/json_io.h"

#include <filesystem>
#include <string>
#include <vector>

namespace memembed::eval {

struct ResultMetadata {
  std::string model_name;
  std::string model_revision;
  std::string retriever_settings;
  std::vector<int> cutoffs;
  size_t num_queries = 0;
  size_t corpus_size = 0;
};

std::filesystem::path task_result_path(const std::filesystem::path& out, const SubsetResult& result);

// `stored` = MTEB-stored values by MTEB name (rounded), `result.scores` = unrounded.
Json make_task_result(const SubsetResult& result, const ResultMetadata& metadata,
                      const std::map<std::string, std::optional<double>>& stored);

struct StoredResult {
  SubsetResult result;
  ResultMetadata metadata;
};

// Throws InvalidInput naming the file and field when it is not one of ours.
StoredResult read_task_result(const std::filesystem::path& path);

// Every result file under <out>/results.
std::vector<StoredResult> read_all_task_results(const std::filesystem::path& out);

}  // namespace memembed::eval
