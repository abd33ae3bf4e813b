#include "download.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

namespace memembed::hub {

namespace fs = std::filesystem;

namespace {

constexpr size_t kReadChunk = 1 << 20;

Error network(const std::string& message) { return Error(ErrorKind::Network, message); }

std::string to_hex(const unsigned char* bytes, unsigned length) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned i = 0; i < length; ++i) {
    out.push_back(digits[bytes[i] >> 4]);
    out.push_back(digits[bytes[i] & 15]);
  }
  return out;
}

std::string lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

class Digest {
 public:
  explicit Digest(const EVP_MD* algorithm) : algorithm_(algorithm), context_(EVP_MD_CTX_new()) {
    if (context_ == nullptr) throw Error(ErrorKind::Internal, "EVP_MD_CTX_new failed");
    reset();
  }
  ~Digest() { EVP_MD_CTX_free(context_); }
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;

  void reset() {
    if (EVP_DigestInit_ex(context_, algorithm_, nullptr) != 1)
      throw Error(ErrorKind::Internal, "EVP_DigestInit_ex failed");
  }
  void update(const void* data, size_t size) { EVP_DigestUpdate(context_, data, size); }
  std::string hex() {
    unsigned char value[EVP_MAX_MD_SIZE];
    unsigned length = 0;
    EVP_DigestFinal_ex(context_, value, &length);
    return to_hex(value, length);
  }

 private:
  const EVP_MD* algorithm_;
  EVP_MD_CTX* context_;
};

// Both hashes the hub may state, fed in one pass over the bytes.
class ContentHasher {
 public:
  // git's blob id covers a "blob <size>\0" header, so it needs the size before the content.
  explicit ContentHasher(std::optional<uint64_t> size) : sha256_(EVP_sha256()), sha1_(EVP_sha1()), size_(size) {
    reset();
  }
  void reset() {
    sha256_.reset();
    sha1_.reset();
    if (size_) {
      const std::string header = "blob " + std::to_string(*size_);
      sha1_.update(header.data(), header.size() + 1);  // with its terminating NUL
    }
  }
  void update(const void* data, size_t size) {
    sha256_.update(data, size);
    if (size_) sha1_.update(data, size);
  }
  void finish(FileDigest& digest) {
    digest.sha256 = sha256_.hex();
    digest.git_sha1 = size_ ? sha1_.hex() : std::string();
  }

 private:
  Digest sha256_;
  Digest sha1_;
  std::optional<uint64_t> size_;
};

// The .incomplete file: appended to as bytes arrive, flushed to disk before the rename so a crash
// right after it cannot leave a renamed but empty file.
class PartialFile {
 public:
  explicit PartialFile(const fs::path& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw io_error("{}: cannot open for writing: {}", path.string(), std::strerror(errno));
  }
  ~PartialFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;

  // Feeds the first `length` bytes already on disk to the hasher and positions after them.
  void resume(uint64_t length, ContentHasher& hasher) {
    std::vector<char> buffer(kReadChunk);
    uint64_t done = 0;
    if (::lseek(fd_, 0, SEEK_SET) < 0) fail("seek");
    while (done < length) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), length - done));
      const ssize_t got = ::read(fd_, buffer.data(), want);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) fail("read");
      hasher.update(buffer.data(), static_cast<size_t>(got));
      done += static_cast<uint64_t>(got);
    }
    if (::ftruncate(fd_, static_cast<off_t>(length)) != 0) fail("truncate");
    if (::lseek(fd_, static_cast<off_t>(length), SEEK_SET) < 0) fail("seek");
  }
  void restart() {
    if (::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) < 0) fail("truncate");
  }
  void write(const char* data, size_t size) {
    while (size > 0) {
      const ssize_t put = ::write(fd_, data, size);
      if (put < 0 && errno == EINTR) continue;
      if (put <= 0) fail("write");
      data += put;
      size -= static_cast<size_t>(put);
    }
  }
  void sync_and_close() {
    if (::fsync(fd_) != 0) fail("fsync");
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("close");
  }

 private:
  [[noreturn]] void fail(const char* what) {
    throw io_error("{}: {} failed: {}", path_.string(), what, std::strerror(errno));
  }
  fs::path path_;
  int fd_ = -1;
};

