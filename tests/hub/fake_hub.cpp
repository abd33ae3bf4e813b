#include "hub/fake_hub.h"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

namespace memembed::test {

namespace fs = std::filesystem;

namespace {

std::string digest_hex(const EVP_MD* algorithm, const std::string& prefix, const std::string& bytes) {
  unsigned char value[EVP_MAX_MD_SIZE];
  unsigned length = 0;
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  EVP_DigestInit_ex(context, algorithm, nullptr);
  EVP_DigestUpdate(context, prefix.data(), prefix.size());
  EVP_DigestUpdate(context, bytes.data(), bytes.size());
  EVP_DigestFinal_ex(context, value, &length);
  EVP_MD_CTX_free(context);
  static const char* digits = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < length; ++i) {
    hex.push_back(digits[value[i] >> 4]);
    hex.push_back(digits[value[i] & 15]);
  }
  return hex;
}

void error_answer(httplib::Response& response, int status, const std::string& code,
                  const std::string& message) {
  response.status = status;
  if (!code.empty()) response.set_header("X-Error-Code", code);
  response.set_header("X-Error-Message", message);
  response.set_content(nlohmann::json{{"error", message}}.dump(), "application/json");
}

}  // namespace

std::string sha256_hex(const std::string& bytes) { return digest_hex(EVP_sha256(), "", bytes); }

std::string git_blob_sha1_hex(const std::string& bytes) {
  std::string header = "blob " + std::to_string(bytes.size());
  header.push_back('\0');
  return digest_hex(EVP_sha1(), header, bytes);
}

std::string read_file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

