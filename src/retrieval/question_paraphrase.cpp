#include "question_paraphrase.h"

#include "memembed/retrieval.h"
#include "word_spans.h"

#include <libstemmer.h>

#include <cctype>
#include <string_view>
#include <unordered_set>

namespace memembed::retrieval {

namespace {

// A word without its English inflectional ending (moving -> mov, move -> mov, studies -> stud).
std::string without_ending(const std::string& word) {
  static constexpr std::string_view kEndings[] = {"ies", "ied", "ing", "ed", "es", "s", "e", "y", "d"};
  for (std::string_view ending : kEndings) {
    if (word.size() >= ending.size() + 3 && std::string_view(word).substr(word.size() - ending.size()) == ending) {
      return word.substr(0, word.size() - ending.size());
    }
  }
  return word;
}

// Two forms of one stem are inflections of each other when, without their endings, they are equal
// or differ by a doubled final consonant (get/getting).
bool inflections_of_each_other(const std::string& a, const std::string& b) {
  std::string x = without_ending(a), y = without_ending(b);
  if (x.size() < y.size()) std::swap(x, y);
  return x == y || (x.size() == y.size() + 1 && x.compare(0, y.size(), y) == 0 && x.back() == y.back());
}

std::string lowercase_ascii(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Punctuation around a word, apostrophes inside it kept ("I'm," -> "I'm").
std::string core_of(const std::string& word) {
  size_t begin = 0, end = word.size();
  while (begin < end && std::ispunct(static_cast<unsigned char>(word[begin]))) ++begin;
  while (end > begin && std::ispunct(static_cast<unsigned char>(word[end - 1]))) --end;
  return word.substr(begin, end - begin);
}

// The document without "[...]" annotations (timestamps, image captions) and without a leading
// "Name:" speaker tag, which goes to `speaker`.
std::vector<std::string> body_of(const std::vector<std::string>& words, std::string& speaker) {
  std::vector<std::string> body;
  bool inside = false;
  for (const std::string& w : words) {
    if (!inside && w.front() == '[') inside = true;
    if (inside) {
      inside = w.back() != ']';
      continue;
    }
    body.push_back(w);
  }
  speaker.clear();
  if (!body.empty() && body.front().size() > 1 && body.front().back() == ':' &&
      std::isupper(static_cast<unsigned char>(body.front().front()))) {
    speaker = body.front().substr(0, body.front().size() - 1);
    body.erase(body.begin());
  }
  return body;
}

enum class Person { None, Subject, Possessive };

Person first_person(const std::string& lower) {
  static const std::unordered_set<std::string> subject = {"i", "me", "myself", "i'm", "i've", "i'd", "i'll", "we", "us",
                                                          "i\u2019m", "i\u2019ve", "i\u2019d", "i\u2019ll"};
  static const std::unordered_set<std::string> possessive = {"my", "mine", "our"};
  if (subject.count(lower)) return Person::Subject;
  if (possessive.count(lower)) return Person::Possessive;
  return Person::None;
}

}  // namespace

InflectionForms::InflectionForms(const std::vector<std::string>& documents)
    : stemmer_(sb_stemmer_new("english", nullptr), sb_stemmer_delete) {
  if (!stemmer_) throw std::runtime_error("libstemmer: no English stemmer");
  std::unordered_set<std::string> seen;
  for (const std::string& doc : documents) {
    for (std::string& token : bm25_tokenize(doc)) {
      if (seen.insert(token).second) forms_[stem(token)].push_back(std::move(token));
    }
  }
}

InflectionForms::~InflectionForms() = default;

std::string InflectionForms::stem(const std::string& word) const {
  const sb_symbol* s =
      sb_stemmer_stem(stemmer_.get(), reinterpret_cast<const sb_symbol*>(word.data()), static_cast<int>(word.size()));
  return std::string(reinterpret_cast<const char*>(s), static_cast<size_t>(sb_stemmer_length(stemmer_.get())));
}

std::vector<std::string> InflectionForms::of(const std::string& word) const {
  std::vector<std::string> out;
  auto it = forms_.find(stem(word));
  if (it == forms_.end()) return out;
  for (const std::string& form : it->second) {
    if (form != word && inflections_of_each_other(form, word)) out.push_back(form);
  }
  return out;
}

std::string question_paraphrase(const std::vector<std::string>& words, const InflectionForms& forms, double keep,
                                 std::mt19937_64& random) {
  std::string speaker;
  const std::vector<std::string> body = body_of(words, speaker);
  std::vector<Span> statements;
  for (const Span& s : sentences(body)) {
    if (body[s.second - 1].back() != '?') statements.push_back(s);
  }
  const Span statement = statements.empty()
                             ? Span{0, body.size()}
                             : statements[std::uniform_int_distribution<size_t>(0, statements.size() - 1)(random)];
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  // Each word of the statement as the question has it; content words may be left out.
  struct Word {
    std::string text;
    bool content = false, kept = true;
  };
  std::vector<Word> rewritten;
  for (size_t i = statement.first; i < statement.second; ++i) {
    const std::string core = core_of(body[i]);
    if (core.empty()) continue;
    const std::string lower = lowercase_ascii(core);
    switch (first_person(lower)) {
      case Person::Subject:
        if (!speaker.empty()) rewritten.push_back({speaker});
        continue;
      case Person::Possessive:
        if (!speaker.empty()) rewritten.push_back({speaker + "'s"});
        continue;
      case Person::None:
        break;
    }
    const std::vector<std::string> tokens = bm25_tokenize(core);
    if (tokens.size() != 1 || tokens[0] != lower) {  // a stopword, a name, a number with a unit...
      rewritten.push_back({core});
      continue;
    }
    // The question's grammar puts a content word in a form of its own (did ... go, Caroline
    // loves, which group); without a grammar, any other form the corpus has stands for it.
    const std::vector<std::string> inflections = forms.of(lower);
    Word w{inflections.empty() ? core : inflections[std::uniform_int_distribution<size_t>(0, inflections.size() - 1)(random)],
           true, unit(random) < keep};
    rewritten.push_back(std::move(w));
  }
  std::vector<size_t> content;
  bool any_kept = false;
  for (size_t i = 0; i < rewritten.size(); ++i) {
    if (rewritten[i].content) content.push_back(i), any_kept |= rewritten[i].kept;
  }
  if (content.empty()) return {};
  if (!any_kept) rewritten[content[std::uniform_int_distribution<size_t>(0, content.size() - 1)(random)]].kept = true;
  static constexpr std::string_view kQuestionWords[] = {"What", "When", "Where", "How", "Why", "Who"};
  std::string question(kQuestionWords[std::uniform_int_distribution<size_t>(0, std::size(kQuestionWords) - 1)(random)]);
  question += " did";
  for (const Word& w : rewritten) {
    if (w.kept) question += ' ' + w.text;
  }
  return question + '?';
}

}  // namespace memembed::retrieval
