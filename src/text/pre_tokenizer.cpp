#include "pre_tokenizer.h"

#include "byte_level.h"
#include "legacy_categories.h"
#include "split_pattern.h"
#include "unicode.h"

#include "memembed/error.h"

#include <algorithm>

namespace memembed::text {

namespace {

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior parse_behavior(const Json& config, const JsonPlace& place, Behavior fallback) {
  auto name = optional_string_field(config, "behavior", place);
  if (!name) return fallback;
  if (*name == "Removed") return Behavior::Removed;
  if (*name == "Isolated") return Behavior::Isolated;
  if (*name == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (*name == "MergedWithNext") return Behavior::MergedWithNext;
  if (*name == "Contiguous") return Behavior::Contiguous;
  throw invalid_input("{}: unknown split behavior \"{}\" (known: Removed, Isolated, "
                      "MergedWithPrevious, MergedWithNext, Contiguous)",
                      place.field("behavior").describe(), *name);
}

struct Segment {
  size_t begin, end;
  bool is_match;
};

// Splits `piece` around `matches` (sorted, non-overlapping) the way NormalizedString::split does.
void split_piece(const Piece& piece, const Matches& matches, Behavior behavior, bool invert,
                 std::vector<Piece>& out) {
  const std::string& text = piece.text;
  if (text.empty()) return;
  std::vector<Segment> cover;
  cover.reserve(matches.size() * 2 + 1);
  size_t done = 0;
  for (const auto& [begin, end] : matches) {
    if (begin > done) cover.push_back({done, begin, invert});
    cover.push_back({begin, end, !invert});
    done = end;
  }
  if (done < text.size()) cover.push_back({done, text.size(), invert});

  std::vector<Segment> kept;
  kept.reserve(cover.size());
  switch (behavior) {
    case Behavior::Isolated: kept = cover; break;
    case Behavior::Removed:
      for (const Segment& s : cover) {
        if (!s.is_match) kept.push_back(s);
      }
      break;
    case Behavior::Contiguous: {
      bool previous = false;
      for (const Segment& s : cover) {
        if (s.is_match == previous && !kept.empty()) kept.back().end = s.end;
        else kept.push_back(s);
        previous = s.is_match;
      }
      break;
    }
    case Behavior::MergedWithPrevious: {
      bool previous = false;
      for (const Segment& s : cover) {
        if (s.is_match && !previous && !kept.empty()) kept.back().end = s.end;
        else kept.push_back(s);
        previous = s.is_match;
      }
      break;
    }
    case Behavior::MergedWithNext: {
      bool previous = false;
      for (size_t i = cover.size(); i-- > 0;) {
        const Segment& s = cover[i];
        if (s.is_match && !previous && !kept.empty()) kept.back().begin = s.begin;
        else kept.push_back(s);
        previous = s.is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    }
  }
  for (const Segment& s : kept) {
    if (s.end > s.begin) {
      out.push_back(Piece{text.substr(s.begin, s.end - s.begin), piece.at_start && s.begin == 0});
    }
  }
}

// Applies `split` to every piece: it appends the splits of one piece to the output vector.
template <typename SplitOne>
void split_each(std::vector<Piece>& pieces, SplitOne split) {
  std::vector<Piece> out;
  out.reserve(pieces.size() * 2);
  for (const Piece& piece : pieces) split(piece, out);
  pieces.swap(out);
}

// Matches every character for which `predicate` holds, one match per character.
template <typename Predicate>
void character_matches(std::string_view text, Matches& matches, Predicate predicate) {
  for (size_t i = 0; i < text.size();) {
    const size_t start = i;
    if (predicate(unicode::next(text, i))) matches.emplace_back(start, i);
  }
}

class BertPreTokenizer final : public PreTokenizer {
 public:
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_each(pieces, [](const Piece& piece, std::vector<Piece>& out) {
      const std::string& text = piece.text;
      size_t word_start = 0;
      auto flush = [&](size_t end) {
        if (end > word_start) out.push_back(Piece{text.substr(word_start, end - word_start), false});
      };
      for (size_t i = 0; i < text.size();) {
        const size_t start = i;
        const char32_t c = unicode::next(text, i);
        if (unicode::is_white_space(c)) {
          flush(start);
          word_start = i;
        } else if (legacy::is_bert_punctuation(c)) {
          flush(start);
          out.push_back(Piece{text.substr(start, i - start), false});
          word_start = i;
        }
      }
      flush(text.size());
    });
  }
};

// `\w+|[^\w\s]+`: runs of word characters and runs of other non-space characters.
class WhitespacePreTokenizer final : public PreTokenizer {
 public:
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_each(pieces, [](const Piece& piece, std::vector<Piece>& out) {
      const std::string& text = piece.text;
      int current = 0;  // 0: none, 1: word run, 2: other run
      size_t run_start = 0;
      auto flush = [&](size_t end) {
        if (current != 0 && end > run_start) {
          out.push_back(Piece{text.substr(run_start, end - run_start), piece.at_start && run_start == 0});
        }
      };
      for (size_t i = 0; i < text.size();) {
        const size_t start = i;
        const char32_t c = unicode::next(text, i);
        const int kind = unicode::is_word_char(c) ? 1 : unicode::is_white_space(c) ? 0 : 2;
        if (kind != current) {
          flush(start);
          current = kind;
          run_start = start;
        }
      }
      flush(text.size());
    });
  }
};

class CharacterSplit final : public PreTokenizer {
 public:
  enum class Kind { WhiteSpace, Punctuation, Digits, Delimiter };
  CharacterSplit(Kind kind, Behavior behavior, char32_t delimiter = 0)
      : kind_(kind), behavior_(behavior), delimiter_(delimiter) {}

  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_each(pieces, [&](const Piece& piece, std::vector<Piece>& out) {
      Matches matches;
      character_matches(piece.text, matches, [&](char32_t c) {
        switch (kind_) {
          case Kind::WhiteSpace: return unicode::is_white_space(c);
          case Kind::Punctuation: return legacy::is_bert_punctuation(c);
          case Kind::Digits: return unicode::is_number(c);  // Rust's char::is_numeric
          case Kind::Delimiter: return c == delimiter_;
        }
        return false;
      });
      split_piece(piece, matches, behavior_, false, out);
    });
  }

