// Downloading one repository file: resumable through `<target>.incomplete` and HTTP Range,
// verified against the size and hashes the hub announced, renamed into place only when it checks
// out. Also the hashing used to decide whether a file already on disk can be kept.
#pragma once

#include "hub_client.h"

#include "memembed/progress.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace memembed::hub {

// Progress in bytes, shown in KiB or MiB so the line stays readable for multi-GB models.
class ByteProgress {
 public:
  ByteProgress(const std::string& label, uint64_t total_bytes, bool enabled);
  void add(uint64_t bytes);
  void finish();

 private:
  std::unique_ptr<Progress> progress_;
  uint64_t unit_ = 1024;
  uint64_t pending_ = 0;
  uint64_t added_ = 0;
};

struct FileDigest {
  uint64_t size = 0;
  std::string sha256;
  std::string git_sha1;  // sha1 of "blob <size>\0" + content: what the hub calls blobId
};

// Hashes a file on disk. Throws Io when it cannot be read.
FileDigest digest_file(const std::filesystem::path& path);

// Empty when `digest` matches everything the hub says about `file`, else what differs.
std::string content_mismatch(const RepoFile& file, const FileDigest& digest,
                             const std::string& expected_sha256);

struct DownloadOutcome {
  uint64_t bytes_received = 0;  // over the network, this call
  std::string sha256;
  bool resumed = false;  // started from an existing .incomplete file
};

std::filesystem::path incomplete_path(const std::filesystem::path& target);

// Fetches `file` at `commit` into `target`. Transient failures are retried per hub.retry(),
// continuing from the bytes already received. On a final failure the .incomplete file is kept for
// the next run if its bytes can still be trusted, and removed if they proved wrong (hash or size
// mismatch); either way `target` is untouched.
DownloadOutcome download_file(HubClient& hub, const RepoFile& file, const std::string& revision,
                              const std::string& commit, const std::filesystem::path& target,
                              ByteProgress* progress);

}  // namespace memembed::hub
