#pragma once
// Captured login state -> what goes into a vault entry. Every capture path
// (a directory, the host, a container, an image) ends here with two byte
// strings; this is where hostile JSON is bounded and reduced.

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "core/secure_buffer.hpp"

namespace pb::vault {

inline constexpr std::uint64_t k_max_credentials_json = 1u << 20;  ///< .credentials.json
inline constexpr std::uint64_t k_max_claude_json = 256u << 20;     ///< .claude.json, streamed
inline constexpr std::uint64_t k_max_login_value = 256u << 10;     ///< one kept key's value
inline constexpr std::size_t k_max_json_depth = 64;

/// The login state as found, before it is stored.
struct Capture {
  SecureBytes credentials_json;  ///< whole .credentials.json; empty when there is none (API-key login)
  SecureBytes claude_json;       ///< .claude.json, whole or already reduced; empty when there is none
  std::string source;            ///< "dir:/path", "host:/path", "container:<id>", "image:<ref>"
};

/// The keys of .claude.json that login needs (CLAUDE-CODE-FACTS.md); the rest
/// is the user's history and never enters the vault.
inline constexpr const char* k_login_keys[] = {"hasCompletedOnboarding", "oauthAccount", "primaryApiKey",
                                               "customApiKeyResponses"};

/// Streams a .claude.json and keeps only k_login_keys, in bounded memory:
/// refuses (ErrorKind::unsafe_input) input over `max_input` bytes, nesting
/// deeper than k_max_json_depth, a kept value over k_max_login_value, any
/// single token over 1 MiB, or anything that is not one JSON object.
Result<SecureBytes> reduce_claude_json(std::istream& in, std::uint64_t max_input = k_max_claude_json);
Result<SecureBytes> reduce_claude_json(ByteSpan in, std::uint64_t max_input = k_max_claude_json);

/// What a capture is, derived from its (reduced) files; never holds more secret
/// than `secret` (for the keyed fingerprint).
struct LoginSummary {
  std::string kind;     ///< "oauth", "api-key" or "setup-token"
  std::string account;  ///< oauthAccount.emailAddress
  std::string account_uuid;
  std::string identity;  ///< "uuid:…", "email:…" or empty (then the name decides)
  std::string plan;
  std::optional<std::int64_t> expires_at;
  SecureBytes secret;  ///< access token or API key, only to fingerprint it
};

/// Validates a capture (both JSON files bounded and well-formed) and summarises
/// it; `claude_json` must already be reduced. not_found when it holds no login.
Result<LoginSummary> summarise_login(ByteSpan credentials_json, ByteSpan reduced_claude_json);

/// Reads `home/.claude/.credentials.json` and `home/.claude.json` (or, with
/// `config_dir`, `config_dir/.credentials.json` and `config_dir/.claude.json`,
/// as Claude Code does under CLAUDE_CONFIG_DIR), reducing .claude.json while
/// reading. Files that are absent are left empty; not_found if both are.
Result<Capture> capture_from_dir(const std::filesystem::path& home,
                                 const std::optional<std::filesystem::path>& config_dir, std::string source);

}  // namespace pb::vault
