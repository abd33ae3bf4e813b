#include "decoder.h"

#include "byte_level.h"
#include "split_pattern.h"
#include "unicode.h"

#include "memembed/error.h"

namespace memembed::text {

std::string Decoder::decode(std::vector<std::string> tokens) const {
  decode_chain(tokens);
  std::string out;
  for (const std::string& token : tokens) out += token;
  return out;
}

namespace {

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  size_t done = 0;
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + from.size())) {
    out.append(text, done, at - done);
    out += to;
    done = at + from.size();
  }
  if (done == 0) return;
  out.append(text, done, std::string::npos);
  text.swap(out);
}

class WordPieceDecoder final : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}

  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& token = tokens[i];
      if (i != 0) {
        if (!prefix_.empty() && token.compare(0, prefix_.size(), prefix_) == 0) token.erase(0, prefix_.size());
        else token.insert(0, " ");
      }
      // Per token, in Hugging Face's order; applied to the whole string this would differ.
      if (cleanup_) {
        replace_all(token, " .", ".");
        replace_all(token, " ?", "?");
        replace_all(token, " !", "!");
        replace_all(token, " ,", ",");
        replace_all(token, " ' ", "'");
        replace_all(token, " n't", "n't");
        replace_all(token, " 'm", "'m");
        replace_all(token, " do not", " don't");
        replace_all(token, " 's", "'s");
        replace_all(token, " 've", "'ve");
        replace_all(token, " 're", "'re");
      }
    }
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& token : tokens) byte_level::decode_token(token, bytes);
    std::string text;
    unicode::append_utf8_lossy(text, bytes);
    tokens.assign(1, std::move(text));
  }
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first)
      : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      replace_all(tokens[i], replacement_, i == 0 && strip_first_ ? "" : " ");
    }
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(std::unique_ptr<SplitPattern> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    Matches matches;
    for (std::string& token : tokens) {
      matches.clear();
      pattern_->find_all(token, matches);
      if (matches.empty()) continue;
      std::string out;
      size_t done = 0;
      for (const auto& [begin, end] : matches) {
        out.append(token, done, begin - done);
        out += content_;
        done = end;
      }
      out.append(token, done, std::string::npos);
      token.swap(out);
    }
  }

 private:
  std::unique_ptr<SplitPattern> pattern_;
  std::string content_;
};

class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (unicode::find_invalid_utf8(pending) == std::string::npos) {
        out.push_back(pending);
      } else {
        // Hugging Face gives one U+FFFD per byte when the run is not valid UTF-8.
        for (size_t i = 0; i < pending.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      pending.clear();
    };
    for (std::string& token : tokens) {
      if (auto byte = byte_token(token)) {
        pending.push_back(static_cast<char>(*byte));
        continue;
      }
      flush();
      out.push_back(std::move(token));
    }
    flush();
    tokens.swap(out);
  }

 private:
  static std::optional<unsigned char> byte_token(const std::string& token) {
    if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return std::nullopt;
    int value = 0;
    for (int k = 3; k < 5; ++k) {
      const char c = token[k];
      int digit;
      if (c >= '0' && c <= '9') digit = c - '0';
      else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
      else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
      else return std::nullopt;
      value = value * 16 + digit;
    }
    return static_cast<unsigned char>(value);
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string joined;
    for (const std::string& token : tokens) joined += token;
    tokens.assign(1, std::move(joined));
  }
};

class StripDecoder final : public Decoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& token : tokens) {
      std::vector<size_t> bounds;
      for (size_t i = 0; i < token.size();) {
        bounds.push_back(i);
        unicode::next(token, i);
      }
      bounds.push_back(token.size());
      const size_t count = bounds.size() - 1;
      auto char_at = [&](size_t k) {
        size_t i = bounds[k];
        return unicode::next(token, i);
      };
      size_t first = 0;
      while (first < start_ && first < count && char_at(first) == content_) ++first;
      size_t last = count;
      for (size_t k = 0; k < stop_ && last > first && char_at(last - 1) == content_; ++k) --last;
      token = token.substr(bounds[first], bounds[last] - bounds[first]);
    }
  }

 private:
  char32_t content_;
  size_t start_, stop_;
};

class BpeSuffixDecoder final : public Decoder {
 public:
  explicit BpeSuffixDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      replace_all(tokens[i], suffix_, i + 1 == tokens.size() ? "" : " ");
    }
  }

 private:
  std::string suffix_;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& step : steps_) step->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

char32_t single_char(const std::string& text, const JsonPlace& place) {
  size_t i = 0;
  if (text.empty()) throw invalid_input("{} must be a single character", place.describe());
  const char32_t c = unicode::next(text, i);
  if (i != text.size()) throw invalid_input("{} must be a single character", place.describe());
  return c;
}

}  // namespace

std::unique_ptr<Decoder> make_decoder(const Json& config, const JsonPlace& place) {
  if (config.is_null()) return nullptr;
  const std::string type = type_field(config, place);
  if (type == "WordPiece") {
    return std::make_unique<WordPieceDecoder>(optional_string_field(config, "prefix", place).value_or("##"),
                                              bool_field(config, "cleanup", place, true));
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace") {
    const std::string replacement = optional_string_field(config, "replacement", place).value_or("\xE2\x96\x81");
    bool strip_first = bool_field(config, "add_prefix_space", place, true);
    if (auto scheme = optional_string_field(config, "prepend_scheme", place)) strip_first = *scheme != "never";
    return std::make_unique<MetaspaceDecoder>(replacement, strip_first);
  }
  if (type == "Replace") {
    return std::make_unique<ReplaceDecoder>(
        make_pattern_from_json(require_field(config, "pattern", place), place.field("pattern")),
        string_field(config, "content", place));
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    const std::string content = string_field(config, "content", place);
    return std::make_unique<StripDecoder>(single_char(content, place.field("content")),
                                          static_cast<size_t>(integer_field(config, "start", place)),
                                          static_cast<size_t>(integer_field(config, "stop", place)));
  }
  if (type == "BPEDecoder") {
    return std::make_unique<BpeSuffixDecoder>(optional_string_field(config, "suffix", place).value_or("</w>"));
  }
  if (type == "Sequence") {
    const Json& list = require_field(config, "decoders", place);
    if (!list.is_array()) throw invalid_input("{} must be an array", place.field("decoders").describe());
    std::vector<std::unique_ptr<Decoder>> steps;
    for (size_t i = 0; i < list.size(); ++i) {
      if (auto step = make_decoder(list[i], place.field("decoders").index(i))) steps.push_back(std::move(step));
    }
    return std::make_unique<SequenceDecoder>(std::move(steps));
  }
  throw unsupported("{}: unknown decoder type \"{}\" (known: WordPiece, ByteLevel, Metaspace, Replace, "
                    "ByteFallback, Fuse, Strip, BPEDecoder, Sequence)", place.describe(), type);
}

}  // namespace memembed::text
