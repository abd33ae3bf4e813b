// The LMEB paper's published results (Tables 2 and 3: per memory type and overall, NDCG@10 and
// R@10 x100, without and with instructions, 15 models), shown beside the user's models.
// Source and citation: data/lmeb_published_scores.csv (compiled in; --published overrides).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace memembed::eval {

struct PublishedRow {
  std::string setting;  // "wo_inst" | "w_inst"
  std::string model;
  std::string size;
  std::string dim;
  std::map<std::string, double> values;  // column name (epi_n10, meanType_r10, ...) -> x100 value
};

struct PublishedScores {
  std::string source;
  std::vector<PublishedRow> rows;
};

// Built-in table when `path` is empty. Throws InvalidInput (file:line) for a malformed table.
PublishedScores load_published_scores(const std::filesystem::path& path = {});

// "epi" / "dia" / "sem" / "pro" for a memory type; empty for others.
std::string published_type_prefix(const std::string& memory_type);
// "wo_inst" for "off", "w_inst" for "on".
std::string published_setting(const std::string& instructions);

}  // namespace memembed::eval
