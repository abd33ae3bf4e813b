#include "model_cache.h"

#include "memembed/error.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace memembed::hub {

namespace fs = std::filesystem;

namespace {

constexpr const char* kLockName = ".memembed-pull.lock";

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::string(value) : std::string();
}

bool is_name_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

bool is_valid_name_part(std::string_view part) {
  if (part.empty() || part.size() > 96) return false;
  // No leading '.' or '-': keeps "..", hidden directories and option-like names out of paths.
  if (part.front() == '.' || part.front() == '-') return false;
  for (const char c : part) {
    if (!is_name_char(c)) return false;
  }
  return true;
}

std::string home_directory() {
  std::string home = environment("HOME");
  if (!home.empty()) return home;
  if (const passwd* entry = ::getpwuid(::getuid()); entry && entry->pw_dir) return entry->pw_dir;
  throw io_error("cannot find the home directory for the model cache; set MEMEMBED_CACHE");
}

// Lists the revisions of `repo` that have a complete pull, for "did you mean" in messages.
std::vector<std::string> cached_revisions(const std::string& repo) {
  std::vector<std::string> revisions;
  std::error_code ec;
  const fs::path repo_dir = cache_root() / repo;
  for (fs::directory_iterator it(repo_dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_directory() || !fs::exists(it->path() / kManifestName)) continue;
    if (auto manifest = read_manifest(it->path())) revisions.push_back(manifest->revision);
  }
  return revisions;
}

}  // namespace

fs::path cache_root() {
  const std::string explicit_root = environment("MEMEMBED_CACHE");
  if (!explicit_root.empty()) return fs::path(explicit_root);
  // The XDG spec says to ignore a relative XDG_CACHE_HOME.
  const std::string xdg = environment("XDG_CACHE_HOME");
  if (!xdg.empty() && fs::path(xdg).is_absolute()) return fs::path(xdg) / "memembed" / "models";
  return fs::path(home_directory()) / ".cache" / "memembed" / "models";
}

std::string revision_dir_name(const std::string& revision) {
  if (revision.empty() || revision == "." || revision == "..")
    throw invalid_input("'{}' is not a usable revision name", revision);
  std::string name;
  for (const char c : revision) {
    if (c == '%') name += "%25";
    else if (c == '/') name += "%2F";
    else if (c == '\0') throw invalid_input("a revision name cannot contain NUL");
    else name.push_back(c);
  }
  return name;
}

fs::path cache_dir(const std::string& repo, const std::string& revision) {
  if (!is_repo_id(repo)) throw invalid_input("'{}' is not a model id of the form ORG/NAME", repo);
  return cache_root() / repo / revision_dir_name(revision);
}

bool is_repo_id(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return false;
  return is_valid_name_part(text.substr(0, slash)) && is_valid_name_part(text.substr(slash + 1));
}

std::optional<ModelSpec> parse_model_spec(const std::string& spec) {
  ModelSpec parsed;
  const size_t at = spec.find('@');
  parsed.repo = spec.substr(0, at);
  if (at == std::string::npos) {
    parsed.revision = kDefaultRevision;
  } else {
    parsed.revision = spec.substr(at + 1);
    parsed.explicit_revision = true;
    if (parsed.revision.empty() || parsed.revision == "." || parsed.revision == "..") return std::nullopt;
  }
  if (!is_repo_id(parsed.repo)) return std::nullopt;
  return parsed;
}

std::string pull_command(const ModelSpec& spec) {
  std::string command = "memembed pull " + spec.repo;
  if (spec.revision != kDefaultRevision) command += " --revision " + spec.revision;
  return command;
}