FakeHub::FakeHub() {
  // Requests are logged on arrival: a server-side logger runs after the client already has its
  // answer, so a test could look at the log before the entry lands.
  hub_.Get(R"(/api/models/([^/]+/[^/]+)/revision/(.+))",
           [this](const httplib::Request& q, httplib::Response& r) { log("hub", q); serve_api(q, r); });
  hub_.Get(R"(/([^/]+/[^/]+)/resolve/([^/]+)/(.+))",
           [this](const httplib::Request& q, httplib::Response& r) { log("hub", q); serve_resolve(q, r); });
  cdn_.Get(R"(/blobs/([0-9a-f]{64}))",
           [this](const httplib::Request& q, httplib::Response& r) { log("cdn", q); serve_cdn(q, r); });

  hub_port_ = hub_.bind_to_any_port("127.0.0.1");
  cdn_port_ = cdn_.bind_to_any_port("127.0.0.1");
  if (hub_port_ <= 0 || cdn_port_ <= 0) throw std::runtime_error("fake hub: cannot bind 127.0.0.1");
  hub_thread_ = std::thread([this] { hub_.listen_after_bind(); });
  cdn_thread_ = std::thread([this] { cdn_.listen_after_bind(); });
  // stop() is a no-op until the accept loop runs, so the destructor could otherwise hang.
  while (!hub_.is_running() || !cdn_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

FakeHub::~FakeHub() {
  stopping_ = true;  // releases stalled responses
  hub_.stop();
  cdn_.stop();
  hub_thread_.join();
  cdn_thread_.join();
}

std::string FakeHub::endpoint() const { return "http://127.0.0.1:" + std::to_string(hub_port_); }

void FakeHub::add_repo(const std::string& repo, const fs::path& source, const std::string& commit,
                       uint64_t lfs_threshold) {
  Repo entry;
  entry.commit = commit;
  for (const auto& item : fs::recursive_directory_iterator(source)) {
    if (!item.is_regular_file()) continue;
    File file;
    file.path = fs::relative(item.path(), source).generic_string();
    file.bytes = std::make_shared<const std::string>(read_file_bytes(item.path()));
    file.sha256 = sha256_hex(*file.bytes);
    file.git_sha1 = git_blob_sha1_hex(*file.bytes);
    file.lfs = file.bytes->size() >= lfs_threshold;
    entry.files.push_back(std::move(file));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  repos_[repo] = std::move(entry);
}

void FakeHub::make_private(const std::string& repo, const std::string& token) {
  std::lock_guard<std::mutex> lock(mutex_);
  private_tokens_[repo] = token;
}

void FakeHub::make_gated(const std::string& repo) {
  std::lock_guard<std::mutex> lock(mutex_);
  gated_.insert(repo);
}

void FakeHub::hide_unknown_repos(bool hide) {
  std::lock_guard<std::mutex> lock(mutex_);
  hide_unknown_ = hide;
}

void FakeHub::omit_file_metadata(bool omit) {
  std::lock_guard<std::mutex> lock(mutex_);
  omit_metadata_ = omit;
}

void FakeHub::cut_next_response(const std::string& path, uint64_t after_total_bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  cut_next_[path] = after_total_bytes;
}

void FakeHub::corrupt(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  corrupt_.insert(path);
}

void FakeHub::stall(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  stall_.insert(path);
}

void FakeHub::fail_next_api_calls(int count, int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  api_failures_left_ = count;
  api_failure_status_ = status;
}

std::vector<LoggedRequest> FakeHub::requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return log_;
}

void FakeHub::clear_requests() {
  std::lock_guard<std::mutex> lock(mutex_);
  log_.clear();
}

void FakeHub::log(const std::string& server, const httplib::Request& request) {
  LoggedRequest entry;
  entry.server = server;
  entry.path = request.path;
  for (const auto& [key, value] : request.params) {
    if (!entry.query.empty()) entry.query += '&';
    entry.query += key + "=" + value;
  }
  entry.range = request.get_header_value("Range");
  entry.authorization = request.get_header_value("Authorization");
  std::lock_guard<std::mutex> lock(mutex_);
  log_.push_back(std::move(entry));
}

// Called with mutex_ held.
bool FakeHub::refuse_access(const std::string& repo, const httplib::Request& request,
                            httplib::Response& response) {
  if (!repos_.count(repo)) {
    if (hide_unknown_) error_answer(response, 401, "RepoNotFound", "Repository not found");
    else error_answer(response, 404, "RepoNotFound", "Repository not found");
    return true;
  }
  const auto token = private_tokens_.find(repo);
  if (token != private_tokens_.end() &&
      request.get_header_value("Authorization") != "Bearer " + token->second) {
    error_answer(response, 401, "", "Invalid credentials in Authorization header");
    return true;
  }
  if (gated_.count(repo)) {
    error_answer(response, 403, "GatedRepo",
                 "Access to model " + repo + " is restricted. You must have access to it and be "
                 "authenticated to access it.");
    return true;
  }
  return false;
}

void FakeHub::serve_api(const httplib::Request& request, httplib::Response& response) {
  const std::string repo = request.matches[1];
  const std::string revision = request.matches[2];
  std::lock_guard<std::mutex> lock(mutex_);
  if (api_failures_left_ > 0) {
    --api_failures_left_;
    error_answer(response, api_failure_status_, "", "temporarily unavailable");
    return;
  }
  if (refuse_access(repo, request, response)) return;
  const Repo& entry = repos_.at(repo);
  if (revision != "main" && revision != entry.commit) {
    error_answer(response, 404, "RevisionNotFound", "Invalid rev id: " + revision);
    return;
  }
  const bool blobs = request.get_param_value("blobs") == "true" && !omit_metadata_;
  nlohmann::json siblings = nlohmann::json::array();
  for (const File& file : entry.files) {
    nlohmann::json sibling = {{"rfilename", file.path}};
    if (blobs) {
      sibling["size"] = file.bytes->size();
      if (file.lfs) {
        // For an LFS file the git blob is the small pointer file, not the content.
        const std::string pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:" +
                                    file.sha256 + "\nsize " + std::to_string(file.bytes->size()) + "\n";
        sibling["blobId"] = git_blob_sha1_hex(pointer);
        sibling["lfs"] = {{"sha256", file.sha256},
                          {"size", file.bytes->size()},
                          {"pointerSize", pointer.size()}};
      } else {
        sibling["blobId"] = file.git_sha1;
      }
    }
    siblings.push_back(std::move(sibling));
  }
  const nlohmann::json answer = {{"_id", "0123456789abcdef01234567"},
                                 {"id", repo},
                                 {"modelId", repo},
                                 {"sha", entry.commit},
                                 {"private", private_tokens_.count(repo) > 0},
                                 {"siblings", siblings}};
  response.set_content(answer.dump(), "application/json");
}

void FakeHub::serve_resolve(const httplib::Request& request, httplib::Response& response) {
  const std::string repo = request.matches[1];
  const std::string revision = request.matches[2];
  const std::string path = request.matches[3];
  std::lock_guard<std::mutex> lock(mutex_);
  if (refuse_access(repo, request, response)) return;
  const Repo& entry = repos_.at(repo);
  if (revision != "main" && revision != entry.commit) {
    error_answer(response, 404, "RevisionNotFound", "Invalid rev id: " + revision);
    return;
  }
  for (const File& file : entry.files) {
    if (file.path != path) continue;
    response.set_header("X-Repo-Commit", entry.commit);
    if (file.lfs) {
      response.set_header("X-Linked-Etag", "\"" + file.sha256 + "\"");
      response.set_header("X-Linked-Size", std::to_string(file.bytes->size()));
      response.set_header("ETag", "\"" + file.git_sha1 + "\"");
      response.set_redirect("http://127.0.0.1:" + std::to_string(cdn_port_) + "/blobs/" + file.sha256,
                            302);
      return;
    }
    response.set_header("ETag", "\"" + file.git_sha1 + "\"");
    serve_bytes(file, response);
    return;
  }
  error_answer(response, 404, "EntryNotFound", path + " does not exist on \"" + revision + "\"");
}

void FakeHub::serve_cdn(const httplib::Request& request, httplib::Response& response) {
  const std::string sha256 = request.matches[1];
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [name, repo] : repos_) {
    for (const File& file : repo.files) {
      if (file.sha256 == sha256) {
        serve_bytes(file, response);
        return;
      }
    }
  }
  response.status = 404;
}

// Called with mutex_ held. httplib slices the provider's output for Range requests; the provider
// applies the faults to absolute offsets so they act the same on first and resumed requests.
void FakeHub::serve_bytes(const File& file, httplib::Response& response) {
  if (file.bytes->empty()) {
    response.set_content("", "application/octet-stream");
    return;
  }
  std::optional<uint64_t> cut;
  if (const auto found = cut_next_.find(file.path); found != cut_next_.end()) {
    cut = found->second;
    cut_next_.erase(found);
  }
  const bool corrupt = corrupt_.count(file.path) > 0;
  const bool stall = stall_.count(file.path) > 0;
  auto bytes = file.bytes;
  std::atomic<bool>* stopping = &stopping_;
  response.set_content_provider(
      bytes->size(), "application/octet-stream",
      [bytes, cut, corrupt, stall, stopping](size_t offset, size_t length, httplib::DataSink& sink) {
        if (stall) {
          while (!stopping->load()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
          return false;
        }
        size_t end = offset + length;
        const bool cutting = cut && end > *cut;
        if (cutting) end = static_cast<size_t>(std::max<uint64_t>(*cut, offset));
        std::string chunk = bytes->substr(offset, end - offset);
        const size_t flipped = bytes->size() / 2;
        if (corrupt && flipped >= offset && flipped < end) chunk[flipped - offset] ^= 0x5a;
        if (!chunk.empty() && !sink.write(chunk.data(), chunk.size())) return false;
        return !cutting;  // false closes the connection before Content-Length bytes were sent
      });
}

}  // namespace memembed::test
