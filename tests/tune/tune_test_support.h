// Small document sets for the tune tests: English sentences over words the GloVe fixture knows,
// seeded, so a test corpus is the same everywhere.
#pragma once

#include "fixture_support.h"
#include "memembed/tune.h"

#include <random>
#include <string>
#include <vector>

namespace memembed::testing {

inline std::string make_sentence(std::mt19937_64& rng) {
  static const std::vector<std::string> subjects = {"the team", "our manager", "the customer", "alice", "the server",
                                                    "the new policy", "the database", "my family", "the doctor"};
  static const std::vector<std::string> verbs = {"changed", "reviewed", "moved", "paid", "fixed", "planned",
                                                 "cancelled", "opened", "closed", "visited"};
  static const std::vector<std::string> objects = {"the billing account", "a trip to paris", "the weekly meeting",
                                                   "the password rotation", "our garden", "the school concert",
                                                   "the kitchen", "a new car", "the budget report", "the music festival",
                                                   "the hospital visit", "the football game"};
  static const std::vector<std::string> times = {"on monday", "last week", "in the morning", "after lunch",
                                                 "before the holiday", "yesterday", "at night"};
  auto pick = [&](const std::vector<std::string>& words) { return words[rng() % words.size()]; };
  std::string sentence = pick(subjects) + " " + pick(verbs) + " " + pick(objects) + " " + pick(times) + ".";
  sentence[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(sentence[0])));
  return sentence;
}

// `files` markdown files of `paragraphs` paragraphs of three sentences each.
inline void write_documents(const std::filesystem::path& dir, size_t files, size_t paragraphs, uint64_t seed = 7) {
  std::mt19937_64 rng(seed);
  for (size_t f = 0; f < files; ++f) {
    std::string text = "# Notes " + std::to_string(f) + "\n\n";
    for (size_t p = 0; p < paragraphs; ++p) {
      text += make_sentence(rng) + " " + make_sentence(rng) + " " + make_sentence(rng) + "\n\n";
    }
    write_file(dir / ("note-" + std::to_string(f) + ".md"), text);
  }
}

// Documents under <dir>/docs, then `tune generate` into <dir>/data and <dir>/eval, and (when a
// model is given) `tune mine` with it.
inline void prepare_training_data(const std::filesystem::path& dir, size_t files, size_t paragraphs,
                                  const std::filesystem::path& mining_model = {}, size_t chunk_words = 200) {
  write_documents(dir / "docs", files, paragraphs);
  tune::GenerateOptions generate;
  generate.docs = {dir / "docs"};
  generate.data_dir = dir / "data";
  generate.eval_dir = dir / "eval";
  generate.chunking.max_words = chunk_words;
  tune::generate_training_data(generate);
  if (mining_model.empty()) return;
  tune::MineOptions mine;
  mine.data_dir = dir / "data";
  mine.base_model = mining_model;
  tune::mine_hard_negatives(mine);
}

}  // namespace memembed::testing