fs::path resolve_model(const std::string& spec) {
  if (spec.empty()) throw invalid_input("no model given: expected a model directory or ORG/NAME");
  std::error_code ec;
  const fs::path as_path(spec);
  if (fs::is_directory(as_path, ec)) return as_path;
  if (fs::exists(as_path, ec))
    throw invalid_input("model '{}' is a file; expected a model directory or ORG/NAME", spec);

  const std::optional<ModelSpec> parsed = parse_model_spec(spec);
  if (!parsed)
    throw not_found("model directory '{}' does not exist (a model is a directory such as "
                    "./my-model, or a hub id ORG/NAME pulled with `memembed pull`)",
                    spec);

  const fs::path dir = cache_dir(parsed->repo, parsed->revision);
  if (fs::exists(dir / kManifestName, ec)) return dir;
  const std::string command = pull_command(*parsed);
  if (fs::exists(dir, ec))
    throw not_found("model '{}': its download in {} is incomplete; finish it with: {}", spec,
                    dir.string(), command);
  std::string others;
  for (const std::string& revision : cached_revisions(parsed->repo)) {
    others += others.empty() ? " Revisions already pulled: " : ", ";
    others += parsed->repo + "@" + revision;
  }
  if (!others.empty()) others += ".";
  throw not_found(
      "model '{}' is not a local directory and has not been pulled into the model cache ({}); "
      "memembed does not download models while loading them. Download it first with: {}{}",
      spec, cache_root().string(), command, others);
}

std::string default_endpoint() {
  std::string endpoint = environment("HF_ENDPOINT");
  if (endpoint.empty()) endpoint = kDefaultEndpoint;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  return endpoint;
}

std::optional<Manifest> read_manifest(const fs::path& dir) {
  const fs::path path = dir / kManifestName;
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  const Json json = read_json_file(path);
  const std::string where = path.string();
  Manifest manifest;
  manifest.repo = require_string(json, "repo", where);
  manifest.revision = require_string(json, "revision", where);
  manifest.commit = require_string(json, "commit", where);
  manifest.endpoint = optional_string(json, "endpoint", where).value_or("");
  if (!json.contains("files") || !json["files"].is_array())
    throw invalid_input("{}: files: expected an array", where);
  for (const Json& entry : json["files"]) {
    const std::string path_in_repo = require_string(entry, "path", where + ": files[]");
    ManifestEntry file;
    file.size = static_cast<uint64_t>(require_number(entry, "size", where + ": " + path_in_repo));
    file.sha256 = optional_string(entry, "sha256", where).value_or("");
    file.blob_id = optional_string(entry, "blob_id", where).value_or("");
    manifest.files[path_in_repo] = std::move(file);
  }
  return manifest;
}

void write_manifest(const fs::path& dir, const Manifest& manifest) {
  Json files = Json::array();
  for (const auto& [path, entry] : manifest.files) {
    Json item = {{"path", path}, {"size", entry.size}};
    if (!entry.sha256.empty()) item["sha256"] = entry.sha256;
    if (!entry.blob_id.empty()) item["blob_id"] = entry.blob_id;
    files.push_back(std::move(item));
  }
  const Json json = {{"repo", manifest.repo},       {"revision", manifest.revision},
                     {"commit", manifest.commit},   {"endpoint", manifest.endpoint},
                     {"files", std::move(files)}};
  write_json_file(dir / kManifestName, json);
}

void remove_manifest(const fs::path& dir) {
  std::error_code ec;
  fs::remove(dir / kManifestName, ec);
  if (ec) throw io_error("{}: cannot remove: {}", (dir / kManifestName).string(), ec.message());
}

DirectoryLock::DirectoryLock(const fs::path& dir) {
  const fs::path path = dir / kLockName;
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw io_error("{}: cannot open lock file: {}", path.string(), std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int saved = errno;
    ::close(fd_);
    fd_ = -1;
    if (saved == EWOULDBLOCK)
      throw io_error("another memembed pull is writing {} right now; wait for it to finish",
                     dir.string());
    throw io_error("{}: cannot lock: {}", path.string(), std::strerror(saved));
  }
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

}  // namespace memembed::hub
