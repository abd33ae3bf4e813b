// GPT-2's reversible byte <-> printable character mapping: every byte becomes a visible code point
// (printable Latin-1 bytes map to themselves, the rest to U+0100 and up), so byte-level BPE
// vocabularies can be stored as text.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace memembed::text::byte_level {

// Appends the mapped characters of every byte of `bytes`.
void encode(std::string_view bytes, std::string& out);

// The byte a mapped character stands for, if it is one.
std::optional<unsigned char> byte_of(char32_t mapped);

// Appends the bytes behind `token` when every character of it is a mapped byte; otherwise the
// token's own UTF-8 bytes (added tokens such as "<|endoftext|>" are stored unmapped).
void decode_token(std::string_view token, std::string& bytes);

}  // namespace memembed::text::byte_level
