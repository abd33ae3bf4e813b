// The on-disk side of pulled models: where they live, the manifest that marks a directory
// complete, the lock that keeps two pulls apart, and the offline lookup behind resolve_model().
#pragma once

#include "memembed/hub.h"
#include "memembed/json_io.h"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace memembed::hub {

// "ORG/NAME@REV" -> repo "ORG/NAME", revision "REV"; without '@' the revision is the default.
struct ModelSpec {
  std::string repo;
  std::string revision;
  bool explicit_revision = false;
};
std::optional<ModelSpec> parse_model_spec(const std::string& spec);

// A revision as one directory name: '%' -> %25, '/' -> %2F. "." and ".." are refused.
std::string revision_dir_name(const std::string& revision);

// The `memembed pull` command line that fetches `spec`, for messages.
std::string pull_command(const ModelSpec& spec);

struct ManifestEntry {
  uint64_t size = 0;
  std::string sha256;
  std::string blob_id;
};

struct Manifest {
  std::string repo;
  std::string revision;
  std::string commit;
  std::string endpoint;
  std::map<std::string, ManifestEntry> files;  // by repository path
};

std::optional<Manifest> read_manifest(const std::filesystem::path& dir);
void write_manifest(const std::filesystem::path& dir, const Manifest& manifest);
void remove_manifest(const std::filesystem::path& dir);

// An exclusive advisory lock on <dir>/.memembed-pull.lock for the lifetime of the object.
class DirectoryLock {
 public:
  explicit DirectoryLock(const std::filesystem::path& dir);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace memembed::hub