// "bytes 100-199/1000" -> first byte 100, total 1000 (total absent when '*').
bool parse_content_range(const std::string& value, uint64_t& first, std::optional<uint64_t>& total) {
  unsigned long long a = 0, b = 0, t = 0;
  if (std::sscanf(value.c_str(), "bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
    first = a;
    total = t;
    return true;
  }
  if (std::sscanf(value.c_str(), "bytes %llu-%llu/*", &a, &b) == 2) {
    first = a;
    total.reset();
    return true;
  }
  return false;
}

// The hub states an LFS file's sha256 as X-Linked-Etag on its redirect, quoted, maybe weak.
std::string linked_sha256(const HttpResult& result) {
  const std::string* value = result.find_header("x-linked-etag");
  if (value == nullptr) return {};
  std::string tag = *value;
  if (tag.rfind("W/", 0) == 0) tag.erase(0, 2);
  if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"') tag = tag.substr(1, tag.size() - 2);
  if (tag.size() != 64) return {};
  for (const char c : tag) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return {};
  }
  return lower(tag);
}

std::string size_text(const std::optional<uint64_t>& size) {
  return size ? std::to_string(*size) : std::string("?");
}

}  // namespace

ByteProgress::ByteProgress(const std::string& label, uint64_t total_bytes, bool enabled) {
  if (!enabled) return;
  unit_ = total_bytes >= (64u << 20) ? (1u << 20) : 1024u;
  const uint64_t total_units = (total_bytes + unit_ - 1) / unit_;
  progress_ = std::make_unique<Progress>(label, static_cast<size_t>(total_units),
                                         unit_ == 1024 ? "KiB" : "MiB");
}

void ByteProgress::add(uint64_t bytes) {
  if (!progress_) return;
  added_ += bytes;
  pending_ += bytes;
  const uint64_t whole = pending_ / unit_;
  if (whole > 0) {
    progress_->advance(static_cast<size_t>(whole));
    pending_ -= whole * unit_;
  }
}

void ByteProgress::finish() {
  if (!progress_ || added_ == 0) return;  // nothing was fetched: no "0 KiB" line
  if (pending_ > 0) progress_->advance(1);
  pending_ = 0;
  progress_->finish();
}

FileDigest digest_file(const fs::path& path) {
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (ec) throw io_error("{}: cannot read its size: {}", path.string(), ec.message());
  ContentHasher hasher(size);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw io_error("{}: cannot open: {}", path.string(), std::strerror(errno));
  std::vector<char> buffer(kReadChunk);
  uint64_t total = 0;
  for (;;) {
    const ssize_t got = ::read(fd, buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int saved = errno;
      ::close(fd);
      throw io_error("{}: read failed: {}", path.string(), std::strerror(saved));
    }
    if (got == 0) break;
    hasher.update(buffer.data(), static_cast<size_t>(got));
    total += static_cast<uint64_t>(got);
  }
  ::close(fd);
  if (total != size) throw io_error("{}: changed while being read", path.string());
  FileDigest digest;
  digest.size = size;
  hasher.finish(digest);
  return digest;
}

std::string content_mismatch(const RepoFile& file, const FileDigest& digest,
                             const std::string& expected_sha256) {
  if (file.size && digest.size != *file.size)
    return fmt::format("size {} bytes, expected {}", digest.size, *file.size);
  if (!expected_sha256.empty() && lower(expected_sha256) != digest.sha256)
    return fmt::format("sha256 {}, expected {}", digest.sha256, lower(expected_sha256));
  // For an LFS file the blob id hashes the pointer file, not the content.
  if (!file.lfs && !file.blob_id.empty() && !digest.git_sha1.empty() &&
      lower(file.blob_id) != digest.git_sha1)
    return fmt::format("git blob sha1 {}, expected {}", digest.git_sha1, lower(file.blob_id));
  return {};
}

fs::path incomplete_path(const fs::path& target) {
  fs::path part = target;
  part += ".incomplete";
  return part;
}

