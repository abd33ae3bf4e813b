// Unicode helpers shared by the tokenizer stages: UTF-8 decoding/encoding, the character classes
// the Hugging Face pipeline tests (White_Space, letters, numbers, punctuation, ...), and the
// normalisation forms. Character data comes from utf8proc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace memembed::text::unicode {

// Decodes the code point at byte `i` of valid UTF-8 and advances `i` past it.
inline char32_t next(std::string_view s, size_t& i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    ++i;
    return c;
  }
  size_t length = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
  if (i + length > s.size()) length = s.size() - i;  // only reachable on invalid input
  char32_t code = c & (0x7F >> length);
  for (size_t k = 1; k < length; ++k) code = (code << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += length;
  return code;
}

// Byte length of the UTF-8 sequence that starts with `lead`.
inline size_t sequence_length(unsigned char lead) {
  return lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : 4;
}

void append_utf8(std::string& out, char32_t code);

// Byte offset of the first ill-formed sequence, or npos when `bytes` is valid UTF-8.
size_t find_invalid_utf8(std::string_view bytes);

// Appends `bytes` to `out`, replacing each maximal ill-formed subsequence with U+FFFD (the
// substitution policy of Unicode chapter 3, which Rust's from_utf8_lossy also follows).
void append_utf8_lossy(std::string& out, std::string_view bytes);

bool is_white_space(char32_t c);      // the Unicode White_Space property (Rust char::is_whitespace, regex \s)
bool is_letter(char32_t c);           // \p{L}
bool is_number(char32_t c);           // \p{N}
bool is_decimal_digit(char32_t c);    // \p{Nd}
bool is_mark(char32_t c);             // \p{M}
bool is_word_char(char32_t c);        // regex \w: alphabetic, marks, decimal digits, connectors, joiners

// The two-letter general category ("Lu", "Nd", ...), for the regex engine's \p{..}.
const char* category_name(char32_t c);

char32_t simple_lowercase(char32_t c);
char32_t simple_uppercase(char32_t c);

enum class NormalForm { NFC, NFD, NFKC, NFKD };
std::string normalize(std::string_view text, NormalForm form);

// Per-character full lowercase mapping (Rust's char::to_lowercase): no context-dependent rules,
// so a final capital sigma becomes σ, and İ becomes "i̇".
std::string lowercase(std::string_view text);

}  // namespace memembed::text::unicode
