// TREC run files: `qid Q0 docid rank score tag`, one retrieved document per line.
//
// Reading follows trec_eval 9.0.8: the rank column is ignored, the score is read as a C double
// (atof) and stored as a float, so scores equal in float32 tie. A document listed twice for a
// query keeps its last line (MTEB's results are dicts; trec_eval refuses duplicates).
// Writing uses the shortest decimal that reads back as the same float32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace memembed::eval {

struct RunDoc {
  std::string_view doc_id;  // points into TrecRun's buffer
  float score = 0.0f;
};

class TrecRun {
 public:
  // Throws NotFound / InvalidInput (file:line and the field that is wrong).
  static TrecRun read(const std::filesystem::path& path);

  size_t num_queries() const { return query_ids_.size(); }
  std::string_view query_id(size_t q) const { return query_ids_[q]; }
  // The de-duplicated documents of query q, sorted by doc id (byte order).
  const RunDoc* begin(size_t q) const { return docs_.data() + offsets_[q]; }
  const RunDoc* end(size_t q) const { return docs_.data() + offsets_[q + 1]; }
  size_t size(size_t q) const { return offsets_[q + 1] - offsets_[q]; }

  size_t lines() const { return lines_; }
  size_t duplicates() const { return duplicates_; }

 private:
  // Heap-held so the views stay valid when a TrecRun is moved (a short std::string would move inline).
  std::unique_ptr<std::string> buffer_;
  std::vector<std::string_view> query_ids_;  // first-seen order
  std::vector<size_t> offsets_;
  std::vector<RunDoc> docs_;
  size_t lines_ = 0;
  size_t duplicates_ = 0;
};

// Shortest decimal text that parses back to exactly `score` as a float32.
std::string format_score(float score);

// Writes one run line; ids must not contain whitespace (InvalidInput otherwise).
void write_run_line(std::ostream& out, std::string_view query_id, std::string_view doc_id,
                    size_t rank, float score, std::string_view tag);

}  // namespace memembed::eval
