#include "byte_level.h"

#include "unicode.h"

#include <array>

namespace memembed::text::byte_level {

namespace {

struct Tables {
  std::array<char32_t, 256> to_char{};
  std::array<std::string, 256> to_utf8;
  std::array<int, 512> to_byte{};  // every mapped character is below U+0200

  Tables() {
    to_byte.fill(-1);
    auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    char32_t next_unprintable = 256;
    for (int b = 0; b < 256; ++b) {
      to_char[b] = printable(b) ? static_cast<char32_t>(b) : next_unprintable++;
      unicode::append_utf8(to_utf8[b], to_char[b]);
      to_byte[to_char[b]] = b;
    }
  }
};

const Tables& tables() {
  static const Tables instance;
  return instance;
}

}  // namespace

void encode(std::string_view bytes, std::string& out) {
  const Tables& t = tables();
  for (char byte : bytes) out += t.to_utf8[static_cast<unsigned char>(byte)];
}

std::optional<unsigned char> byte_of(char32_t mapped) {
  if (mapped >= 512) return std::nullopt;
  const int b = tables().to_byte[mapped];
  if (b < 0) return std::nullopt;
  return static_cast<unsigned char>(b);
}

void decode_token(std::string_view token, std::string& bytes) {
  const size_t mark = bytes.size();
  for (size_t i = 0; i < token.size();) {
    auto b = byte_of(unicode::next(token, i));
    if (!b) {
      bytes.resize(mark);
      bytes.append(token);
      return;
    }
    bytes.push_back(static_cast<char>(*b));
  }
}

}  // namespace memembed::text::byte_level
