// pull(): list, plan (keep what is already verified), download, then mark the directory complete.

#include "download.h"
#include "hub_client.h"
#include "model_cache.h"

#include "memembed/hub.h"

#include <fnmatch.h>

#include <cstdlib>
#include <set>

namespace memembed::hub {

namespace fs = std::filesystem;

namespace {

bool matches_any(const std::vector<std::string>& patterns, const std::string& path) {
  for (const std::string& pattern : patterns) {
    if (::fnmatch(pattern.c_str(), path.c_str(), 0) == 0) return true;
  }
  return false;
}

bool selected(const PullOptions& options, const std::string& path) {
  if (!options.include.empty() && !matches_any(options.include, path)) return false;
  return !matches_any(options.exclude, path);
}

std::string human_bytes(uint64_t bytes) {
  if (bytes >= (1ull << 30)) return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / (1ull << 30));
  if (bytes >= (1ull << 20)) return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1ull << 20));
  if (bytes >= 1024) return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024);
  return fmt::format("{} bytes", bytes);
}

// Our own manifest vouches for a file when the hub still states the same content for it, so an
// unchanged multi-GB file is not hashed again on every pull of a new commit.
// The same commit also vouches, for mirrors whose listings carry no hashes.
bool manifest_vouches(const std::optional<Manifest>& manifest, const RepoFile& file,
                      const std::string& commit, const fs::path& target) {
  if (!manifest) return false;
  const auto entry = manifest->files.find(file.path);
  if (entry == manifest->files.end()) return false;
  const bool same_content = (!file.sha256.empty() && file.sha256 == entry->second.sha256) ||
                            (!file.lfs && !file.blob_id.empty() && file.blob_id == entry->second.blob_id) ||
                            (file.sha256.empty() && file.blob_id.empty() && manifest->commit == commit);
  if (!same_content) return false;
  if (file.size && *file.size != entry->second.size) return false;
  std::error_code ec;
  return fs::file_size(target, ec) == entry->second.size && !ec;
}

void remove_empty_parents(fs::path path, const fs::path& root) {
  std::error_code ec;
  for (path = path.parent_path(); path != root && path.has_relative_path(); path = path.parent_path()) {
    if (!fs::is_empty(path, ec) || ec || !fs::remove(path, ec)) return;
  }
}

struct PlannedFile {
  const RepoFile* file = nullptr;
  fs::path target;
  bool keep = false;
  std::string sha256;  // known for kept files
};

}  // namespace

