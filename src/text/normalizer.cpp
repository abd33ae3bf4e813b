#include "normalizer.h"

#include "byte_level.h"
#include "legacy_categories.h"
#include "split_pattern.h"
#include "unicode.h"

#include "memembed/error.h"

#include <vector>

namespace memembed::text {

namespace {

// The CJK Unified Ideograph blocks BERT isolates (Hugging Face's ranges, including its
// 0x2B920 start of Extension E).
bool is_chinese_char(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool is_ascii(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// Drops the characters `is_mark` selects; a mark at the very start moves the start.
std::string drop_marks(std::string_view text, bool (*is_mark)(char32_t), bool& start_moved) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t start = i;
    const char32_t c = unicode::next(text, i);
    if (!is_mark(c)) out.append(text.data() + start, i - start);
    else if (out.empty()) start_moved = true;
  }
  return out;
}

class BertNormalizer final : public Normalizer {
 public:
  explicit BertNormalizer(const BertNormalizerConfig& config) : config_(config) {}

  std::string apply(std::string_view text, bool& start_moved) const override {
    std::string out;
    out.reserve(text.size() + 8);
    for (size_t i = 0; i < text.size();) {
      const auto b = static_cast<unsigned char>(text[i]);
      if (b < 0x80) {
        ++i;
        if (config_.clean_text) {
          // Tab, LF and CR count as whitespace; every other C0 control (VT and FF included: the
          // control test comes first) and DEL is dropped.
          if (b == '\t' || b == '\n' || b == '\r') {
            out.push_back(' ');
            continue;
          }
          if (b < 0x20 || b == 0x7F) {
            start_moved = start_moved || out.empty();
            continue;
          }
        }
        out.push_back(static_cast<char>(b));
        continue;
      }
      const size_t start = i;
      const char32_t c = unicode::next(text, i);
      if (config_.clean_text) {
        if (c == 0xFFFD || legacy::is_control(c)) {
          start_moved = start_moved || out.empty();
          continue;
        }
        if (unicode::is_white_space(c)) {
          out.push_back(' ');
          continue;
        }
      }
      if (config_.handle_chinese_chars && is_chinese_char(c)) {
        out.push_back(' ');
        out.append(text.data() + start, i - start);
        out.push_back(' ');
        continue;
      }
      out.append(text.data() + start, i - start);
    }
    if (config_.strip_accents && !is_ascii(out)) {
      out = drop_marks(unicode::normalize(out, unicode::NormalForm::NFD), legacy::is_nonspacing_mark, start_moved);
    }
    if (config_.lowercase) out = unicode::lowercase(out);
    return out;
  }

 private:
  BertNormalizerConfig config_;
};

class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(unicode::NormalForm form) : form_(form) {}
  std::string apply(std::string_view text, bool&) const override { return unicode::normalize(text, form_); }

 private:
  unicode::NormalForm form_;
};

class Lowercase final : public Normalizer {
 public:
  std::string apply(std::string_view text, bool&) const override { return unicode::lowercase(text); }
};

class StripAccents final : public Normalizer {
 public:
  std::string apply(std::string_view text, bool& start_moved) const override {
    return drop_marks(text, legacy::is_combining_mark, start_moved);
  }
};

class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  std::string apply(std::string_view text, bool& start_moved) const override {
    size_t begin = 0;
    size_t end = text.size();
    if (left_) {
      while (begin < end) {
        size_t i = begin;
        if (!unicode::is_white_space(unicode::next(text, i))) break;
        begin = i;
      }
    }
    if (right_) {
      size_t last_kept = begin;
      for (size_t i = begin; i < end;) {
        if (!unicode::is_white_space(unicode::next(text, i))) last_kept = i;
      }
      end = last_kept;
    }
    start_moved = start_moved || begin > 0;
    return std::string(text.substr(begin, end - begin));
  }

 private:
  bool left_, right_;
};

class Replace final : public Normalizer {
 public:
  Replace(std::unique_ptr<SplitPattern> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  std::string apply(std::string_view text, bool& start_moved) const override {
    Matches matches;
    pattern_->find_all(text, matches);
    if (matches.empty()) return std::string(text);
    if (matches.front().first == 0 && content_.empty()) start_moved = true;
    std::string out;
    out.reserve(text.size());
    size_t done = 0;
    for (const auto& [begin, end] : matches) {
      out.append(text.data() + done, begin - done);
      out += content_;
      done = end;
    }
    out.append(text.data() + done, text.size() - done);
    return out;
  }

 private:
  std::unique_ptr<SplitPattern> pattern_;
  std::string content_;
};

class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string apply(std::string_view text, bool&) const override {
    if (text.empty()) return std::string();
    return prefix_ + std::string(text);
  }

