#include "embedding_cache.h"

#include "memembed/error.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <fstream>

namespace memembed::eval {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'M', 'M', 'E', 'M', 'B', 'E', 'D', '1'};
constexpr size_t kHeaderBytes = 16;

}  // namespace

TextKey sha256(std::string_view bytes) {
  TextKey key{};
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), key.data(), &length, EVP_sha256(), nullptr) != 1 ||
      length != key.size()) {
    throw make_error(ErrorKind::Internal, "SHA-256 failed");
  }
  return key;
}

std::string to_hex(const TextKey& key) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : key) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

EmbeddingCache::EmbeddingCache(const fs::path& dir, const std::string& model_key, size_t dimension)
    : path_(dir / (model_key + ".embeddings")), dimension_(dimension) {
  if (dimension == 0) throw invalid_input("embedding cache: dimension must be positive");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw io_error("{}: cannot create the embedding cache directory: {}", dir.string(), ec.message());

  const size_t record = TextKey().size() + dimension * sizeof(float);
  size_t valid_bytes = 0;
  if (fs::exists(path_)) {
    std::ifstream in(path_, std::ios::binary);
    if (!in) throw io_error("{}: cannot open for reading", path_.string());
    char header[kHeaderBytes];
    in.read(header, kHeaderBytes);
    if (in.gcount() == static_cast<std::streamsize>(kHeaderBytes)) {
      uint32_t stored_dimension = 0;
      std::memcpy(&stored_dimension, header + 8, 4);
      if (std::memcmp(header, kMagic, 8) != 0) {
        throw invalid_input("{}: not a memembed embedding cache (bad magic); delete it or use --cache-dir",
                            path_.string());
      }
      if (stored_dimension != dimension) {
        throw invalid_input("{}: holds {}-dimensional embeddings, the model gives {}; delete it",
                            path_.string(), stored_dimension, dimension);
      }
      valid_bytes = kHeaderBytes;
      std::vector<char> buffer(record);
      while (in.read(buffer.data(), static_cast<std::streamsize>(record))) {
        TextKey key;
        std::memcpy(key.data(), buffer.data(), key.size());
        const size_t row = values_.size() / dimension;
        values_.resize(values_.size() + dimension);
        std::memcpy(values_.data() + row * dimension, buffer.data() + key.size(), dimension * sizeof(float));
        index_[key] = row;  // a repeated key (two runs racing) keeps the later row; both are equal
        valid_bytes += record;
      }
    }
    const size_t file_bytes = static_cast<size_t>(fs::file_size(path_));
    if (file_bytes != valid_bytes) {
      // A torn header or record from an interrupted write: cut it so appends stay aligned.
      dropped_bytes_ = file_bytes - valid_bytes;
      fs::resize_file(path_, valid_bytes, ec);
      if (ec) throw io_error("{}: cannot truncate a torn record: {}", path_.string(), ec.message());
    }
  }
  file_ = std::fopen(path_.c_str(), "ab");
  if (file_ == nullptr) throw io_error("{}: cannot open for appending", path_.string());
  if (valid_bytes == 0) {
    char header[kHeaderBytes] = {};
    std::memcpy(header, kMagic, 8);
    const uint32_t d = static_cast<uint32_t>(dimension);
    std::memcpy(header + 8, &d, 4);
    if (std::fwrite(header, 1, kHeaderBytes, file_) != kHeaderBytes || std::fflush(file_) != 0) {
      throw io_error("{}: write failed", path_.string());
    }
  }
}

EmbeddingCache::~EmbeddingCache() {
  if (file_ != nullptr) std::fclose(file_);
}

bool EmbeddingCache::lookup(const TextKey& key, float* out) const {
  auto it = index_.find(key);
  if (it == index_.end()) return false;
  std::memcpy(out, values_.data() + it->second * dimension_, dimension_ * sizeof(float));
  return true;
}

void EmbeddingCache::append(const std::vector<TextKey>& keys, const float* rows) {
  std::vector<char> buffer;
  buffer.reserve(keys.size() * (TextKey().size() + dimension_ * sizeof(float)));
  for (size_t i = 0; i < keys.size(); ++i) {
    const char* k = reinterpret_cast<const char*>(keys[i].data());
    buffer.insert(buffer.end(), k, k + keys[i].size());
    const char* v = reinterpret_cast<const char*>(rows + i * dimension_);
    buffer.insert(buffer.end(), v, v + dimension_ * sizeof(float));
  }
  if (std::fwrite(buffer.data(), 1, buffer.size(), file_) != buffer.size() || std::fflush(file_) != 0) {
    throw io_error("{}: write failed (disk full?)", path_.string());
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    const size_t row = values_.size() / dimension_;
    values_.insert(values_.end(), rows + i * dimension_, rows + (i + 1) * dimension_);
    index_[keys[i]] = row;
  }
}

}  // namespace memembed::eval
