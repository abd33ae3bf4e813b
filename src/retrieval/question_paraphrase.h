// Question-style paraphrases of a document's statements, for the self-supervised queries of
// tune_fusion_on_documents (see retrieval.h, QueryStyle::Question).
#pragma once

#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

struct sb_stemmer;

namespace memembed::retrieval {

// The inflections of a corpus's words, from the corpus's own vocabulary: forms with one Snowball
// (English) stem that differ only in an inflectional ending (group/groups, sign/signed/signing,
// get/getting), not a derivational one (good/goodness).
class InflectionForms {
 public:
  explicit InflectionForms(const std::vector<std::string>& documents);
  ~InflectionForms();
  // The corpus's other inflections of `word` (a lowercase BM25 token); empty when it has none.
  std::vector<std::string> of(const std::string& word) const;

 private:
  std::string stem(const std::string& word) const;
  std::unique_ptr<sb_stemmer, void (*)(sb_stemmer*)> stemmer_;
  std::unordered_map<std::string, std::vector<std::string>> forms_;  // stem -> forms seen
};

// Rewords one statement of a document the way a question about it is asked: "[...]" annotations
// (timestamps, image captions) and a leading "Name:" speaker tag are taken off the document, one
// statement (a sentence not ending in '?', of at least 4 words) is chosen, first-person words become
// the speaker's name (or are dropped when there is none), each content word is kept with
// probability `keep` (at least one is) and takes another of the corpus's inflections of it wherever
// there is one, and a question word leads ("When did Melanie sign pottery classes?" from
// "[1:36 pm on 3 July, 2023] Melanie: I just signed up for a pottery class yesterday.").
// `words` is the document split at whitespace. Empty when the statement has no content word.
std::string question_paraphrase(const std::vector<std::string>& words, const InflectionForms& forms, double keep,
                                 std::mt19937_64& random);

}  // namespace memembed::retrieval
