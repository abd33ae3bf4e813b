#include "training_data.h"

#include "memembed/error.h"

#include <fstream>

namespace memembed::tune {

namespace {

std::vector<std::string> string_list(const Json& record, const char* field, const std::string& where) {
  const auto it = record.find(field);
  if (it == record.end()) return {};
  if (!it->is_array()) throw invalid_input("{}: \"{}\" must be a list of chunk ids", where, field);
  std::vector<std::string> values;
  for (const auto& value : *it) {
    if (!value.is_string()) throw invalid_input("{}: \"{}\" must be a list of chunk ids", where, field);
    values.push_back(value.get<std::string>());
  }
  return values;
}

}  // namespace

void write_jsonl(const fs::path& path, const std::vector<Json>& records) {
  const fs::path temporary = path.string() + ".tmp";
  {
    std::ofstream out = open_for_write(temporary);
    for (const Json& record : records) out << record.dump() << '\n';
    out.flush();
    if (!out) throw io_error("{}: write failed", temporary.string());
  }
  fs::rename(temporary, path);
}

void write_chunks(const fs::path& path, const std::vector<Chunk>& chunks) {
  std::vector<Json> records;
  records.reserve(chunks.size());
  for (const Chunk& chunk : chunks) {
    records.push_back({{"id", chunk.id}, {"text", chunk.text}, {"source", chunk.source}, {"is_turn", chunk.is_turn}});
  }
  write_jsonl(path, records);
}

std::vector<Chunk> read_chunks(const fs::path& path) {
  std::vector<Chunk> chunks;
  for_each_jsonl(path, [&](const Json& record, size_t line) {
    const std::string where = fmt::format("{}:{}", path.string(), line);
    chunks.push_back({require_string(record, "id", where), require_string(record, "text", where),
                      optional_string(record, "source", where).value_or(""), record.value("is_turn", false)});
  });
  return chunks;
}

void write_pairs(const fs::path& path, const std::vector<TrainingPair>& pairs) {
  std::vector<Json> records;
  records.reserve(pairs.size());
  for (const TrainingPair& pair : pairs) {
    records.push_back({{"query_id", pair.query_id}, {"query", pair.query}, {"positive", pair.positive},
                       {"related", pair.related}});
  }
  write_jsonl(path, records);
}

std::vector<TrainingPair> read_pairs(const fs::path& path) {
  std::vector<TrainingPair> pairs;
  for_each_jsonl(path, [&](const Json& record, size_t line) {
    const std::string where = fmt::format("{}:{}", path.string(), line);
    pairs.push_back({require_string(record, "query_id", where), require_string(record, "query", where),
                     require_string(record, "positive", where), string_list(record, "related", where)});
  });
  return pairs;
}

void write_mined(const fs::path& path, const std::vector<MinedExample>& examples) {
  std::vector<Json> records;
  records.reserve(examples.size());
  for (const MinedExample& example : examples) {
    records.push_back({{"query_id", example.query_id}, {"query", example.query}, {"positive", example.positive},
                       {"negatives", example.negatives}, {"hard", example.hard}});
  }
  write_jsonl(path, records);
}

std::vector<MinedExample> read_mined(const fs::path& path) {
  std::vector<MinedExample> examples;
  for_each_jsonl(path, [&](const Json& record, size_t line) {
    const std::string where = fmt::format("{}:{}", path.string(), line);
    MinedExample example{require_string(record, "query_id", where), require_string(record, "query", where),
                         require_string(record, "positive", where), string_list(record, "negatives", where), 0};
    example.hard = static_cast<size_t>(require_number(record, "hard", where));
    examples.push_back(std::move(example));
  });
  return examples;
}

}  // namespace memembed::tune
