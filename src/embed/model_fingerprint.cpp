#include "memembed/embed.h"
#include "memembed/error.h"
#include "memembed/json_io.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>

namespace memembed::embed {

namespace fs = std::filesystem;

namespace {

std::string sha256_hex(std::string_view bytes) {
  std::array<unsigned char, 32> digest{};
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1 ||
      length != digest.size()) {
    throw make_error(ErrorKind::Internal, "SHA-256 failed");
  }
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

}  // namespace

std::string model_fingerprint(const fs::path& model_dir) {
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) return sha256_hex(model_dir.string());
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(model_dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  std::string identity;
  for (const fs::path& file : files) {
    const auto size = fs::file_size(file, ec);
    identity += file.lexically_relative(model_dir).generic_string() + "\n" + std::to_string(size) + "\n";
    if (size <= (4u << 20)) {
      identity += sha256_hex(read_file(file)) + "\n";
    } else {
      identity += std::to_string(fs::last_write_time(file, ec).time_since_epoch().count()) + "\n";
    }
  }
  return sha256_hex(identity);
}

}  // namespace memembed::embed
