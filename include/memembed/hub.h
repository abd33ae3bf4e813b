// hub: downloading model repositories from the Hugging Face hub, and finding them again offline.
//
// pull("ORG/NAME") asks the hub API for the repository's file list at one revision
// (GET {endpoint}/api/models/ORG/NAME/revision/R?blobs=true), pins the revision to the commit the
// API names, and fetches every file from {endpoint}/ORG/NAME/resolve/{commit}/{path}, following the
// hub's redirects to its storage host. Each file is written as `<path>.incomplete`, continued with an
// HTTP Range request after an interruption (in this run or a later one), checked against the size
// and hash the hub announced (sha256 for LFS files, the git blob sha1 for the others) and only then
// renamed into place. A manifest written last marks the directory complete; until it exists the
// directory is never resolved as a model.
//
// Cache layout, one plain sentence-transformers model directory per revision:
//
//   <cache root>/ORG/NAME/<revision>/config.json, model.safetensors, 1_Pooling/..., ...
//   <cache root>/ORG/NAME/<revision>/.memembed-pull.json   manifest: repo, revision, commit, files
//
//   cache root = $MEMEMBED_CACHE, else $XDG_CACHE_HOME/memembed/models, else ~/.cache/memembed/models
//
// A revision containing '/' (refs/pr/1) is stored with '%' and '/' written as %25 and %2F.
// `pull(..., {.dir = D})` writes the same layout directly into D instead of the cache.
//
// resolve_model() is how every `--model` option finds its directory. It never touches the network:
// an existing directory is used as is; ORG/NAME[@REVISION] is looked up in the cache; anything
// else is NotFound with a message naming the model and the `memembed pull` command to run.
//
// Errors: an unreachable hub, a refused token, a gated repository or a corrupted download throw
// Error(Network); an unknown repository, revision or file throws Error(NotFound).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace memembed::hub {

inline constexpr const char* kDefaultEndpoint = "https://huggingface.co";
inline constexpr const char* kDefaultRevision = "main";
inline constexpr const char* kManifestName = ".memembed-pull.json";

struct PullOptions {
  std::string revision = kDefaultRevision;  // branch, tag or commit
  std::filesystem::path dir;                // empty: cache_dir(repo, revision)
  std::string endpoint;                     // empty: $HF_ENDPOINT, else kDefaultEndpoint
  std::string token;                        // empty: $HF_TOKEN, else anonymous
  // fnmatch globs over repository paths ('*' also crosses '/'): a file is fetched when it matches
  // some include pattern (or there are none) and no exclude pattern.
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  int retries = 3;                               // per request, after transient failures
  std::chrono::milliseconds retry_delay{1000};   // doubled after each failed attempt
  long connect_timeout_s = 30;
  long stall_timeout_s = 60;  // a transfer receiving nothing for this long is abandoned
  bool show_progress = true;  // bytes, rate and ETA on stderr (see memembed::Progress)
};

struct PulledFile {
  std::string path;    // inside the repository, '/'-separated
  uint64_t size = 0;
  std::string sha256;  // empty when the hub gives none (non-LFS files carry a git sha1 instead)
  bool downloaded = false;  // false: already present and verified
};

struct PullResult {
  std::filesystem::path dir;  // the complete model directory
  std::string repo;
  std::string revision;
  std::string commit;  // what the revision pointed to when pulled
  std::vector<PulledFile> files;
  uint64_t bytes_downloaded = 0;
  std::vector<std::string> removed;  // files of an earlier pull that this revision no longer has
};

// Downloads (or completes, or updates) the repository `repo` ("ORG/NAME"). Safe to rerun: files
// already present and verified are kept, partial ones are resumed. Two pulls into the same
// directory at once are refused (Io), not interleaved.
PullResult pull(const std::string& repo, const PullOptions& options = {});

// The model cache: see the layout above.
std::filesystem::path cache_root();
std::filesystem::path cache_dir(const std::string& repo,
                                const std::string& revision = kDefaultRevision);

// True for "ORG/NAME" as the hub spells repository ids (letters, digits, '-', '_', '.').
bool is_repo_id(std::string_view text);

// A model directory for `spec`, offline: an existing directory as is, else the cached pull of
// ORG/NAME or ORG/NAME@REVISION. Throws NotFound naming the model and the pull command otherwise.
std::filesystem::path resolve_model(const std::string& spec);

// $HF_ENDPOINT without trailing '/', else kDefaultEndpoint.
std::string default_endpoint();

}  // namespace memembed::hub
