#include "regex_engine.h"

#include "unicode.h"

#include "memembed/error.h"

#include <utf8proc.h>

#include <algorithm>
#include <type_traits>

namespace memembed::text {

namespace {

constexpr uint32_t bit(int category) { return uint32_t{1} << category; }
constexpr uint32_t kLetters = bit(1) | bit(2) | bit(3) | bit(4) | bit(5);
constexpr uint32_t kMarks = bit(6) | bit(7) | bit(8);
constexpr uint32_t kNumbers = bit(9) | bit(10) | bit(11);
constexpr uint32_t kPunctuation = bit(12) | bit(13) | bit(14) | bit(15) | bit(16) | bit(17) | bit(18);
constexpr uint32_t kSymbols = bit(19) | bit(20) | bit(21) | bit(22);
constexpr uint32_t kSeparators = bit(23) | bit(24) | bit(25);
constexpr uint32_t kOthers = bit(0) | bit(26) | bit(27) | bit(28) | bit(29);

// General-category names accepted in \p{..}, short and long forms.
struct CategoryName {
  const char* name;
  uint32_t mask;
};
constexpr CategoryName kCategoryNames[] = {
    {"L", kLetters}, {"Letter", kLetters}, {"Lu", bit(1)}, {"Uppercase_Letter", bit(1)},
    {"Ll", bit(2)}, {"Lowercase_Letter", bit(2)}, {"Lt", bit(3)}, {"Titlecase_Letter", bit(3)},
    {"Lm", bit(4)}, {"Modifier_Letter", bit(4)}, {"Lo", bit(5)}, {"Other_Letter", bit(5)},
    {"M", kMarks}, {"Mark", kMarks}, {"Combining_Mark", kMarks}, {"Mn", bit(6)},
    {"Nonspacing_Mark", bit(6)}, {"Mc", bit(7)}, {"Spacing_Mark", bit(7)}, {"Me", bit(8)},
    {"Enclosing_Mark", bit(8)}, {"N", kNumbers}, {"Number", kNumbers}, {"Nd", bit(9)},
    {"Decimal_Number", bit(9)}, {"Nl", bit(10)}, {"Letter_Number", bit(10)}, {"No", bit(11)},
    {"Other_Number", bit(11)}, {"P", kPunctuation}, {"Punctuation", kPunctuation}, {"Pc", bit(12)},
    {"Connector_Punctuation", bit(12)}, {"Pd", bit(13)}, {"Dash_Punctuation", bit(13)},
    {"Ps", bit(14)}, {"Open_Punctuation", bit(14)}, {"Pe", bit(15)}, {"Close_Punctuation", bit(15)},
    {"Pi", bit(16)}, {"Initial_Punctuation", bit(16)}, {"Pf", bit(17)},
    {"Final_Punctuation", bit(17)}, {"Po", bit(18)}, {"Other_Punctuation", bit(18)},
    {"S", kSymbols}, {"Symbol", kSymbols}, {"Sm", bit(19)}, {"Math_Symbol", bit(19)},
    {"Sc", bit(20)}, {"Currency_Symbol", bit(20)}, {"Sk", bit(21)}, {"Modifier_Symbol", bit(21)},
    {"So", bit(22)}, {"Other_Symbol", bit(22)}, {"Z", kSeparators}, {"Separator", kSeparators},
    {"Zs", bit(23)}, {"Space_Separator", bit(23)}, {"Zl", bit(24)}, {"Line_Separator", bit(24)},
    {"Zp", bit(25)}, {"Paragraph_Separator", bit(25)}, {"C", kOthers}, {"Other", kOthers},
    {"Cc", bit(26)}, {"Control", bit(26)}, {"Cf", bit(27)}, {"Format", bit(27)}, {"Cs", bit(28)},
    {"Surrogate", bit(28)}, {"Co", bit(29)}, {"Private_Use", bit(29)}, {"Cn", bit(0)},
    {"Unassigned", bit(0)}, {"Any", 0x3FFFFFFF},
};

struct CharClass {
  bool negated = false;
  bool ignore_case = false;
  std::vector<std::pair<char32_t, char32_t>> ranges;
  uint32_t categories = 0;
  bool white_space = false;
  bool word = false;
  std::vector<CharClass> nested;  // unions, each with its own negation

  bool matches(char32_t c) const {
    bool in = contains(c);
    if (!in && ignore_case) {
      const char32_t lower = unicode::simple_lowercase(c);
      const char32_t upper = unicode::simple_uppercase(c);
      in = (lower != c && contains(lower)) || (upper != c && contains(upper)) ||
           // the two folds that leave ASCII: long s and the Kelvin sign
           (c == 0x17F && contains('s')) || (c == 0x212A && contains('k'));
    }
    return in != negated;
  }

