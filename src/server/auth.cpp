#include "auth.h"

#include "memembed/error.h"
#include "memembed/json_io.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <sstream>

namespace memembed::server {

namespace {

constexpr size_t kMinSecretLength = 16;

Digest digest_of(std::string_view secret) {
  Digest digest;
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), digest.data());
  return digest;
}

bool same_digest(const Digest& a, const Digest& b) { return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0; }

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

}  // namespace

std::optional<std::string> bearer_token(std::string_view authorization) {
  authorization = trim(authorization);
  constexpr std::string_view scheme = "bearer ";
  if (authorization.size() <= scheme.size()) return std::nullopt;
  for (size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != scheme[i]) return std::nullopt;
  }
  const std::string_view token = trim(authorization.substr(scheme.size()));
  if (token.empty()) return std::nullopt;
  return std::string(token);
}

ApiKeys ApiKeys::load(const std::filesystem::path& path) {
  std::istringstream lines(read_file(path));
  ApiKeys keys;
  std::string line;
  for (size_t number = 1; std::getline(lines, line); ++number) {
    const std::string_view content = trim(line);
    if (content.empty() || content.front() == '#') continue;
    std::istringstream fields{std::string(content)};
    std::string agent, key, extra;
    if (!(fields >> agent >> key) || (fields >> extra)) {
      throw invalid_input("{}:{}: expected \"agent_id key\" (two fields separated by spaces)", path.string(), number);
    }
    if (key.size() < kMinSecretLength) {
      throw invalid_input("{}:{}: the key of agent \"{}\" has {} characters; keys need at least {}", path.string(),
                          number, agent, key.size(), kMinSecretLength);
    }
    const Digest digest = digest_of(key);
    for (const auto& [existing, owner] : keys.entries_) {
      if (same_digest(existing, digest)) {
        throw invalid_input("{}:{}: the key of agent \"{}\" is already the key of agent \"{}\"", path.string(), number,
                            agent, owner);
      }
    }
    keys.entries_.emplace_back(digest, agent);
  }
  if (keys.entries_.empty()) throw invalid_input("{}: no \"agent_id key\" lines", path.string());
  return keys;
}

std::optional<std::string> ApiKeys::agent_for(std::string_view key) const {
  const Digest presented = digest_of(key);
  std::optional<std::string> agent;
  for (const auto& [digest, owner] : entries_) {  // no early exit: same work for every key
    if (same_digest(digest, presented)) agent = owner;
  }
  return agent;
}

AdminToken AdminToken::load(const std::filesystem::path& path) {
  const std::string content = read_file(path);
  const std::string_view token = trim(content);
  if (token.size() < kMinSecretLength) {
    throw invalid_input("{}: the admin token has {} characters; it needs at least {}", path.string(), token.size(),
                        kMinSecretLength);
  }
  AdminToken admin;
  admin.digest_ = digest_of(token);
  return admin;
}

bool AdminToken::matches(std::string_view token) const { return same_digest(digest_, digest_of(token)); }

}  // namespace memembed::server
