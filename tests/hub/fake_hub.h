// A local stand-in for the Hugging Face hub, for tests: a real HTTP server on 127.0.0.1 that serves
// directories in the hub's URL layout, plus a second server playing the hub's storage CDN.
//
//   GET /api/models/ORG/NAME/revision/REV[?blobs=true]  -> {"id", "sha", "siblings": [...]}
//   GET /ORG/NAME/resolve/REV/PATH   small files: the bytes (ETag = git blob sha1)
//                                    LFS files: 302 to the CDN, X-Linked-Etag = sha256
//   GET (cdn) /blobs/SHA256          the bytes
//
// Ranges are honoured (206, 416). Errors carry X-Error-Code / X-Error-Message as the hub's do.
// Faults can be injected per file (cut a response short, corrupt it, stall it) and every request
// is logged, so tests can check what the client really asked for.
#pragma once

#include <httplib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace memembed::test {

std::string sha256_hex(const std::string& bytes);
std::string git_blob_sha1_hex(const std::string& bytes);
std::string read_file_bytes(const std::filesystem::path& path);

struct LoggedRequest {
  std::string server;  // "hub" or "cdn"
  std::string path;    // decoded path
  std::string query;   // raw "k=v" pairs joined by '&'
  std::string range;   // the Range header, if any
  std::string authorization;
};

class FakeHub {
 public:
  FakeHub();
  ~FakeHub();
  FakeHub(const FakeHub&) = delete;
  FakeHub& operator=(const FakeHub&) = delete;

  // Serves every regular file under `source` as repository `repo` at revision "main" (and at
  // `commit`). Files of at least `lfs_threshold` bytes are LFS files. Replaces an earlier version.
  void add_repo(const std::string& repo, const std::filesystem::path& source,
                const std::string& commit, uint64_t lfs_threshold = 100 * 1024);

  std::string endpoint() const;  // http://127.0.0.1:PORT

  // Access rules.
  void make_private(const std::string& repo, const std::string& token);
  void make_gated(const std::string& repo);
  // Unknown repositories answer 401 + X-Error-Code RepoNotFound, as the real hub does for
  // anonymous callers (it does not reveal whether a private repository exists).
  void hide_unknown_repos(bool hide);
  // Listings without sizes and hashes even when ?blobs=true is asked, as some mirrors answer.
  void omit_file_metadata(bool omit);

  // Faults, per repository path.
  void cut_next_response(const std::string& path, uint64_t after_total_bytes);
  void corrupt(const std::string& path);
  void stall(const std::string& path);
  void fail_next_api_calls(int count, int status);

  std::vector<LoggedRequest> requests() const;
  void clear_requests();

 private:
  struct File {
    std::string path;
    std::shared_ptr<const std::string> bytes;
    std::string sha256;
    std::string git_sha1;
    bool lfs = false;
  };
  struct Repo {
    std::string commit;
    std::vector<File> files;
  };

  void serve_api(const httplib::Request& request, httplib::Response& response);
  void serve_resolve(const httplib::Request& request, httplib::Response& response);
  void serve_cdn(const httplib::Request& request, httplib::Response& response);
  void serve_bytes(const File& file, httplib::Response& response);
  bool refuse_access(const std::string& repo, const httplib::Request& request,
                     httplib::Response& response);
  void log(const std::string& server, const httplib::Request& request);

  httplib::Server hub_;
  httplib::Server cdn_;
  int hub_port_ = 0;
  int cdn_port_ = 0;
  std::thread hub_thread_;
  std::thread cdn_thread_;
  std::atomic<bool> stopping_{false};

  mutable std::mutex mutex_;
  std::map<std::string, Repo> repos_;
  std::map<std::string, std::string> private_tokens_;
  std::set<std::string> gated_;
  bool hide_unknown_ = false;
  bool omit_metadata_ = false;
  std::map<std::string, uint64_t> cut_next_;
  std::set<std::string> corrupt_;
  std::set<std::string> stall_;
  int api_failures_left_ = 0;
  int api_failure_status_ = 500;
  std::vector<LoggedRequest> log_;
};

}  // namespace memembed::test
