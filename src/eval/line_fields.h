// Splitting and parsing the whitespace-separated fields of line-oriented text formats (TREC runs,
// qrels). Fields are views into the line, so parsing a million-line run allocates nothing per line.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace memembed::eval {

inline bool is_field_separator(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

inline void split_whitespace(std::string_view line, std::vector<std::string_view>& fields) {
  fields.clear();
  size_t i = 0;
  const size_t n = line.size();
  while (i < n) {
    while (i < n && is_field_separator(line[i])) ++i;
    if (i == n) break;
    const size_t start = i;
    while (i < n && !is_field_separator(line[i])) ++i;
    fields.push_back(line.substr(start, i - start));
  }
}

// Whole field must be an integer (an optional leading '+' is accepted, as Python's int() does).
inline bool parse_integer(std::string_view field, int64_t& value) {
  if (!field.empty() && field.front() == '+') field.remove_prefix(1);
  if (field.empty()) return false;
  const auto result = std::from_chars(field.data(), field.data() + field.size(), value);
  return result.ec == std::errc() && result.ptr == field.data() + field.size();
}

// Whole field must be a decimal or exponent number, inf or nan (as C's atof would read it).
inline bool parse_double(std::string_view field, double& value) {
  if (!field.empty() && field.front() == '+') field.remove_prefix(1);
  if (field.empty()) return false;
  const auto result = std::from_chars(field.data(), field.data() + field.size(), value);
  if (result.ptr != field.data() + field.size()) return false;
  if (result.ec == std::errc::result_out_of_range) {
    // atof saturates to +-inf or underflows to 0; from_chars reports the range error instead.
    value = std::strtod(std::string(field).c_str(), nullptr);
    return true;
  }
  return result.ec == std::errc();
}

}  // namespace memembed::eval
