#include "embedding_cache.h"

#include "memembed/error.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

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

namespace {

// Holds an exclusive flock on the cache file for one scope: every writer appends whole records
// under it, so a reader holding it sees only records that are complete or torn by a crash.
class FileLock {
 public:
  FileLock(int fd, const fs::path& path) : fd_(fd) {
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) throw io_error("{}: cannot lock: {}", path.string(), std::strerror(errno));
    }
  }
  ~FileLock() { ::flock(fd_, LOCK_UN); }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

void write_all(int fd, const char* data, size_t size, const fs::path& path) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) throw io_error("{}: write failed (disk full?): {}", path.string(), std::strerror(errno));
    data += written;
    size -= static_cast<size_t>(written);
  }
}

// Fills `buffer` from `fd`; returns the bytes read (fewer only at the end of the file).
size_t read_up_to(int fd, char* buffer, size_t size, const fs::path& path) {
  size_t got = 0;
  while (got < size) {
    const ssize_t n = ::read(fd, buffer + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw io_error("{}: read failed: {}", path.string(), std::strerror(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

}  // namespace

EmbeddingCache::EmbeddingCache(const fs::path& dir, const std::string& model_key, size_t dimension)
    : path_(dir / (model_key + ".embeddings")), dimension_(dimension) {
  if (dimension == 0) throw invalid_input("embedding cache: dimension must be positive");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw io_error("{}: cannot create the embedding cache directory: {}", dir.string(), ec.message());

  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw io_error("{}: cannot open: {}", path_.string(), std::strerror(errno));
  try {
    const FileLock lock(fd_, path_);
    char header[kHeaderBytes];
    const size_t header_bytes = read_up_to(fd_, header, kHeaderBytes, path_);
    size_t valid_bytes = 0;
    if (header_bytes == kHeaderBytes) {
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
      const size_t record = record_bytes();
      std::vector<char> buffer(record * 1024);
      while (true) {
        const size_t got = read_up_to(fd_, buffer.data(), buffer.size(), path_);
        for (size_t offset = 0; offset + record <= got; offset += record) {
          TextKey key;
          std::memcpy(key.data(), buffer.data() + offset, key.size());
          const size_t row = values_.size() / dimension;
          values_.resize(values_.size() + dimension);
          std::memcpy(values_.data() + row * dimension, buffer.data() + offset + key.size(), dimension * sizeof(float));
          index_[key] = row;  // a repeated key (two runs racing) keeps the later row; both are equal
          valid_bytes += record;
        }
        if (got < buffer.size()) break;
      }
    }
    dropped_bytes_ = cut_torn_tail(valid_bytes);
    if (valid_bytes == 0) {
      char fresh[kHeaderBytes] = {};
      std::memcpy(fresh, kMagic, 8);
      const uint32_t d = static_cast<uint32_t>(dimension);
      std::memcpy(fresh + 8, &d, 4);
      write_all(fd_, fresh, kHeaderBytes, path_);
    }
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

EmbeddingCache::~EmbeddingCache() {
  if (fd_ >= 0) ::close(fd_);
}

size_t EmbeddingCache::record_bytes() const { return TextKey().size() + dimension_ * sizeof(float); }

size_t EmbeddingCache::cut_torn_tail(size_t valid_bytes) {
  struct stat status {};
  if (::fstat(fd_, &status) != 0) throw io_error("{}: cannot stat: {}", path_.string(), std::strerror(errno));
  const auto file_bytes = static_cast<size_t>(status.st_size);
  if (file_bytes == valid_bytes) return 0;
  // Only a writer that crashed mid-record leaves this (writers append under the lock we hold):
  // cut it so appends stay aligned.
  if (::ftruncate(fd_, static_cast<off_t>(valid_bytes)) != 0) {
    throw io_error("{}: cannot truncate a torn record: {}", path_.string(), std::strerror(errno));
  }
  return file_bytes - valid_bytes;
}

bool EmbeddingCache::lookup(const TextKey& key, float* out) const {
  auto it = index_.find(key);
  if (it == index_.end()) return false;
  std::memcpy(out, values_.data() + it->second * dimension_, dimension_ * sizeof(float));
  return true;
}

void EmbeddingCache::append(const std::vector<TextKey>& keys, const float* rows) {
  std::vector<char> buffer;
  buffer.reserve(keys.size() * record_bytes());
  for (size_t i = 0; i < keys.size(); ++i) {
    const char* k = reinterpret_cast<const char*>(keys[i].data());
    buffer.insert(buffer.end(), k, k + keys[i].size());
    const char* v = reinterpret_cast<const char*>(rows + i * dimension_);
    buffer.insert(buffer.end(), v, v + dimension_ * sizeof(float));
  }
  {
    const FileLock lock(fd_, path_);
    // Records other processes appended since we opened are whole; a crashed one's tail is not.
    struct stat status {};
    if (::fstat(fd_, &status) != 0) throw io_error("{}: cannot stat: {}", path_.string(), std::strerror(errno));
    const auto file_bytes = static_cast<size_t>(status.st_size);
    const size_t whole = file_bytes < kHeaderBytes ? file_bytes
                                                   : kHeaderBytes + (file_bytes - kHeaderBytes) / record_bytes() * record_bytes();
    dropped_bytes_ += cut_torn_tail(whole);
    write_all(fd_, buffer.data(), buffer.size(), path_);
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    const size_t row = values_.size() / dimension_;
    values_.insert(values_.end(), rows + i * dimension_, rows + (i + 1) * dimension_);
    index_[keys[i]] = row;
  }
}

}  // namespace memembed::eval
