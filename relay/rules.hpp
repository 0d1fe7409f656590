#pragma once
// What the relay may copy from one user's login volume into another's
// (docs/dispatch.md, "What would close the gap across users"). Every login
// volume is writable by every session of its user, so every file is hostile,
// and the relay hands one user's file to every other user. The rules are
// write-back's (broker/dispatch/writeback_rules.hpp), restated as pure functions
// here because the relay is a static executable that links neither OpenSSL
// nor the vault:
//
//   - a login is `claudeAiOauth` of a JSON object; of it only the fields
//     Claude Code keeps there move (k_login_fields), the account fields
//     (accountUuid, organizationUuid) never: the target keeps its own;
//   - the target keeps every other top-level key of its own file (mcpOAuth,
//     pluginSecrets, …): a session cannot plant anything into another user's
//     file but a login;
//   - accessToken and refreshToken must be non-empty printable ASCII of at
//     most k_max_token bytes;
//   - expiresAt must be a whole number no later than now + 24 hours: a far
//     expiry would win every later comparison and block every genuine refresh;
//   - the other moving fields have their types and bounds: scopes a list of at
//     most k_max_scopes printable strings of at most k_max_short_field bytes,
//     subscriptionType and rateLimitTier such a string or null, isMax a
//     boolean, refreshTokenExpiresAt a whole number or null (a field of
//     another type, e.g. floats that print longer than they are read, could
//     inflate the target's file past the read limit and lose its keys);
//   - with an account uuid, the login's accountUuid, when present, must be it
//     (case aside). Claude Code's .credentials.json normally carries no
//     accountUuid (the account lives in each session's .claude.json, which the
//     relay does not see), so this check alone does not keep another account's
//     login out: see docs/dispatch.md, the relay paragraph;
//   - a login is newer than a target's when its token pair differs and its
//     expiresAt is later. A target whose file breaks a rule holds no login.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "vault/login_limits.hpp"  // header only

namespace pb::relay {

/// The longest access-token lifetime a login may claim, from now (write-back's).
inline constexpr std::int64_t k_max_token_lifetime_ms = vault::k_max_token_lifetime_ms;
/// The largest .credentials.json the relay reads (a login is about 500 bytes).
inline constexpr std::size_t k_max_file_size = 64u << 10;
/// The longest token the relay accepts (write-back's bound).
inline constexpr std::size_t k_max_token = vault::k_max_token;
/// The most scopes a login may list.
inline constexpr std::size_t k_max_scopes = 32;
/// The longest scope, subscriptionType or rateLimitTier.
inline constexpr std::size_t k_max_short_field = 128;
/// The deepest JSON nesting the relay parses.
inline constexpr int k_max_json_depth = 64;

/// Overwrites memory in a way the optimiser cannot remove.
void wipe(void* data, std::size_t size) noexcept;
/// Wipes every string value of `j` in place (object keys are not secret).
void wipe_json(nlohmann::json& j) noexcept;

/// A std::string holding a secret, wiped when it is destroyed or reassigned.
class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string s) : m_s(std::move(s)) {}
  SecretString(const SecretString&) = default;
  SecretString(SecretString&& o) noexcept : m_s(std::move(o.m_s)) { o.clear(); }
  SecretString& operator=(SecretString o) noexcept {
    clear();
    m_s.swap(o.m_s);
    return *this;
  }
  ~SecretString() { clear(); }
  void clear() noexcept {
    wipe(m_s.data(), m_s.capacity());
    m_s.clear();
  }
  const std::string& str() const noexcept { return m_s; }
  std::string& str() noexcept { return m_s; }
  std::string_view view() const noexcept { return m_s; }
  bool operator==(const SecretString& o) const noexcept { return m_s == o.m_s; }

 private:
  std::string m_s;
};

/// An acceptable login: what of one file's claudeAiOauth may move.
struct Login {
  Login() = default;
  Login(const Login&) = default;
  Login(Login&&) = default;
  Login& operator=(const Login&) = default;
  Login& operator=(Login&&) = default;
  ~Login() { wipe_json(fields); }

  /// The moving fields (k_login_fields but the account fields) as the file had them.
  nlohmann::json fields = nlohmann::json::object();
  std::int64_t expires_at = 0;

  /// Whether both tokens equal `other`'s.
  bool same_pair(const Login& other) const;
};

/// What a .credentials.json holds: an acceptable login, or why it is not one.
struct Judgement {
  std::optional<Login> login;
  std::string reason;  ///< no login: one phrase without secrets ("its expiresAt is not a whole number")
};

/// Judges the text of a .credentials.json. `account_uuid` empty: any account.
Judgement judge_login(std::string_view file, std::int64_t now_ms, std::string_view account_uuid);

/// Whether `source` should replace what the target holds: the target has no
/// acceptable login, or another token pair expiring earlier.
bool is_newer(const Login& source, const Judgement& target);

/// The text the target's .credentials.json gets: `target_file` (nullopt: the
/// target has no file; then an empty object) with the moving fields of
/// claudeAiOauth taken from `source`. The target's other top-level keys, its
/// account fields, and fields of its login the relay does not know, stay.
/// nullopt when `target_file` is not a JSON object: a file being rewritten in
/// place, or garbage, is left alone rather than rebuilt without its keys. The
/// caller refuses a result larger than k_max_file_size.
std::optional<SecretString> compose(const Login& source, std::optional<std::string_view> target_file);

/// An expiry for the log: "2026-12-06T15:00:00Z".
std::string utc(std::int64_t ms);

}  // namespace pb::relay
