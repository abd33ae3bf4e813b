#include "hub_client.h"

#include <curl/curl.h>

#include <thread>

namespace memembed::hub {

namespace {

Error network(const std::string& message) { return Error(ErrorKind::Network, message); }

std::string header_or_empty(const HttpResult& result, const char* name) {
  const std::string* value = result.final_head().header(name);
  return value ? *value : std::string();
}

// The hub explains refusals in X-Error-Message, and some endpoints also in a JSON {"error": ...}.
std::string server_explanation(const HttpResult& result) {
  std::string message = header_or_empty(result, "x-error-message");
  if (message.empty() && !result.body.empty() && result.body.front() == '{') {
    const Json body = Json::parse(result.body, nullptr, false);
    if (body.is_object() && body.contains("error") && body["error"].is_string())
      message = body["error"].get<std::string>();
  }
  return message.empty() ? std::string() : " (the hub says: " + message + ")";
}

// Sizes are non-negative integers; nlohmann stores some as signed, so accept either storage.
std::optional<uint64_t> byte_count(const Json& object, const char* field, const std::string& where) {
  if (!object.contains(field)) return std::nullopt;
  const Json& value = object[field];
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0) return static_cast<uint64_t>(value.get<int64_t>());
  throw network(fmt::format("{}: \"{}\" is not a byte count", where, field));
}

bool is_hex(const std::string& text, size_t length) {
  if (text.size() != length) return false;
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  }
  return true;
}

}  // namespace

std::chrono::milliseconds RetryPolicy::delay_before(int attempt) const {
  const int doublings = std::min(attempt - 1, 6);
  return delay * (1 << std::max(doublings, 0));
}

bool is_transient_status(long status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

bool is_safe_repo_path(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.find('\\') != std::string::npos ||
      path.find('\0') != std::string::npos) {
    return false;
  }
  size_t begin = 0;
  while (begin <= path.size()) {
    size_t end = path.find('/', begin);
    if (end == std::string::npos) end = path.size();
    const std::string_view segment(path.data() + begin, end - begin);
    if (segment.empty() || segment == "." || segment == "..") return false;
    begin = end + 1;
  }
  return true;
}

RepoSnapshot parse_snapshot(const Json& answer, const std::string& repo,
                            const std::string& revision, const std::string& source) {
  if (!answer.is_object()) throw network(source + ": the hub's answer is not a JSON object");
  RepoSnapshot snapshot;
  snapshot.repo = repo;
  snapshot.revision = revision;
  if (answer.contains("sha") && answer["sha"].is_string()) {
    snapshot.commit = answer["sha"].get<std::string>();
  } else {
    // Without a commit the files come from the revision itself; a moving branch could then mix
    // two commits, which the per-file hashes still catch.
    snapshot.commit = revision;
  }
  if (!answer.contains("siblings") || !answer["siblings"].is_array())
    throw network(source + ": the hub's answer has no \"siblings\" file list");
  const Json& siblings = answer["siblings"];
  for (size_t i = 0; i < siblings.size(); ++i) {
    const Json& entry = siblings[i];
    const std::string where = fmt::format("{}: siblings[{}]", source, i);
    if (!entry.is_object() || !entry.contains("rfilename") || !entry["rfilename"].is_string())
      throw network(where + ": no \"rfilename\" string");
    RepoFile file;
    file.path = entry["rfilename"].get<std::string>();
    if (!is_safe_repo_path(file.path))
      throw network(fmt::format("{}: refusing the path '{}', which would leave the model directory",
                                where, file.path));
    file.size = byte_count(entry, "size", where);
    if (entry.contains("blobId") && entry["blobId"].is_string()) {
      file.blob_id = entry["blobId"].get<std::string>();
      if (!is_hex(file.blob_id, 40)) throw network(where + ": \"blobId\" is not a 40-digit sha1");
    }
    if (entry.contains("lfs") && entry["lfs"].is_object()) {
      const Json& lfs = entry["lfs"];
      file.lfs = true;
      if (lfs.contains("sha256") && lfs["sha256"].is_string()) {
        file.sha256 = lfs["sha256"].get<std::string>();
        if (!is_hex(file.sha256, 64)) throw network(where + ": \"lfs.sha256\" is not a sha256");
      }
      if (const auto lfs_size = byte_count(lfs, "size", where + ".lfs")) {
        if (file.size && *file.size != *lfs_size)
          throw network(fmt::format("{}: \"size\" {} and \"lfs.size\" {} disagree", where,
                                    *file.size, *lfs_size));
        file.size = lfs_size;
      }
    }
    snapshot.files.push_back(std::move(file));
  }
  return snapshot;
}

HubClient::HubClient(HttpClient& http, std::string endpoint, std::string repo, RetryPolicy retry)
    : http_(http), endpoint_(std::move(endpoint)), repo_(std::move(repo)), retry_(retry) {
  while (!endpoint_.empty() && endpoint_.back() == '/') endpoint_.pop_back();
}

