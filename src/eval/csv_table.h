// Small CSV reading and writing (RFC 4180 quoting) for summary.csv, the published-score table and
// `eval correlate` inputs. Lines starting with '#' before the header are comments (the published
// table cites its source there).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace memembed::eval {

class CsvTable {
 public:
  // Throws NotFound / InvalidInput (file:line when a row's field count differs from the header's,
  // or a quote is not closed).
  static CsvTable read(const std::filesystem::path& path);
  static CsvTable parse(std::string_view text, const std::string& source);

  const std::vector<std::string>& header() const { return header_; }
  const std::vector<std::vector<std::string>>& rows() const { return rows_; }
  const std::vector<size_t>& row_lines() const { return row_lines_; }
  std::optional<size_t> column(std::string_view name) const;
  // Throws InvalidInput naming the file and the columns it has.
  size_t require_column(std::string_view name) const;
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<size_t> row_lines_;
};

// Quotes a field when it holds a comma, quote or line break.
std::string csv_field(std::string_view value);

}  // namespace memembed::eval