 private:
  bool contains(char32_t c) const {
    for (const auto& [low, high] : ranges) {
      if (c >= low && c <= high) return true;
    }
    if (categories != 0 && (categories & bit(utf8proc_category(static_cast<utf8proc_int32_t>(c))))) {
      return true;
    }
    if (white_space && unicode::is_white_space(c)) return true;
    if (word && unicode::is_word_char(c)) return true;
    for (const CharClass& inner : nested) {
      if (inner.matches(c)) return true;
    }
    return false;
  }
};

// A non-owning callable reference, so continuations cost no allocation.
class Continuation {
 public:
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Continuation>>>
  Continuation(const F& f)  // NOLINT(google-explicit-constructor)
      : object_(&f), call_([](const void* o, size_t i) { return (*static_cast<const F*>(o))(i); }) {}
  bool operator()(size_t i) const { return call_(object_, i); }

 private:
  const void* object_;
  bool (*call_)(const void*, size_t);
};

}  // namespace

struct Regex::Node {
  enum class Kind { Class, Concat, Alternation, Repeat, LookAhead, NegativeLookAhead, Start, End };
  Kind kind = Kind::Concat;
  CharClass cls;
  std::vector<std::unique_ptr<Node>> children;
  size_t min = 0;
  size_t max = SIZE_MAX;
  bool greedy = true;
  bool possessive = false;
};

namespace {

using Node = Regex::Node;
using NodePtr = std::unique_ptr<Node>;

NodePtr make_node(Node::Kind kind) {
  auto node = std::make_unique<Node>();
  node->kind = kind;
  return node;
}

class Parser {
 public:
  explicit Parser(std::string_view pattern) : source_(pattern) {
    if (unicode::find_invalid_utf8(pattern) != std::string_view::npos) {
      throw invalid_input("regex /{}/: not valid UTF-8", pattern);
    }
    for (size_t i = 0; i < pattern.size();) chars_.push_back(unicode::next(pattern, i));
  }

  NodePtr parse() {
    NodePtr root = parse_alternation();
    if (pos_ < chars_.size()) fail("unbalanced ')'");
    return root;
  }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw invalid_input("regex /{}/: {} at character {}", source_, what, pos_);
  }
  [[noreturn]] void unsupported_construct(const std::string& what) const {
    throw unsupported("regex /{}/: {} (character {}) is not supported", source_, what, pos_);
  }
  bool at_end() const { return pos_ >= chars_.size(); }
  char32_t peek(size_t ahead = 0) const {
    return pos_ + ahead < chars_.size() ? chars_[pos_ + ahead] : 0;
  }
  char32_t take() {
    if (at_end()) fail("unexpected end of pattern");
    return chars_[pos_++];
  }

  NodePtr parse_alternation() {
    auto alternation = make_node(Node::Kind::Alternation);
    const bool saved_ignore_case = ignore_case_;
    alternation->children.push_back(parse_concat());
    while (!at_end() && peek() == '|') {
      ++pos_;
      alternation->children.push_back(parse_concat());
    }
    ignore_case_ = saved_ignore_case;
    if (alternation->children.size() == 1) return std::move(alternation->children[0]);
    return alternation;
  }

  NodePtr parse_concat() {
    auto concat = make_node(Node::Kind::Concat);
    while (!at_end() && peek() != '|' && peek() != ')') {
      NodePtr atom = parse_atom();
      if (!atom) continue;  // an inline flag group such as (?i)
      concat->children.push_back(parse_quantifiers(std::move(atom)));
    }
    if (concat->children.size() == 1) return std::move(concat->children[0]);
    return concat;
  }

  // Reads {n}, {n,}, {n,m} or {,m}; leaves pos_ unchanged and returns false when the brace does
  // not start a quantifier (Oniguruma then takes it literally).
  bool parse_braces(size_t& min, size_t& max) {
    size_t p = pos_ + 1;
    auto number = [&](size_t& value) {
      const size_t start = p;
      value = 0;
      while (p < chars_.size() && chars_[p] >= '0' && chars_[p] <= '9') {
        value = value * 10 + (chars_[p] - '0');
        ++p;
      }
      return p > start;
    };
    size_t low = 0, high = 0;
    const bool has_low = number(low);
    if (p < chars_.size() && chars_[p] == '}') {
      if (!has_low) return false;
      min = max = low;
    } else if (p < chars_.size() && chars_[p] == ',') {
      ++p;
      const bool has_high = number(high);
      if (p >= chars_.size() || chars_[p] != '}' || (!has_low && !has_high)) return false;
      min = has_low ? low : 0;
      max = has_high ? high : SIZE_MAX;
      if (min > max) fail("quantifier range out of order");
    } else {
      return false;
    }
    pos_ = p + 1;
    return true;
  }

