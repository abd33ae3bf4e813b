// Corpus (and query) embeddings on disk, keyed by model and text hash, so reruns, the with- and
// without-instruction passes and subsets sharing a corpus never embed the same text twice, and an
// interrupted run keeps what it had embedded.
//
// One append-only file per model key: <dir>/<model key>.embeddings
//   header: "MMEMBED1" (8 bytes), dimension (uint32 LE), reserved (uint32)
//   record: SHA-256 of the exact input text (32 bytes), dimension float32 LE
// Records are appended chunk by chunk. Several processes (two `eval` runs) may share one file:
// every read of the file and every append holds an exclusive flock, so no process sees or cuts
// another's append in progress. A record cut short by a crash is dropped (and truncated away)
// by the next open or append; a header that does not match is an error, never reused.
// (flock is advisory and local: a cache on NFS shared between machines is not protected.)
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace memembed::eval {

using TextKey = std::array<uint8_t, 32>;

TextKey sha256(std::string_view bytes);
std::string to_hex(const TextKey& key);

struct TextKeyHash {
  size_t operator()(const TextKey& key) const {
    size_t h;
    static_assert(sizeof(h) <= sizeof(TextKey));
    std::copy(key.begin(), key.begin() + sizeof(h), reinterpret_cast<uint8_t*>(&h));
    return h;
  }
};

class EmbeddingCache {
 public:
  // Opens or creates the file for `model_key` (a file-name-safe string) in `dir`.
  EmbeddingCache(const std::filesystem::path& dir, const std::string& model_key, size_t dimension);
  ~EmbeddingCache();
  EmbeddingCache(const EmbeddingCache&) = delete;
  EmbeddingCache& operator=(const EmbeddingCache&) = delete;

  // Copies the embedding of `key` into out[0 .. dimension); false when it is not cached.
  bool lookup(const TextKey& key, float* out) const;
  // Appends rows (keys.size() x dimension) to the file in one locked write.
  void append(const std::vector<TextKey>& keys, const float* rows);

  size_t size() const { return index_.size(); }
  size_t dimension() const { return dimension_; }
  const std::filesystem::path& path() const { return path_; }
  size_t dropped_bytes() const { return dropped_bytes_; }  // torn tails removed by this object

 private:
  std::filesystem::path path_;
  size_t dimension_;
  std::vector<float> values_;
  std::unordered_map<TextKey, size_t, TextKeyHash> index_;  // key -> row in values_
  size_t record_bytes() const;
  // Truncates the file to `valid_bytes` (call with the lock held); returns the bytes removed.
  size_t cut_torn_tail(size_t valid_bytes);

  int fd_ = -1;
  size_t dropped_bytes_ = 0;
};

}  // namespace memembed::eval