DownloadOutcome download_file(HubClient& hub, const RepoFile& file, const std::string& revision,
                              const std::string& commit, const fs::path& target,
                              ByteProgress* progress) {
  const fs::path part = incomplete_path(target);
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec) throw io_error("{}: cannot create directory: {}", target.parent_path().string(), ec.message());

  const std::string url = hub.file_url(commit, file.path);
  const RetryPolicy& retry = hub.retry();
  DownloadOutcome outcome;
  bool retried_from_scratch = false;

  for (int attempt = 1;; ++attempt) {
    const bool attempts_left = attempt <= retry.retries;
    uint64_t offset = fs::exists(part) ? fs::file_size(part) : 0;
    if (file.size && offset > *file.size) {
      fs::remove(part);
      offset = 0;
    }
    if (attempt == 1) outcome.resumed = offset > 0;

    ContentHasher hasher(file.size);
    FileDigest digest;
    std::string expected_sha256 = file.sha256;
    HttpResult result;
    std::string refusal;       // set when a response is unusable whatever we retry
    std::string local_failure; // writing to disk failed (exceptions must not cross libcurl)
    bool start_over = false;   // set when the stored prefix cannot be continued
    uint64_t written = offset;
    {
      PartialFile out(part);
      out.resume(offset, hasher);
      const bool need_request = !(file.size && offset == *file.size);
      if (need_request) {
        StreamHandlers handlers;
        handlers.on_head = [&](const HttpHead& head) {
          std::optional<uint64_t> announced;
          if (head.status == 206) {
            uint64_t first = 0;
            const std::string* range = head.header("content-range");
            if (range == nullptr || !parse_content_range(*range, first, announced) || first != offset) {
              start_over = true;  // not the continuation we asked for
              return false;
            }
          } else if (head.status == 200) {
            // The server ignored the Range request and sends the whole file.
            if (written > 0) {
              try {
                out.restart();
              } catch (const Error& e) {
                local_failure = e.what();
                return false;
              }
              hasher.reset();
              written = 0;
            }
            if (const std::string* length = head.header("content-length"))
              announced = std::strtoull(length->c_str(), nullptr, 10);
          } else {
            refusal = fmt::format("unexpected HTTP {} for a file download", head.status);
            return false;
          }
          if (file.size && announced && *announced != *file.size) {
            refusal = fmt::format("the server sends {} bytes but the hub lists {} bytes",
                                  *announced, *file.size);
            return false;
          }
          return true;
        };
        handlers.on_data = [&](const char* data, size_t size) {
          try {
            out.write(data, size);
          } catch (const Error& e) {
            local_failure = e.what();
            return false;
          }
          hasher.update(data, size);
          written += size;
          outcome.bytes_received += size;
          if (progress) progress->add(size);
          return true;
        };
        result = hub.http().get_stream(url, offset, handlers);
      }
      if (!local_failure.empty()) throw Error(ErrorKind::Io, local_failure);
      out.sync_and_close();
      if (need_request && expected_sha256.empty()) expected_sha256 = linked_sha256(result);

      if (!refusal.empty()) {
        fs::remove(part, ec);
        throw network(fmt::format("{}: {} ({}); the partial file was removed", file.path, refusal, url));
      }
      if (start_over || (need_request && result.completed() && result.status() == 416)) {
        // The server cannot continue our partial file: drop it and fetch the whole file.
        fs::remove(part, ec);
        if (attempts_left) continue;
        throw network(fmt::format("{}: the server would not continue the download at byte {} ({})",
                                  file.path, offset, url));
      }
      if (need_request && !result.completed()) {
        if (result.transient_transport_failure() && attempts_left) {
          std::this_thread::sleep_for(retry.delay_before(attempt));
          continue;
        }
        const Error cause = hub.failure(result, revision, file.path);
        throw Error(cause.kind(),
                    fmt::format("downloading '{}': {}. {} of {} bytes are kept in {}; run the same "
                                "command again to resume",
                                file.path, cause.what(), written, size_text(file.size), part.string()));
      }
      if (need_request && (result.status() < 200 || result.status() >= 300)) {
        if (is_transient_status(result.status()) && attempts_left) {
          std::this_thread::sleep_for(retry.delay_before(attempt));
          continue;
        }
        throw hub.failure(result, revision, file.path);
      }
      if (file.size && written < *file.size) {
        // The connection closed cleanly before the end (no Content-Length to catch it): resume.
        if (attempts_left) {
          std::this_thread::sleep_for(retry.delay_before(attempt));
          continue;
        }
        throw network(fmt::format("downloading '{}': the server sent {} of {} bytes; they are kept "
                                  "in {}; run the same command again to resume",
                                  file.path, written, *file.size, part.string()));
      }
      digest.size = written;
      hasher.finish(digest);
    }

    const std::string mismatch = content_mismatch(file, digest, expected_sha256);
    if (!mismatch.empty()) {
      fs::remove(part, ec);
      // A prefix from an earlier run may be what is wrong: one fresh download settles it.
      if (offset > 0 && !retried_from_scratch && attempts_left) {
        retried_from_scratch = true;
        continue;
      }
      throw network(fmt::format(
          "downloading '{}' from {}: the file received is corrupt ({}); the partial file was "
          "removed and nothing was put in place. Run the pull again; if this repeats, the server or "
          "a proxy alters the file",
          file.path, url, mismatch));
    }
    fs::rename(part, target, ec);
    if (ec) throw io_error("{}: cannot move into place: {}", target.string(), ec.message());
    outcome.sha256 = digest.sha256;
    return outcome;
  }
}

}  // namespace memembed::hub