  NodePtr parse_quantifiers(NodePtr atom) {
    while (!at_end()) {
      size_t min, max;
      const char32_t c = peek();
      if (c == '*') {
        min = 0, max = SIZE_MAX, ++pos_;
      } else if (c == '+') {
        min = 1, max = SIZE_MAX, ++pos_;
      } else if (c == '?') {
        min = 0, max = 1, ++pos_;
      } else if (c == '{' && parse_braces(min, max)) {
      } else {
        break;
      }
      auto repeat = make_node(Node::Kind::Repeat);
      repeat->min = min;
      repeat->max = max;
      if (peek() == '?' && !at_end()) {
        repeat->greedy = false;
        ++pos_;
      } else if (peek() == '+' && !at_end()) {
        repeat->possessive = true;
        ++pos_;
      }
      if (repeat->possessive && atom->kind != Node::Kind::Class) {
        unsupported_construct("a possessive quantifier on a group");
      }
      repeat->children.push_back(std::move(atom));
      atom = std::move(repeat);
    }
    return atom;
  }

  NodePtr class_node(CharClass cls) {
    auto node = make_node(Node::Kind::Class);
    node->cls = std::move(cls);
    return node;
  }

  NodePtr literal(char32_t c) {
    CharClass cls;
    cls.ranges.push_back({c, c});
    cls.ignore_case = ignore_case_;
    return class_node(std::move(cls));
  }

  NodePtr parse_atom() {
    const char32_t c = take();
    switch (c) {
      case '(': return parse_group();
      case '[': return class_node(parse_class());
      case '.': {
        CharClass cls;
        cls.negated = true;
        cls.ranges.push_back({'\n', '\n'});
        return class_node(std::move(cls));
      }
      case '^': return make_node(Node::Kind::Start);
      case '$': return make_node(Node::Kind::End);
      case '\\': return parse_escape();
      case '*':
      case '+':
      case '?': --pos_, fail("quantifier without a target");
      default: return literal(c);
    }
  }

  NodePtr parse_group() {
    if (peek() != '?') {
      NodePtr inner = parse_alternation();
      if (take() != ')') fail("missing ')'");
      return inner;
    }
    ++pos_;
    const char32_t kind = take();
    if (kind == ':') return finish_group(ignore_case_);
    if (kind == '=' || kind == '!') {
      auto look = make_node(kind == '=' ? Node::Kind::LookAhead : Node::Kind::NegativeLookAhead);
      look->children.push_back(parse_alternation());
      if (take() != ')') fail("missing ')'");
      return look;
    }
    if (kind == '<') {
      if (peek() == '=' || peek() == '!') unsupported_construct("look-behind");
      while (take() != '>') {
      }
      return finish_group(ignore_case_);  // a named group matches like a plain one
    }
    // Option flags: (?i) (?-i) (?i:...) (?i-m:...)
    --pos_;
    bool on = true;
    bool flag = ignore_case_;
    while (true) {
      const char32_t f = take();
      if (f == '-') {
        on = false;
      } else if (f == 'i') {
        flag = on;
      } else if (f == 'm' || f == 's' || f == 'x') {
        unsupported_construct(std::string("the (?") + static_cast<char>(f) + ") option");
      } else if (f == ')') {
        ignore_case_ = flag;  // applies to the rest of the enclosing group
        return nullptr;
      } else if (f == ':') {
        return finish_group(flag);
      } else {
        fail("unknown group kind");
      }
    }
  }

  NodePtr finish_group(bool ignore_case) {
    const bool saved = ignore_case_;
    ignore_case_ = ignore_case;
    NodePtr inner = parse_alternation();
    ignore_case_ = saved;
    if (take() != ')') fail("missing ')'");
    return inner;
  }

  uint32_t parse_hex(size_t min_digits, size_t max_digits) {
    uint32_t value = 0;
    size_t digits = 0;
    while (digits < max_digits && !at_end()) {
      const char32_t d = peek();
      int v;
      if (d >= '0' && d <= '9') v = static_cast<int>(d - '0');
      else if (d >= 'a' && d <= 'f') v = static_cast<int>(d - 'a' + 10);
      else if (d >= 'A' && d <= 'F') v = static_cast<int>(d - 'A' + 10);
      else break;
      value = value * 16 + static_cast<uint32_t>(v);
      ++digits;
      ++pos_;
    }
    if (digits < min_digits) fail("bad hexadecimal escape");
    return value;
  }

