#include "qrels.h"

#include "memembed/error.h"
#include "memembed/json_io.h"
#include "line_fields.h"

#include <algorithm>
#include <fstream>

namespace memembed::eval {

namespace fs = std::filesystem;

namespace {

bool looks_like_header_field(std::string_view field) {
  std::string lower(field);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "score" || lower == "rel" || lower == "relevance" || lower == "label";
}

}  // namespace

Qrels Qrels::read(const fs::path& path) {
  std::ifstream in = open_for_read(path);
  Qrels qrels;
  qrels.source_ = path.string();
  std::string line;
  size_t number = 0;
  std::vector<std::string_view> fields;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    split_whitespace(line, fields);
    if (fields.empty()) continue;
    if (fields.size() != 3 && fields.size() != 4) {
      throw invalid_input(
          "{}:{}: expected 3 fields (query-id corpus-id score) or 4 (qid iter docid rel), got {}",
          path.string(), number, fields.size());
    }
    const std::string_view relevance_field = fields.back();
    int64_t relevance = 0;
    if (!parse_integer(relevance_field, relevance)) {
      if (qrels.lines_ == 0 && looks_like_header_field(relevance_field)) continue;  // BEIR header
      throw invalid_input("{}:{}: relevance '{}' is not an integer", path.string(), number,
                          relevance_field);
    }
    const std::string_view doc = fields.size() == 3 ? fields[1] : fields[2];
    qrels.add(std::string(fields[0]), std::string(doc), relevance);
  }
  qrels.finalize();
  return qrels;
}

void Qrels::add(const std::string& query_id, std::string doc_id, int64_t relevance) {
  auto [it, inserted] = index_.try_emplace(query_id, query_ids_.size());
  if (inserted) {
    query_ids_.push_back(query_id);
    pending_.emplace_back();
    judgments_.emplace_back();
  }
  pending_[it->second].push_back(Pending{std::move(doc_id), relevance, lines_++});
}

void Qrels::finalize() {
  for (size_t q = 0; q < pending_.size(); ++q) {
    auto& pending = pending_[q];
    if (pending.empty()) continue;
    // Judgments kept by an earlier finalize() are older than anything added since.
    for (auto& kept : judgments_[q]) pending.push_back(Pending{std::move(kept.doc_id), kept.relevance, 0});
    judgments_[q].clear();
    // Later lines first within a doc id, so the first of each run is the one that wins.
    std::sort(pending.begin(), pending.end(), [](const Pending& a, const Pending& b) {
      if (a.doc_id != b.doc_id) return a.doc_id < b.doc_id;
      return a.order > b.order;
    });
    auto& out = judgments_[q];
    for (size_t i = 0; i < pending.size(); ++i) {
      if (!out.empty() && out.back().doc_id == pending[i].doc_id) {
        ++duplicates_;
        continue;
      }
      out.push_back(Judgment{std::move(pending[i].doc_id), pending[i].relevance});
    }
    pending.clear();
    pending.shrink_to_fit();
  }
}

const std::vector<Judgment>* Qrels::find(const std::string& query_id) const {
  auto it = index_.find(query_id);
  return it == index_.end() ? nullptr : &judgments_[it->second];
}

}  // namespace memembed::eval
