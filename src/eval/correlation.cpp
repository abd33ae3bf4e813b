#include "correlation.h"

#include "csv_table.h"
#include "line_fields.h"
#include "memembed/error.h"
#include "memembed/eval.h"
#include "memembed/json_io.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

namespace memembed::eval {

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) throw invalid_input("correlation: {} vs {} values", x.size(), y.size());
  if (x.size() < 2) throw invalid_input("correlation: need at least 2 pairs, got {}", x.size());
  const double n = static_cast<double>(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx == 0 || syy == 0) throw invalid_input("correlation: one side is constant, correlation is undefined");
  return sxy / std::sqrt(sxx * syy);
}

std::vector<double> average_ranks(const std::vector<double>& values) {
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(values.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && values[order[j + 1]] == values[order[i]]) ++j;
    const double rank = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = rank;
    i = j + 1;
  }
  return ranks;
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  return pearson(average_ranks(x), average_ranks(y));
}

namespace {

struct Filter {
  size_t column;
  std::string value;
};

std::vector<Filter> parse_filters(const CsvTable& table, const std::vector<std::string>& specs) {
  std::vector<Filter> filters;
  for (const std::string& spec : specs) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw invalid_input("correlate: filter '{}' must look like column=value", spec);
    }
    filters.push_back({table.require_column(spec.substr(0, eq)), spec.substr(eq + 1)});
  }
  return filters;
}

// key -> value of `column` over the rows passing `filters`; rows with an empty cell are skipped.
std::map<std::string, double> column_values(const CsvTable& table, const std::string& key,
                                            const std::string& column,
                                            const std::vector<std::string>& where) {
  const size_t key_column = table.require_column(key);
  const size_t value_column = table.require_column(column);
  const auto filters = parse_filters(table, where);
  std::map<std::string, double> values;
  std::map<std::string, size_t> first_line;
  for (size_t r = 0; r < table.rows().size(); ++r) {
    const auto& row = table.rows()[r];
    const size_t line = table.row_lines()[r];
    if (!std::all_of(filters.begin(), filters.end(),
                     [&](const Filter& f) { return row[f.column] == f.value; })) {
      continue;
    }
    if (row[value_column].empty()) continue;
    double value = 0;
    if (!parse_double(row[value_column], value) || !std::isfinite(value)) {
      throw invalid_input("{}:{}: column \"{}\" value '{}' is not a number", table.source(), line,
                          column, row[value_column]);
    }
    auto [it, inserted] = first_line.emplace(row[key_column], line);
    if (!inserted) {
      throw invalid_input(
          "{}:{}: key \"{}\" (column \"{}\") already appeared on line {}; add a filter such as "
          "--a-where setting=wo_inst to pick one row per key",
          table.source(), line, row[key_column], key, it->second);
    }
    values[row[key_column]] = value;
  }
  return values;
}

}  // namespace

CommandOutput correlate_files(const CorrelateOptions& options) {
  if (options.a_column.empty() || options.b_column.empty()) {
    throw invalid_input("correlate: --a-column and --b-column are required");
  }
  const CsvTable a = CsvTable::read(options.a);
  const CsvTable b = options.b.empty() ? a : CsvTable::read(options.b);
  const auto va = column_values(a, options.key, options.a_column, options.a_where);
  const auto vb = column_values(b, options.key, options.b_column, options.b_where);
  std::vector<double> x, y;
  std::vector<std::string> keys, only_a, only_b;
  for (const auto& [key, value] : va) {
    auto it = vb.find(key);
    if (it == vb.end()) {
      only_a.push_back(key);
      continue;
    }
    keys.push_back(key);
    x.push_back(value);
    y.push_back(it->second);
  }
  for (const auto& [key, value] : vb) {
    if (!va.count(key)) only_b.push_back(key);
  }
  if (x.size() < 3) {
    throw invalid_input("correlate: only {} rows match on \"{}\" between {} and {} (need 3)",
                        x.size(), options.key, a.source(), b.source());
  }
  const double r = pearson(x, y);
  const double rho = spearman(x, y);
  CommandOutput output;
  if (!only_a.empty()) {
    output.warnings.push_back(fmt::format("{} keys only in A ({}): {}", only_a.size(), a.source(),
                                          fmt::join(only_a, ", ")));
  }
  if (!only_b.empty()) {
    output.warnings.push_back(fmt::format("{} keys only in B ({}): {}", only_b.size(), b.source(),
                                          fmt::join(only_b, ", ")));
  }
  if (options.json) {
    Json json = {{"n", x.size()},
                 {"pearson", r},
                 {"spearman", rho},
                 {"a", {{"file", a.source()}, {"column", options.a_column}}},
                 {"b", {{"file", b.source()}, {"column", options.b_column}}},
                 {"key", options.key},
                 {"keys", keys}};
    output.text = json.dump(2) + "\n";
  } else {
    output.text = fmt::format("n\t{}\npearson\t{:.4f}\nspearman\t{:.4f}\n", x.size(), r, rho);
  }
  return output;
}

}  // namespace memembed::eval
