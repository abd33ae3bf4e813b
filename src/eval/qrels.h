// Relevance judgments (qrels) read from the formats people have:
//   LMEB / BEIR:  query-id <TAB> corpus-id <TAB> score     (BEIR files start with that header line)
//   TREC:         qid iter docid rel                        (trec_eval's qrels format)
// Fields are separated by tabs or spaces (ids never contain whitespace). Relevance must be an
// integer. A (query, doc) pair given twice keeps its last value, as LMEB's loader and every
// dict-based tool (pytrec_eval, MTEB) do; trec_eval itself refuses such files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

namespace memembed::eval {

struct Judgment {
  std::string doc_id;
  int64_t relevance = 0;
};

class Qrels {
 public:
  // Throws NotFound / InvalidInput (file:line: what is wrong with which field).
  static Qrels read(const std::filesystem::path& path);

  // Adds a judgment; a later one for the same (query, doc) replaces the earlier.
  void add(const std::string& query_id, std::string doc_id, int64_t relevance);
  // Sorts each query's judgments by doc id and applies last-wins de-duplication. Call once after
  // the last add(); read() does.
  void finalize();

  // Query ids in the order they first appear in the file.
  const std::vector<std::string>& query_ids() const { return query_ids_; }
  // Judgments of a query sorted by doc id (byte order), or nullptr when the query has none.
  const std::vector<Judgment>* find(const std::string& query_id) const;
  const std::vector<Judgment>& judgments(size_t query_index) const { return judgments_[query_index]; }

  size_t lines() const { return lines_; }                  // judgment lines read
  size_t duplicates() const { return duplicates_; }        // lines replaced by a later one
  std::string source() const { return source_; }

 private:
  struct Pending {
    std::string doc_id;
    int64_t relevance;
    size_t order;
  };
  std::vector<std::string> query_ids_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<std::vector<Judgment>> judgments_;
  std::vector<std::vector<Pending>> pending_;
  size_t lines_ = 0;
  size_t duplicates_ = 0;
  std::string source_;
};

}  // namespace memembed::eval
