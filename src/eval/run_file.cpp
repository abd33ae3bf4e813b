#include "run_file.h"

#include "line_fields.h"
#include "memembed/error.h"
#include "memembed/json_io.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>

namespace memembed::eval {

namespace fs = std::filesystem;

namespace {

bool has_whitespace(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c == '\n' || is_field_separator(c); });
}

}  // namespace

TrecRun TrecRun::read(const fs::path& path) {
  TrecRun run;
  run.buffer_ = std::make_unique<std::string>(read_file(path));
  const std::string_view text(*run.buffer_);

  struct Entry {
    uint32_t query;
    uint32_t order;
    RunDoc doc;
  };
  std::vector<Entry> entries;
  entries.reserve(text.size() / 40 + 1);
  std::unordered_map<std::string_view, uint32_t> query_index;
  std::vector<std::string_view> fields;
  fields.reserve(8);

  size_t number = 0;
  size_t position = 0;
  while (position < text.size()) {
    const char* newline =
        static_cast<const char*>(std::memchr(text.data() + position, '\n', text.size() - position));
    const size_t line_end = newline ? static_cast<size_t>(newline - text.data()) : text.size();
    const std::string_view line = text.substr(position, line_end - position);
    position = line_end + 1;
    ++number;
    split_whitespace(line, fields);
    if (fields.empty()) continue;
    if (fields.size() != 6) {
      throw invalid_input("{}:{}: expected 6 fields (qid Q0 docid rank score tag), got {}",
                          path.string(), number, fields.size());
    }
    double score = 0.0;
    if (!parse_double(fields[4], score) || std::isnan(score)) {
      throw invalid_input("{}:{}: score (field 5) '{}' is not a number", path.string(), number,
                          fields[4]);
    }
    auto [it, inserted] =
        query_index.try_emplace(fields[0], static_cast<uint32_t>(run.query_ids_.size()));
    if (inserted) run.query_ids_.push_back(fields[0]);
    // trec_eval: sim = atof(field) stored in a float.
    entries.push_back(Entry{it->second, static_cast<uint32_t>(entries.size()),
                            RunDoc{fields[2], static_cast<float>(score)}});
  }
  run.lines_ = entries.size();

  // Group by query (counting sort keeps file order inside each query).
  const size_t nq = run.query_ids_.size();
  std::vector<size_t> counts(nq + 1, 0);
  for (const Entry& e : entries) ++counts[e.query + 1];
  for (size_t q = 0; q < nq; ++q) counts[q + 1] += counts[q];
  std::vector<Entry> grouped(entries.size());
  {
    std::vector<size_t> cursor(counts.begin(), counts.end() - 1);
    for (const Entry& e : entries) grouped[cursor[e.query]++] = e;
  }
  entries.clear();
  entries.shrink_to_fit();

  run.offsets_.assign(1, 0);
  run.docs_.reserve(grouped.size());
  for (size_t q = 0; q < nq; ++q) {
    auto first = grouped.begin() + static_cast<std::ptrdiff_t>(counts[q]);
    auto last = grouped.begin() + static_cast<std::ptrdiff_t>(counts[q + 1]);
    // Later lines first within a doc id: the first of each run of equal ids is the one that wins.
    std::sort(first, last, [](const Entry& a, const Entry& b) {
      if (a.doc.doc_id != b.doc.doc_id) return a.doc.doc_id < b.doc.doc_id;
      return a.order > b.order;
    });
    const size_t query_start = run.docs_.size();
    for (auto it = first; it != last; ++it) {
      if (run.docs_.size() > query_start && run.docs_.back().doc_id == it->doc.doc_id) {
        ++run.duplicates_;
        continue;
      }
      run.docs_.push_back(it->doc);
    }
    run.offsets_.push_back(run.docs_.size());
  }
  return run;
}

std::string format_score(float score) {
  // fmt prints the shortest representation that round-trips the float32 value.
  return fmt::format("{}", score);
}

void write_run_line(std::ostream& out, std::string_view query_id, std::string_view doc_id,
                    size_t rank, float score, std::string_view tag) {
  if (query_id.empty() || has_whitespace(query_id)) {
    throw invalid_input("run file: query id '{}' is empty or contains whitespace", query_id);
  }
  if (doc_id.empty() || has_whitespace(doc_id)) {
    throw invalid_input("run file: doc id '{}' is empty or contains whitespace", doc_id);
  }
  out << query_id << " Q0 " << doc_id << ' ' << rank << ' ' << format_score(score) << ' ' << tag
      << '\n';
}

}  // namespace memembed::eval
