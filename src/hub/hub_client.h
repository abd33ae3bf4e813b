// The hub's HTTP API as memembed uses it: the file list of a repository at a revision, the URL of
// each file, and the translation of the hub's refusals into memembed::Error with the advice a user
// needs (which token, which page to accept a licence on, which command to rerun).
#pragma once

#include "http_client.h"

#include "memembed/error.h"
#include "memembed/json_io.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace memembed::hub {

struct RepoFile {
  std::string path;               // '/'-separated, checked to stay inside the repository
  std::optional<uint64_t> size;   // absent when the hub does not say
  std::string blob_id;            // git blob sha1 (of the LFS pointer for LFS files)
  std::string sha256;             // LFS content hash; empty for files kept in git
  bool lfs = false;
};

struct RepoSnapshot {
  std::string repo;
  std::string revision;
  std::string commit;  // the hub's "sha"; files are fetched at this commit, not the moving branch
  std::vector<RepoFile> files;
};

struct RetryPolicy {
  int retries = 3;
  std::chrono::milliseconds delay{1000};

  std::chrono::milliseconds delay_before(int attempt) const;  // attempt counts from 1
};

// Parses the answer of GET /api/models/{repo}/revision/{revision}?blobs=true. `source` names the
// URL in messages. A listing with an unsafe path ("../x", "/etc/x") is refused outright.
RepoSnapshot parse_snapshot(const Json& answer, const std::string& repo,
                            const std::string& revision, const std::string& source);

// True when `path` is a relative '/'-separated path with no empty, "." or ".." segment.
bool is_safe_repo_path(const std::string& path);

bool is_transient_status(long status);  // 408, 429, 5xx: worth another try

class HubClient {
 public:
  HubClient(HttpClient& http, std::string endpoint, std::string repo, RetryPolicy retry);

  RepoSnapshot snapshot(const std::string& revision);

  std::string api_url(const std::string& revision) const;
  std::string file_url(const std::string& commit, const std::string& path) const;

  // The Error for a completed exchange with a non-2xx answer, or for a transport failure.
  // `path` is empty for the API call.
  Error failure(const HttpResult& result, const std::string& revision,
                const std::string& path) const;

  const std::string& endpoint() const { return endpoint_; }
  const std::string& repo() const { return repo_; }
  const RetryPolicy& retry() const { return retry_; }
  HttpClient& http() { return http_; }

 private:
  HttpClient& http_;
  std::string endpoint_;
  std::string repo_;
  RetryPolicy retry_;
};

}  // namespace memembed::hub