  // Fills `cls` for a class escape (\s \d \w \p{..} and negations); false for other escapes.
  bool class_escape(char32_t e, CharClass& cls) {
    switch (e) {
      case 's': cls.white_space = true; return true;
      case 'S': cls.white_space = true, cls.negated = true; return true;
      case 'd': cls.categories = bit(9); return true;
      case 'D': cls.categories = bit(9), cls.negated = true; return true;
      case 'w': cls.word = true; return true;
      case 'W': cls.word = true, cls.negated = true; return true;
      case 'p':
      case 'P': {
        std::string name;
        if (peek() == '{') {
          ++pos_;
          while (true) {
            const char32_t n = take();
            if (n == '}') break;
            unicode::append_utf8(name, n);
          }
        } else {
          unicode::append_utf8(name, take());
        }
        bool negated = e == 'P';
        if (!name.empty() && name[0] == '^') {
          negated = !negated;
          name.erase(0, 1);
        }
        for (const CategoryName& known : kCategoryNames) {
          if (name == known.name) {
            cls.categories = known.mask;
            cls.negated = negated;
            return true;
          }
        }
        unsupported_construct("the property \\p{" + name + "}");
      }
      default: return false;
    }
  }

  char32_t char_escape(char32_t e) {
    switch (e) {
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case 'f': return '\f';
      case 'v': return '\v';
      case 'a': return 0x07;
      case 'e': return 0x1B;
      case '0': return 0;
      case 'x':
        if (peek() == '{') {
          ++pos_;
          const uint32_t value = parse_hex(1, 8);
          if (take() != '}') fail("bad \\x{...} escape");
          return value;
        }
        return parse_hex(1, 2);
      case 'u': return parse_hex(4, 4);
      default:
        if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '1' && e <= '9')) {
          std::string what = "the escape \\";
          unicode::append_utf8(what, e);
          unsupported_construct(what);
        }
        return e;  // an escaped punctuation character stands for itself
    }
  }

  NodePtr parse_escape() {
    const char32_t e = take();
    if (e == 'A') return make_node(Node::Kind::Start);
    if (e == 'z' || e == 'Z') return make_node(Node::Kind::End);
    CharClass cls;
    if (class_escape(e, cls)) return class_node(std::move(cls));
    return literal(char_escape(e));
  }

  CharClass parse_class() {
    CharClass cls;
    cls.ignore_case = ignore_case_;
    if (peek() == '^') {
      cls.negated = true;
      ++pos_;
    }
    bool first = true;
    while (true) {
      if (at_end()) fail("missing ']'");
      char32_t c = take();
      if (c == ']' && !first) break;
      first = false;
      if (c == '[') {
        if (peek() == ':') unsupported_construct("a POSIX bracket expression");
        cls.nested.push_back(parse_class());
        continue;
      }
      if (c == '&' && peek() == '&') unsupported_construct("class intersection (&&)");
      if (c == '\\') {
        const char32_t e = take();
        CharClass escaped;
        escaped.ignore_case = ignore_case_;
        if (class_escape(e, escaped)) {
          cls.nested.push_back(std::move(escaped));
          continue;
        }
        c = char_escape(e);
      }
      char32_t high = c;
      if (peek() == '-' && peek(1) != ']' && pos_ + 1 < chars_.size()) {
        pos_ += 1;
        high = take();
        if (high == '\\') high = char_escape(take());
        if (high < c) fail("character range out of order");
      }
      cls.ranges.push_back({c, high});
    }
    return cls;
  }

  std::string_view source_;
  std::vector<char32_t> chars_;
  size_t pos_ = 0;
  bool ignore_case_ = false;
};

// Bounds on one find_all, because patterns come from untrusted tokenizer files: a budget of
// steps that grows with the text (ordinary patterns take a few dozen per character, catastrophic
// backtracking takes exponentially many) and a recursion depth that keeps well inside a thread's
// stack (one level costs up to ~450 bytes of frames: 4000 levels stay under 2 MB).
constexpr size_t kStepsPerCharacter = 1000;
constexpr size_t kMinimumSteps = 100000;
constexpr size_t kMaxDepth = 4000;