 private:
  Kind kind_;
  Behavior behavior_;
  char32_t delimiter_;
};

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(std::unique_ptr<SplitPattern> pattern, Behavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}

  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_each(pieces, [&](const Piece& piece, std::vector<Piece>& out) {
      Matches matches;
      pattern_->find_all(piece.text, matches);
      split_piece(piece, matches, behavior_, invert_, out);
    });
  }

 private:
  std::unique_ptr<SplitPattern> pattern_;
  Behavior behavior_;
  bool invert_;
};

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space),
        pattern_(use_regex ? make_regex_pattern(kGpt2Pattern) : nullptr) {}

  void pre_tokenize(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 4);
    Matches matches;
    std::string prefixed;
    for (const Piece& piece : pieces) {
      const std::string* text = &piece.text;
      if (add_prefix_space_ && (text->empty() || (*text)[0] != ' ')) {
        prefixed = " " + *text;
        text = &prefixed;
      }
      auto emit = [&](size_t begin, size_t end) {
        Piece mapped{std::string(), piece.at_start && begin == 0};
        mapped.text.reserve((end - begin) * 2);
        byte_level::encode(std::string_view(*text).substr(begin, end - begin), mapped.text);
        out.push_back(std::move(mapped));
      };
      if (!pattern_) {
        if (!text->empty()) emit(0, text->size());
        continue;
      }
      // The GPT-2 pattern matches every character, so its matches cover the text.
      matches.clear();
      pattern_->find_all(*text, matches);
      for (const auto& [begin, end] : matches) emit(begin, end);
    }
    pieces.swap(out);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<SplitPattern> pattern_;
};

class Metaspace final : public PreTokenizer {
 public:
  enum class Prepend { Always, First, Never };
  Metaspace(std::string replacement, Prepend prepend, bool split)
      : replacement_(std::move(replacement)), prepend_(prepend), split_(split) {}

  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_each(pieces, [&](const Piece& piece, std::vector<Piece>& out) {
      Piece replaced{std::string(), piece.at_start};
      for (char c : piece.text) {
        if (c == ' ') replaced.text += replacement_;
        else replaced.text.push_back(c);
      }
      const bool starts_with_replacement = replaced.text.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts_with_replacement &&
          (prepend_ == Prepend::Always || (prepend_ == Prepend::First && piece.at_start))) {
        replaced.text.insert(0, replacement_);
      }
      if (!split_) {
        if (!replaced.text.empty()) out.push_back(std::move(replaced));
        return;
      }
      Matches matches;
      make_literal_pattern(replacement_)->find_all(replaced.text, matches);
      split_piece(replaced, matches, Behavior::MergedWithNext, false, out);
    });
  }

 private:
  std::string replacement_;
  Prepend prepend_;
  bool split_;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (const auto& step : steps_) step->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_bert_pre_tokenizer() { return std::make_unique<BertPreTokenizer>(); }