PullResult pull(const std::string& repo, const PullOptions& options) {
  if (!is_repo_id(repo))
    throw invalid_input("'{}' is not a model id: expected ORG/NAME as on the hub, e.g. "
                        "google/embeddinggemma-300m",
                        repo);
  if (options.revision.empty()) throw invalid_input("the revision is empty");
  revision_dir_name(options.revision);  // refuses "." and ".."

  std::string endpoint = options.endpoint.empty() ? default_endpoint() : options.endpoint;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  if (endpoint.rfind("http://", 0) != 0 && endpoint.rfind("https://", 0) != 0)
    throw invalid_input("hub endpoint '{}' must start with http:// or https://", endpoint);
  HttpSettings settings;
  settings.token = options.token;
  if (settings.token.empty()) {
    if (const char* token = std::getenv("HF_TOKEN")) settings.token = token;
  }
  settings.connect_timeout_s = options.connect_timeout_s;
  settings.stall_timeout_s = options.stall_timeout_s;
  const fs::path dir = options.dir.empty() ? cache_dir(repo, options.revision) : options.dir;

  HttpClient http(settings);
  HubClient hub(http, endpoint, repo, RetryPolicy{options.retries, options.retry_delay});
  const RepoSnapshot snapshot = hub.snapshot(options.revision);

  std::vector<PlannedFile> plan;
  for (const RepoFile& file : snapshot.files) {
    if (!selected(options, file.path)) continue;
    if (file.path == kManifestName || file.path == ".memembed-pull.lock") continue;
    plan.push_back({&file, dir / file.path, false, {}});
  }
  if (plan.empty()) {
    if (snapshot.files.empty())
      throw not_found("'{}' at revision '{}' has no files on {}", repo, options.revision, endpoint);
    throw not_found("none of the {} files of '{}' match the --include/--exclude patterns",
                    snapshot.files.size(), repo);
  }

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw io_error("{}: cannot create the model directory: {}", dir.string(), ec.message());
  DirectoryLock lock(dir);

  std::optional<Manifest> previous;
  try {
    previous = read_manifest(dir);
  } catch (const Error&) {
    previous.reset();  // unreadable: every file gets verified against the hub instead
  }

  uint64_t to_fetch = 0;
  bool changes = !previous || previous->commit != snapshot.commit;
  std::set<std::string> wanted;
  for (PlannedFile& planned : plan) {
    const RepoFile& file = *planned.file;
    wanted.insert(file.path);
    if (fs::is_regular_file(planned.target, ec)) {
      if (manifest_vouches(previous, file, snapshot.commit, planned.target)) {
        planned.keep = true;
        planned.sha256 = previous->files.at(file.path).sha256;
      } else if (!file.sha256.empty() || (!file.lfs && !file.blob_id.empty())) {
        // A file we did not record (or from another commit): keep it only if its hash proves it.
        const FileDigest digest = digest_file(planned.target);
        if (content_mismatch(file, digest, file.sha256).empty()) {
          planned.keep = true;
          planned.sha256 = digest.sha256;
        }
      }
    }
    if (planned.keep) continue;
    changes = true;
    const uint64_t partial = fs::exists(incomplete_path(planned.target), ec)
                                 ? fs::file_size(incomplete_path(planned.target), ec)
                                 : 0;
    if (file.size && *file.size > partial) to_fetch += *file.size - partial;
  }
  std::vector<std::string> stale;
  if (previous) {
    for (const auto& [path, entry] : previous->files) {
      if (!wanted.count(path)) stale.push_back(path);
    }
  }
  if (!stale.empty()) changes = true;

  const fs::space_info space = fs::space(dir, ec);
  if (!ec && space.available < to_fetch)
    throw io_error("{}: {} to download but only {} free", dir.string(), human_bytes(to_fetch),
                   human_bytes(space.available));

  // From the first change on, the directory is a mix of two commits: it must not look complete.
  if (changes && previous) remove_manifest(dir);

  PullResult result;
  result.dir = dir;
  result.repo = repo;
  result.revision = options.revision;
  result.commit = snapshot.commit;
  ByteProgress progress("pull " + repo, to_fetch, options.show_progress);
  for (PlannedFile& planned : plan) {
    const RepoFile& file = *planned.file;
    PulledFile pulled;
    pulled.path = file.path;
    if (!planned.keep) {
      const DownloadOutcome outcome =
          download_file(hub, file, options.revision, snapshot.commit, planned.target, &progress);
      planned.sha256 = outcome.sha256;
      result.bytes_downloaded += outcome.bytes_received;
      pulled.downloaded = true;
    }
    pulled.size = fs::file_size(planned.target);
    pulled.sha256 = planned.sha256;
    result.files.push_back(std::move(pulled));
  }
  progress.finish();

  for (const std::string& path : stale) {
    if (!is_safe_repo_path(path)) continue;  // a hand-edited manifest must not delete elsewhere
    fs::remove(dir / path, ec);
    fs::remove(incomplete_path(dir / path), ec);
    remove_empty_parents(dir / path, dir);
    result.removed.push_back(path);
  }

  Manifest manifest;
  manifest.repo = repo;
  manifest.revision = options.revision;
  manifest.commit = snapshot.commit;
  manifest.endpoint = endpoint;
  for (size_t i = 0; i < plan.size(); ++i) {
    ManifestEntry entry;
    entry.size = result.files[i].size;
    entry.sha256 = plan[i].sha256;
    entry.blob_id = plan[i].file->blob_id;
    manifest.files[plan[i].file->path] = std::move(entry);
  }
  write_manifest(dir, manifest);
  return result;
}

}  // namespace memembed::hub
