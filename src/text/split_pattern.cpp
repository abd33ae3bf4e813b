#include "split_pattern.h"

#include "regex_engine.h"
#include "unicode.h"

#include "memembed/error.h"

#include <cstdint>

namespace memembed::text {

const char* const kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

enum : uint8_t { kLetter = 1, kNumber = 2, kSpace = 4, kLineBreak = 8 };

// The text as code points with their class bits and byte offsets (offsets has one extra entry).
struct Decoded {
  std::vector<char32_t> chars;
  std::vector<uint8_t> flags;
  std::vector<size_t> offsets;

  explicit Decoded(std::string_view text) {
    chars.reserve(text.size());
    flags.reserve(text.size());
    offsets.reserve(text.size() + 1);
    for (size_t i = 0; i < text.size();) {
      offsets.push_back(i);
      const char32_t c = unicode::next(text, i);
      chars.push_back(c);
      uint8_t f = 0;
      if (unicode::is_letter(c)) f = kLetter;
      else if (unicode::is_number(c)) f = kNumber;
      else if (unicode::is_white_space(c)) f = c == '\r' || c == '\n' ? kSpace | kLineBreak : kSpace;
      flags.push_back(f);
    }
    offsets.push_back(text.size());
  }
  size_t size() const { return chars.size(); }
  bool letter(size_t i) const { return flags[i] & kLetter; }
  bool number(size_t i) const { return flags[i] & kNumber; }
  bool space(size_t i) const { return flags[i] & kSpace; }
  bool line_break(size_t i) const { return flags[i] & kLineBreak; }
  bool other(size_t i) const { return flags[i] == 0; }  // [^\s\p{L}\p{N}]
};

template <typename Predicate>
size_t run(const Decoded& d, size_t i, Predicate predicate) {
  while (i < d.size() && predicate(i)) ++i;
  return i;
}

// The case-sensitive contractions of GPT-2 ('s 't 're 've 'm 'll 'd), or with `fold` their
// case-insensitive form; returns the end or 0.
size_t contraction(const Decoded& d, size_t i, bool fold) {
  if (d.chars[i] != '\'' || i + 1 >= d.size()) return 0;
  auto lower = [&](size_t k) -> char32_t {
    const char32_t c = d.chars[k];
    if (!fold) return c;
    if (c == 0x17F) return 's';  // long s folds to s
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
  };
  const char32_t a = lower(i + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
  if (i + 2 >= d.size()) return 0;
  const char32_t b = lower(i + 2);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
  return 0;
}

// `\s+(?!\S)|\s+` at a whitespace character: the run, minus its last character when a
// non-space follows, unless that would leave nothing.
size_t trailing_space_run(const Decoded& d, size_t i) {
  const size_t end = run(d, i, [&](size_t k) { return d.space(k); });
  if (end == d.size()) return end;
  return end - i >= 2 ? end - 1 : i + 1;
}

// A hand-written pattern: every match starts where the previous one ended, so a scanner only says
// where the match starting at character i ends.
class Scanner : public SplitPattern {
 public:
  void find_all(std::string_view text, Matches& matches) const final {
    const Decoded d(text);
    for (size_t i = 0; i < d.size();) {
      const size_t end = next(d, i);
      matches.emplace_back(d.offsets[i], d.offsets[end]);
      i = end;
    }
  }

 protected:
  virtual size_t next(const Decoded& d, size_t i) const = 0;
};

class Gpt2Scanner final : public Scanner {
 private:
  size_t next(const Decoded& d, size_t i) const override {
    if (size_t end = contraction(d, i, false)) return end;
    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: the optional space joins what follows it
    const size_t body = d.chars[i] == ' ' && i + 1 < d.size() && !d.space(i + 1) ? i + 1 : i;
    if (d.letter(body)) return run(d, body, [&](size_t k) { return d.letter(k); });
    if (d.number(body)) return run(d, body, [&](size_t k) { return d.number(k); });
    if (d.other(body)) return run(d, body, [&](size_t k) { return d.other(k); });
    return trailing_space_run(d, i);
  }
};

class Llama3Scanner final : public Scanner {
 public:
  explicit Llama3Scanner(size_t max_digits) : max_digits_(max_digits) {}

 private:
  size_t next(const Decoded& d, size_t i) const override {
    if (size_t end = contraction(d, i, true)) return end;
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (d.letter(i)) return run(d, i, [&](size_t k) { return d.letter(k); });
    if (!d.line_break(i) && !d.number(i) && i + 1 < d.size() && d.letter(i + 1)) {
      return run(d, i + 1, [&](size_t k) { return d.letter(k); });
    }
    // \p{N}{1,max}
    if (d.number(i)) {
      size_t end = i;
      while (end < d.size() && end - i < max_digits_ && d.number(end)) ++end;
      return end;
    }
    //  ?[^\s\p{L}\p{N}]+[\r\n]*
    const size_t body = d.chars[i] == ' ' && i + 1 < d.size() && d.other(i + 1) ? i + 1 : i;
    if (d.other(body)) {
      const size_t end = run(d, body, [&](size_t k) { return d.other(k); });
      return run(d, end, [&](size_t k) { return d.line_break(k); });
    }
    // \s*[\r\n]+ : backtracking leaves the match just after the run's last line break
    const size_t end = run(d, i, [&](size_t k) { return d.space(k); });
    for (size_t k = end; k > i; --k) {
      if (d.line_break(k - 1)) return k;
    }
    return trailing_space_run(d, i);
  }

  size_t max_digits_;
};

class LiteralPattern final : public SplitPattern {
 public:
  explicit LiteralPattern(std::string literal) : literal_(std::move(literal)) {}
  void find_all(std::string_view text, Matches& matches) const override {
    if (literal_.empty()) return;
    for (size_t at = text.find(literal_); at != std::string_view::npos;
         at = text.find(literal_, at + literal_.size())) {
      matches.emplace_back(at, at + literal_.size());
    }
  }

 private:
  std::string literal_;
};

class EnginePattern final : public SplitPattern {
 public:
  explicit EnginePattern(std::string_view regex) : regex_(regex) {}
  void find_all(std::string_view text, Matches& matches) const override { regex_.find_all(text, matches); }

 private:
  Regex regex_;
};

}  // namespace

std::unique_ptr<SplitPattern> make_literal_pattern(std::string literal) {
  return std::make_unique<LiteralPattern>(std::move(literal));
}

std::unique_ptr<SplitPattern> make_regex_pattern(std::string_view regex) {
  if (regex == kGpt2Pattern) return std::make_unique<Gpt2Scanner>();
  if (regex == kLlama3Pattern) return std::make_unique<Llama3Scanner>(3);
  if (regex == kQwen2Pattern) return std::make_unique<Llama3Scanner>(1);
  return make_engine_pattern(regex);
}

std::unique_ptr<SplitPattern> make_engine_pattern(std::string_view regex) {
  return std::make_unique<EnginePattern>(regex);
}

std::unique_ptr<SplitPattern> make_pattern_from_json(const Json& config, const JsonPlace& place) {
  require_object(config, place);
  if (auto literal = optional_string_field(config, "String", place)) return make_literal_pattern(*literal);
  if (auto regex = optional_string_field(config, "Regex", place)) {
    try {
      return make_regex_pattern(*regex);
    } catch (const Error& e) {
      throw Error(e.kind(), place.describe() + ": " + e.what());
    }
  }
  throw invalid_input("{}: a pattern needs a \"String\" or \"Regex\" field", place.describe());
}

}  // namespace memembed::text