std::string HubClient::api_url(const std::string& revision) const {
  // The revision is one path segment even when it contains '/' (refs/pr/1).
  return fmt::format("{}/api/models/{}/revision/{}?blobs=true", endpoint_, repo_,
                     url_escape(revision));
}

std::string HubClient::file_url(const std::string& commit, const std::string& path) const {
  std::string escaped;
  size_t begin = 0;
  while (begin <= path.size()) {
    size_t end = path.find('/', begin);
    if (end == std::string::npos) end = path.size();
    if (!escaped.empty()) escaped.push_back('/');
    escaped += url_escape(std::string_view(path).substr(begin, end - begin));
    begin = end + 1;
  }
  return fmt::format("{}/{}/resolve/{}/{}", endpoint_, repo_, url_escape(commit), escaped);
}

RepoSnapshot HubClient::snapshot(const std::string& revision) {
  const std::string url = api_url(revision);
  for (int attempt = 1;; ++attempt) {
    HttpResult result = http_.get(url);
    const bool transient = result.completed() ? is_transient_status(result.status())
                                              : result.transient_transport_failure();
    if (result.completed() && result.status() == 200) {
      const Json answer = Json::parse(result.body, nullptr, false);
      if (answer.is_discarded())
        throw network(fmt::format("{}: the hub's answer is not valid JSON (starts with '{}')", url,
                                  result.body.substr(0, 60)));
      return parse_snapshot(answer, repo_, revision, url);
    }
    if (!transient || attempt > retry_.retries) throw failure(result, revision, "");
    std::this_thread::sleep_for(retry_.delay_before(attempt));
  }
}

Error HubClient::failure(const HttpResult& result, const std::string& revision,
                         const std::string& path) const {
  const bool have_token = !http_.settings().token.empty();
  if (!result.completed()) {
    const auto code = static_cast<CURLcode>(result.curl_code);
    if (code == CURLE_COULDNT_RESOLVE_HOST || code == CURLE_COULDNT_CONNECT ||
        code == CURLE_COULDNT_RESOLVE_PROXY) {
      return network(fmt::format(
          "cannot reach {} ({}). Check the network connection, or the endpoint (--endpoint or "
          "HF_ENDPOINT). Models pulled earlier work offline: --model {}",
          endpoint_, result.transport_error, repo_));
    }
    if (code == CURLE_OPERATION_TIMEDOUT) {
      return network(fmt::format("{}: timed out ({}); the connection stalled for {} s or could "
                                 "not be opened within {} s",
                                 result.url, result.transport_error, http_.settings().stall_timeout_s,
                                 http_.settings().connect_timeout_s));
    }
    return network(fmt::format("{}: {}", result.url, result.transport_error));
  }

  const long status = result.status();
  const std::string error_code = header_or_empty(result, "x-error-code");
  const std::string says = server_explanation(result);
  if (error_code == "RepoNotFound" || (status == 404 && error_code.empty() && path.empty())) {
    std::string hint;
    if (status == 401 && !have_token) {
      hint = " If it is private, pass a token that can read it (--token or HF_TOKEN).";
    } else if (have_token) {
      hint = " If it is private, check that the token given can read it.";
    }
    return Error(ErrorKind::NotFound,
                 fmt::format("model repository '{}' was not found on {} (HTTP {}){}. Check the "
                             "spelling ORG/NAME.{}",
                             repo_, endpoint_, status, says, hint));
  }
  if (error_code == "RevisionNotFound") {
    return Error(ErrorKind::NotFound,
                 fmt::format("revision '{}' was not found in '{}' on {} (HTTP {}){}; --revision "
                             "takes a branch, tag or commit of the repository",
                             revision, repo_, endpoint_, status, says));
  }
  if (error_code == "EntryNotFound" || status == 404) {
    return Error(ErrorKind::NotFound,
                 fmt::format("'{}' is listed in {} at revision '{}' but the hub has no such file "
                             "(HTTP {}){}",
                             path, repo_, revision, status, says));
  }
  if (error_code == "GatedRepo") {
    return network(fmt::format(
        "'{}' is a gated model (HTTP {}){}: accept its conditions at {}/{} while logged in, then "
        "pass a token of that account with --token or HF_TOKEN",
        repo_, status, says, endpoint_, repo_));
  }
  if (status == 403) {
    return network(fmt::format(
        "access to '{}' was refused (HTTP 403){}: the token lacks access. If the model is gated, "
        "accept its conditions at {}/{} first",
        repo_, says, endpoint_, repo_));
  }
  if (status == 401) {
    return network(fmt::format(
        "'{}' needs authentication (HTTP 401){}: {}", repo_, says,
        have_token ? "the token given (--token or HF_TOKEN) was rejected or cannot read it"
                   : "it is private or gated; pass a token that can read it with --token or "
                     "HF_TOKEN"));
  }
  return network(fmt::format("{}: HTTP {}{}", result.url, status, says));
}

}  // namespace memembed::hub
