#include "csv_table.h"

#include "memembed/error.h"
#include "memembed/json_io.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace memembed::eval {

namespace fs = std::filesystem;

CsvTable CsvTable::read(const fs::path& path) { return parse(read_file(path), path.string()); }

CsvTable CsvTable::parse(std::string_view text, const std::string& source) {
  CsvTable table;
  table.source_ = source;
  size_t i = 0;
  size_t line = 1;
  bool have_header = false;
  while (i < text.size()) {
    const size_t record_line = line;
    // Comment and blank lines before the header, blank lines anywhere.
    if (text[i] == '\n' || text[i] == '\r' || (!have_header && text[i] == '#')) {
      while (i < text.size() && text[i] != '\n') ++i;
      if (i < text.size()) ++i;
      ++line;
      continue;
    }
    std::vector<std::string> fields;
    std::string field;
    bool quoted = false;
    bool end_of_record = false;
    while (!end_of_record) {
      if (i >= text.size()) {
        if (quoted) throw invalid_input("{}:{}: unterminated quoted field", source, record_line);
        end_of_record = true;
        break;
      }
      const char c = text[i++];
      if (quoted) {
        if (c == '"') {
          if (i < text.size() && text[i] == '"') {
            field += '"';
            ++i;
          } else {
            quoted = false;
          }
        } else {
          if (c == '\n') ++line;
          field += c;
        }
      } else if (c == '"' && field.empty()) {
        quoted = true;
      } else if (c == ',') {
        fields.push_back(std::move(field));
        field.clear();
      } else if (c == '\n') {
        ++line;
        end_of_record = true;
      } else if (c != '\r') {
        field += c;
      }
    }
    fields.push_back(std::move(field));
    if (!have_header) {
      table.header_ = std::move(fields);
      have_header = true;
      continue;
    }
    if (fields.size() != table.header_.size()) {
      throw invalid_input("{}:{}: {} fields, but the header has {}", source, record_line,
                          fields.size(), table.header_.size());
    }
    table.rows_.push_back(std::move(fields));
    table.row_lines_.push_back(record_line);
  }
  if (!have_header) throw invalid_input("{}: no header line", source);
  return table;
}

std::optional<size_t> CsvTable::column(std::string_view name) const {
  for (size_t i = 0; i < header_.size(); ++i) {
    if (header_[i] == name) return i;
  }
  return std::nullopt;
}

size_t CsvTable::require_column(std::string_view name) const {
  if (auto c = column(name)) return *c;
  throw invalid_input("{}: no column \"{}\" (columns: {})", source_, name, fmt::join(header_, ", "));
}

std::string csv_field(std::string_view value) {
  if (value.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace memembed::eval
