// The files the tune stages hand to each other (in the run's data directory):
//   chunks.jsonl     {"id", "text", "source", "is_turn"}
//   train.jsonl      {"query_id", "query", "positive", "related": [chunk ids never used as negatives]}
//   negatives.jsonl  {"query_id", "query", "positive", "negatives": [chunk ids], "hard": n}
//                    (the first n negatives were mined, the rest are random fill)
#pragma once

#include "memembed/tune.h"

#include <string>
#include <vector>

namespace memembed::tune {

struct TrainingPair {
  std::string query_id;
  std::string query;
  std::string positive;
  std::vector<std::string> related;
};

struct MinedExample {
  std::string query_id;
  std::string query;
  std::string positive;
  std::vector<std::string> negatives;
  size_t hard = 0;
};

void write_chunks(const fs::path& path, const std::vector<Chunk>& chunks);
std::vector<Chunk> read_chunks(const fs::path& path);
void write_pairs(const fs::path& path, const std::vector<TrainingPair>& pairs);
std::vector<TrainingPair> read_pairs(const fs::path& path);
void write_mined(const fs::path& path, const std::vector<MinedExample>& examples);
std::vector<MinedExample> read_mined(const fs::path& path);

// Writes JSONL atomically (temp file + rename): a stage's output exists only when it is complete.
void write_jsonl(const fs::path& path, const std::vector<Json>& records);

}  // namespace memembed::tune