class Matcher {
 public:
  Matcher(const std::vector<char32_t>& chars, const std::string& pattern)
      : chars_(chars), pattern_(pattern), step_budget_(kMinimumSteps + kStepsPerCharacter * chars.size()) {}

  bool match(const Node& node, size_t i, Continuation k) const {
    if (++steps_ > step_budget_) {
      throw invalid_input("regex /{}/: gave up after {} matching steps on a text of {} characters "
                          "(catastrophic backtracking in the tokenizer's split pattern)",
                          pattern_, step_budget_, chars_.size());
    }
    if (depth_ >= kMaxDepth) {
      throw invalid_input("regex /{}/: gave up at a recursion depth of {} on a text of {} characters "
                          "(a repeated group in the tokenizer's split pattern matching a very long run)",
                          pattern_, kMaxDepth, chars_.size());
    }
    ++depth_;
    struct Leave {
      size_t& depth;
      ~Leave() { --depth; }
    } leave{depth_};
    return dispatch(node, i, k);
  }

 private:
  bool dispatch(const Node& node, size_t i, Continuation k) const {
    switch (node.kind) {
      case Node::Kind::Class:
        return i < chars_.size() && node.cls.matches(chars_[i]) && k(i + 1);
      case Node::Kind::Concat: return sequence(node, 0, i, k);
      case Node::Kind::Alternation:
        for (const auto& child : node.children) {
          if (match(*child, i, k)) return true;
        }
        return false;
      case Node::Kind::Repeat: return repeat(node, i, k);
      case Node::Kind::LookAhead:
      case Node::Kind::NegativeLookAhead: {
        const bool found = match(*node.children[0], i, [](size_t) { return true; });
        return found == (node.kind == Node::Kind::LookAhead) && k(i);
      }
      case Node::Kind::Start: return i == 0 && k(i);
      case Node::Kind::End: return i == chars_.size() && k(i);
    }
    return false;
  }

  bool sequence(const Node& node, size_t index, size_t i, Continuation k) const {
    if (index == node.children.size()) return k(i);
    auto rest = [&](size_t j) { return sequence(node, index + 1, j, k); };
    return match(*node.children[index], i, rest);
  }

  bool repeat(const Node& node, size_t i, Continuation k) const {
    const Node& child = *node.children[0];
    if (child.kind == Node::Kind::Class) {
      // A repeated single character: count the run once, then try lengths without recursion.
      const size_t limit = std::min(node.max, chars_.size() - i);
      size_t run = 0;
      while (run < limit && child.cls.matches(chars_[i + run])) ++run;
      if (run < node.min) return false;
      if (node.possessive) return k(i + run);
      if (node.greedy) {
        for (size_t count = run;; --count) {
          if (k(i + count)) return true;
          if (count == node.min) return false;
        }
      }
      for (size_t count = node.min; count <= run; ++count) {
        if (k(i + count)) return true;
      }
      return false;
    }
    return repeat_general(node, 0, i, k);
  }

  bool repeat_general(const Node& node, size_t count, size_t i, Continuation k) const {
    const Node& child = *node.children[0];
    auto again = [&](size_t j) {
      // An iteration that consumed nothing may only count towards the minimum.
      if (j == i && count + 1 > node.min) return false;
      return repeat_general(node, count + 1, j, k);
    };
    const bool can_repeat = count < node.max;
    if (node.greedy) {
      if (can_repeat && match(child, i, again)) return true;
      return count >= node.min && k(i);
    }
    if (count >= node.min && k(i)) return true;
    return can_repeat && match(child, i, again);
  }

  const std::vector<char32_t>& chars_;
  const std::string& pattern_;
  const size_t step_budget_;
  mutable size_t steps_ = 0;
  mutable size_t depth_ = 0;
};

}  // namespace

Regex::Regex(std::string_view pattern) : pattern_(pattern), root_(Parser(pattern).parse()) {}
Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

void Regex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& matches) const {
  std::vector<char32_t> chars;
  std::vector<size_t> offsets;
  chars.reserve(text.size());
  offsets.reserve(text.size() + 1);
  for (size_t i = 0; i < text.size();) {
    offsets.push_back(i);
    chars.push_back(unicode::next(text, i));
  }
  offsets.push_back(text.size());

  const Matcher matcher(chars, pattern_);
  size_t start = 0;
  while (start < chars.size()) {
    size_t end = 0;
    const bool found = matcher.match(*root_, start, [&](size_t e) {
      end = e;
      return true;
    });
    if (found && end > start) {
      matches.emplace_back(offsets[start], offsets[end]);
      start = end;
    } else {
      ++start;
    }
  }
}

}  // namespace memembed::text
