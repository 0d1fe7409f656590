#pragma once
// `import --from-host`: this machine's own Claude Code login. On Linux Claude
// Code keeps it in files (`~/.claude/.credentials.json` and `~/.claude.json`,
// or under CLAUDE_CONFIG_DIR); on macOS it keeps the credentials in the login
// Keychain as the generic password "Claude Code-credentials" and only
// `.claude.json` in a file. The Keychain item is read with
// `security find-generic-password -s "Claude Code-credentials" -w`: the secret
// comes back on the child's stdout through a pipe (core/process.hpp), its
// argv holds none, and its output is treated as hostile (bounded in size and
// time, then validated as the credentials file is).

#include <filesystem>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "core/process.hpp"
#include "core/secure_buffer.hpp"
#include "vault/capture.hpp"

namespace pb::broker::capture {

inline constexpr const char* k_keychain_service = "Claude Code-credentials";
/// `security` exits with this when no item matches (errSecItemNotFound).
inline constexpr int k_security_item_not_found = 44;

/// Where and how --from-host looks.
struct HostSource {
  std::filesystem::path home;
  std::optional<std::filesystem::path> config_dir;  ///< CLAUDE_CONFIG_DIR
  bool keychain = false;                            ///< the Keychain item first, then the files
  std::string security = "security";                ///< the program that reads the Keychain
  ChildLimits limits{vault::k_max_credentials_json + 1, std::chrono::seconds(120)};
};

/// From the environment: HOME, CLAUDE_CONFIG_DIR, and the Keychain on macOS;
/// PARA_BROKER_KEYCHAIN=1 or 0 turns it on or off on any platform.
Result<HostSource> host_source_from_environment();

/// The credentials JSON held by the Keychain item (`security`'s output, one
/// trailing newline dropped, hex decoded where `security` printed hex);
/// not_found when there is no such item, unsafe_input for anything else that
/// is not one bounded JSON object.
Result<SecureBytes> read_keychain_credentials(const HostSource& source);

/// The host's login: the Keychain item's credentials (when `keychain`) else
/// the credentials file, and the `.claude.json` beside them.
Result<vault::Capture> capture_host(const HostSource& source);

}  // namespace pb::broker::capture
