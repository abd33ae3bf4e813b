#include "published_scores.h"

#include "csv_table.h"
#include "line_fields.h"
#include "memembed/error.h"
#include "memembed/memory_type.h"

namespace memembed::eval {

extern const char* const kPublishedScoresCsv;

PublishedScores load_published_scores(const std::filesystem::path& path) {
  const CsvTable table = path.empty()
                             ? CsvTable::parse(kPublishedScoresCsv, "built-in lmeb_published_scores.csv")
                             : CsvTable::read(path);
  PublishedScores scores;
  scores.source = table.source();
  const size_t setting = table.require_column("setting");
  const size_t model = table.require_column("model");
  const auto size = table.column("size");
  const auto dim = table.column("dim");
  for (size_t r = 0; r < table.rows().size(); ++r) {
    const auto& row = table.rows()[r];
    PublishedRow out;
    out.setting = row[setting];
    out.model = row[model];
    if (size) out.size = row[*size];
    if (dim) out.dim = row[*dim];
    for (size_t c = 0; c < row.size(); ++c) {
      if (c == setting || c == model || (size && c == *size) || (dim && c == *dim)) continue;
      if (row[c].empty()) continue;
      double value = 0;
      if (!parse_double(row[c], value)) {
        throw invalid_input("{}:{}: column \"{}\" value '{}' is not a number", table.source(),
                            table.row_lines()[r], table.header()[c], row[c]);
      }
      out.values[table.header()[c]] = value;
    }
    scores.rows.push_back(std::move(out));
  }
  return scores;
}

std::string published_type_prefix(const std::string& memory_type) {
  for (const MemoryType type : kMemoryTypes) {
    if (memory_type == lmeb_name(type)) return short_name(type);
  }
  return "";
}

std::string published_setting(const std::string& instructions) {
  return instructions == "on" ? "w_inst" : "wo_inst";
}

}  // namespace memembed::eval
