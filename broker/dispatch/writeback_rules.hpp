#pragma once
// What of a session volume's login may go back into the vault (SPEC "Mount
// contract"): the volume was writable by whatever ran in the session's
// container, so its files are hostile. A write-back may update the login it
// came from and nothing else:
//
//   - only `claudeAiOauth` is taken, and of it only the fields Claude Code
//     keeps there (the tokens, expiresAt, scopes, plan and account fields, and
//     whatever the stored login already had); its other top-level keys
//     (mcpOAuth, pluginSecrets, …) must be the ones the vault put there, and
//     the vault's .claude.json (primaryApiKey, customApiKeyResponses,
//     oauthAccount) is never replaced from a volume;
//   - the account must be the stored one: the volume's .claude.json must
//     show the stored account (accountUuid, else e-mail), and the
//     credentials' own accountUuid, when present, must agree; the account
//     fields themselves (accountUuid, organizationUuid) are never taken. Both
//     files were writable by the container, so this catches a login of another
//     account that says so (a re-login inside the session), not one that lies:
//     a token cannot be tied to its account without asking Anthropic;
//   - expiresAt must be a whole number no later than now + 24 hours (access
//     tokens last about 8): a far expiry would otherwise win every later
//     comparison and block every genuine refresh;
//   - the tokens must be non-empty printable strings of bounded size.
//
// Anything else is refused: the vault keeps its login and the caller records
// the refusal in the access log.

#include <cstdint>
#include <optional>
#include <string>

#include "core/secure_buffer.hpp"
#include "vault/login_limits.hpp"

namespace pb::vault {
struct DecodedEntry;
struct EntryMeta;
}  // namespace pb::vault

namespace pb::broker::dispatch {

/// The longest access-token lifetime a write-back may claim, from now.
inline constexpr std::int64_t k_max_token_lifetime_ms = vault::k_max_token_lifetime_ms;

struct WritebackDecision {
  enum class Verdict {
    not_newer,  ///< nothing to write back: the stored login is as new or newer
    accept,     ///< `credentials` goes into the vault
    refuse,     ///< hostile or foreign: `reason` says why; the vault keeps its login
  };
  Verdict verdict = Verdict::not_newer;
  SecureBytes credentials;  ///< accept: the stored .credentials.json carrying the volume's login
  std::optional<std::int64_t> expires_at;
  std::string reason;    ///< refuse: one sentence without secrets
  std::string note;      ///< accept: what was left out (unknown login fields), or empty
  bool differs = false;  ///< not_newer: the volume holds another login than the vault's, expiring no later
  /// refuse: the only objection is that no .claude.json showed the account
  /// (the caller may know there was none to show)
  bool account_unshown = false;
};

/// expiresAt of a credentials file, when it parses and holds a whole number;
/// says only which login looks newer, never decides a write-back alone.
std::optional<std::int64_t> claimed_expiry(ByteSpan credentials);

/// The stored login's expiry as write-back compares it: a stored expiry past
/// now + k_max_token_lifetime_ms (a poisoned vault) counts as none, so that a
/// believable login can replace it.
std::optional<std::int64_t> believable_expiry(std::optional<std::int64_t> stored, std::int64_t now_ms);

/// Why a session's .claude.json shows another account than the stored one,
/// or none (an object without `oauthAccount`); empty when it shows the stored
/// one or cannot tell (nullptr: absent, unreadable).
std::string other_account_shown(const vault::EntryMeta& stored, const SecureBytes* session_claude_json);

/// Judges a volume's login against the entry it came from. `volume_claude_json`
/// is the volume's .claude.json (nullptr when absent or unreadable); it is read
/// only for the account.
WritebackDecision judge_writeback(const vault::DecodedEntry& stored, ByteSpan volume_credentials,
                                  const SecureBytes* volume_claude_json, std::int64_t now_ms);

}  // namespace pb::broker::dispatch
