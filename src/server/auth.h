// Who may call what: agents' API keys (--api-keys-file) and the admin token (--admin-token-file).
//
// Secrets are kept only as SHA-256 digests and compared with CRYPTO_memcmp over every entry, so a
// comparison takes the same time whatever the presented token shares with a real one.
#pragma once

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace memembed::server {

using Digest = std::array<unsigned char, 32>;

// The token of an `Authorization: Bearer <token>` header value; nullopt for any other form.
std::optional<std::string> bearer_token(std::string_view authorization);

// Lines "agent_id key" (blank lines and lines starting with '#' are skipped). Errors name the file
// and line: a line without exactly two fields, a key shorter than 16 characters, a key listed twice.
class ApiKeys {
 public:
  static ApiKeys load(const std::filesystem::path& path);
  // The agent the key belongs to; nullopt for an unknown key.
  std::optional<std::string> agent_for(std::string_view key) const;
  size_t size() const { return entries_.size(); }

 private:
  std::vector<std::pair<Digest, std::string>> entries_;
};

// The admin bearer token: the file's content without surrounding whitespace (16+ characters).
class AdminToken {
 public:
  static AdminToken load(const std::filesystem::path& path);
  bool matches(std::string_view token) const;

 private:
  Digest digest_{};
};

}  // namespace memembed::server