std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(bool add_prefix_space, bool use_regex) {
  return std::make_unique<ByteLevelPreTokenizer>(add_prefix_space, use_regex);
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& config, const JsonPlace& place) {
  if (config.is_null()) return nullptr;
  const std::string type = type_field(config, place);
  if (type == "BertPreTokenizer") return make_bert_pre_tokenizer();
  if (type == "ByteLevel") {
    return make_byte_level_pre_tokenizer(bool_field(config, "add_prefix_space", place, true),
                                         bool_field(config, "use_regex", place, true));
  }
  if (type == "Whitespace") return std::make_unique<WhitespacePreTokenizer>();
  if (type == "WhitespaceSplit") {
    return std::make_unique<CharacterSplit>(CharacterSplit::Kind::WhiteSpace, Behavior::Removed);
  }
  if (type == "Punctuation") {
    return std::make_unique<CharacterSplit>(CharacterSplit::Kind::Punctuation,
                                            parse_behavior(config, place, Behavior::Isolated));
  }
  if (type == "Digits") {
    const bool individual = bool_field(config, "individual_digits", place, false);
    return std::make_unique<CharacterSplit>(CharacterSplit::Kind::Digits,
                                            individual ? Behavior::Isolated : Behavior::Contiguous);
  }
  if (type == "CharDelimiterSplit") {
    const std::string delimiter = string_field(config, "delimiter", place);
    size_t i = 0;
    if (delimiter.empty() || (unicode::next(delimiter, i), i != delimiter.size())) {
      throw invalid_input("{} must be a single character", place.field("delimiter").describe());
    }
    i = 0;
    return std::make_unique<CharacterSplit>(CharacterSplit::Kind::Delimiter, Behavior::Removed,
                                            unicode::next(delimiter, i));
  }
  if (type == "Split") {
    return std::make_unique<SplitPreTokenizer>(
        make_pattern_from_json(require_field(config, "pattern", place), place.field("pattern")),
        parse_behavior(config, place, Behavior::Isolated), bool_field(config, "invert", place, false));
  }
  if (type == "Metaspace") {
    const std::string replacement = optional_string_field(config, "replacement", place).value_or("\xE2\x96\x81");
    Metaspace::Prepend prepend = Metaspace::Prepend::Always;
    if (auto scheme = optional_string_field(config, "prepend_scheme", place)) {
      if (*scheme == "always") prepend = Metaspace::Prepend::Always;
      else if (*scheme == "first") prepend = Metaspace::Prepend::First;
      else if (*scheme == "never") prepend = Metaspace::Prepend::Never;
      else throw invalid_input("{}: unknown prepend_scheme \"{}\" (known: always, first, never)",
                               place.describe(), *scheme);
    } else if (!bool_field(config, "add_prefix_space", place, true)) {
      prepend = Metaspace::Prepend::Never;
    }
    return std::make_unique<Metaspace>(replacement, prepend, bool_field(config, "split", place, true));
  }
  if (type == "Sequence") {
    const Json& list = require_field(config, "pretokenizers", place);
    if (!list.is_array()) throw invalid_input("{} must be an array", place.field("pretokenizers").describe());
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (size_t i = 0; i < list.size(); ++i) {
      if (auto step = make_pre_tokenizer(list[i], place.field("pretokenizers").index(i))) {
        steps.push_back(std::move(step));
      }
    }
    return std::make_unique<SequencePreTokenizer>(std::move(steps));
  }
  throw unsupported("{}: unknown pre-tokenizer type \"{}\" (known: BertPreTokenizer, ByteLevel, Split, "
                    "Sequence, Whitespace, WhitespaceSplit, Metaspace, Punctuation, Digits, "
                    "CharDelimiterSplit)", place.describe(), type);
}

}  // namespace memembed::text