 private:
  std::string prefix_;
};

// Hugging Face's Nmt normaliser: drops some control characters and maps assorted separators
// (and U+2581, U+FEFF, U+FFFD) to a plain space.
class Nmt final : public Normalizer {
 public:
  std::string apply(std::string_view text, bool& start_moved) const override {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
      const size_t start = i;
      const char32_t c = unicode::next(text, i);
      if ((c >= 0x01 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
          c == 0x8F || c == 0x9F) {
        start_moved = start_moved || out.empty();
        continue;
      }
      if (c == 0x09 || c == 0x0A || c == 0x0C || c == 0x0D || c == 0x1680 ||
          (c >= 0x200B && c <= 0x200F) || c == 0x2028 || c == 0x2029 || c == 0x2581 ||
          c == 0xFEFF || c == 0xFFFD) {
        out.push_back(' ');
        continue;
      }
      out.append(text.data() + start, i - start);
    }
    return out;
  }
};

class ByteLevelNormalizer final : public Normalizer {
 public:
  std::string apply(std::string_view text, bool&) const override {
    std::string out;
    byte_level::encode(text, out);
    return out;
  }
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  std::string apply(std::string_view text, bool& start_moved) const override {
    std::string current(text);
    for (const auto& step : steps_) current = step->apply(current, start_moved);
    return current;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::unique_ptr<Normalizer> make_bert_normalizer(const BertNormalizerConfig& config) {
  return std::make_unique<BertNormalizer>(config);
}

std::unique_ptr<Normalizer> make_normalizer(const Json& config, const JsonPlace& place) {
  if (config.is_null()) return nullptr;
  const std::string type = type_field(config, place);
  if (type == "BertNormalizer") {
    BertNormalizerConfig bert;
    bert.clean_text = bool_field(config, "clean_text", place, true);
    bert.handle_chinese_chars = bool_field(config, "handle_chinese_chars", place, true);
    bert.lowercase = bool_field(config, "lowercase", place, true);
    // strip_accents: null follows lowercase, as in BERT's original tokenizer
    bert.strip_accents = optional_bool_field(config, "strip_accents", place).value_or(bert.lowercase);
    return make_bert_normalizer(bert);
  }
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(unicode::NormalForm::NFC);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(unicode::NormalForm::NFD);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(unicode::NormalForm::NFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(unicode::NormalForm::NFKD);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "StripAccents") return std::make_unique<StripAccents>();
  if (type == "Nmt") return std::make_unique<Nmt>();
  if (type == "ByteLevel") return std::make_unique<ByteLevelNormalizer>();
  if (type == "Strip") {
    return std::make_unique<Strip>(bool_field(config, "strip_left", place, true),
                                   bool_field(config, "strip_right", place, true));
  }
  if (type == "Replace") {
    return std::make_unique<Replace>(make_pattern_from_json(require_field(config, "pattern", place),
                                                  place.field("pattern")),
                                     string_field(config, "content", place));
  }
  if (type == "Prepend") return std::make_unique<Prepend>(string_field(config, "prepend", place));
  if (type == "Sequence") {
    const Json& list = require_field(config, "normalizers", place);
    if (!list.is_array()) throw invalid_input("{} must be an array", place.field("normalizers").describe());
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (size_t i = 0; i < list.size(); ++i) {
      if (auto step = make_normalizer(list[i], place.field("normalizers").index(i))) {
        steps.push_back(std::move(step));
      }
    }
    return std::make_unique<SequenceNormalizer>(std::move(steps));
  }
  if (type == "Precompiled") {
    throw unsupported("{}: the Precompiled (SentencePiece charsmap) normalizer is not supported; "
                      "load the model's SentencePiece .model file instead", place.describe());
  }
  throw unsupported("{}: unknown normalizer type \"{}\" (known: BertNormalizer, NFC, NFD, NFKC, NFKD, "
                    "Lowercase, Strip, StripAccents, Replace, Prepend, Nmt, ByteLevel, Sequence)",
                    place.describe(), type);
}

}  // namespace memembed::text
