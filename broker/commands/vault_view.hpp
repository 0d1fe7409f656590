#pragma once
// How credentials are shown by list, import and audit: masked accounts and
// readable times. Shared presentation, no secrets.

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "vault/vault.hpp"

namespace pb::broker::commands {

/// "jane.doe@example.com" -> "j***@example.com"; empty stays "-".
inline std::string mask_account(const std::string& account) {
  if (account.empty()) return "-";
  auto at = account.find('@');
  if (at == std::string::npos || at == 0) return account.substr(0, 1) + "***";
  return account.substr(0, 1) + "***" + account.substr(at);
}

/// Milliseconds since the epoch as UTC "YYYY-MM-DD HH:MM", or "-".
inline std::string format_time(std::optional<std::int64_t> ms) {
  if (!ms) return "-";
  std::time_t t = static_cast<std::time_t>(*ms / 1000);
  std::tm tm{};
  if (::gmtime_r(&t, &tm) == nullptr) return "-";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

/// When an entry's login was replaced and the replaced one is kept (list,
/// audit): one line saying so and how to put it back; empty when none is kept.
inline std::string previous_note(const vault::EntryMeta& m) {
  if (!m.previous) return {};
  return "the login of '" + m.name + "' was replaced on " + format_time(m.previous->replaced_at) + " UTC by one from " +
         m.source + "; 'para-broker vault restore " + m.name + "' puts back the one before (from " +
         m.previous->source + ")";
}

/// Vault options from the command context's paths.
inline vault::Options vault_options(const Paths& paths) {
  return vault::Options::from_paths(paths);
}

/// What a machine without a vault (or with an empty one) is told: by `list`,
/// and as the error of the commands that need a credential (exit 3).
inline constexpr const char* k_no_credentials =
    "no credentials stored; capture one with 'para-broker import --from-host' or 'para-broker login --image IMAGE'";

/// Opens the vault for a command that needs a credential: on a machine
/// without a vault yet, k_no_credentials (not_found), not an I/O error.
inline Result<vault::Vault> open_vault_with_credentials(const Paths& paths) {
  auto opts = vault_options(paths);
  if (!vault::Vault::exists(opts)) return fail(ErrorKind::not_found, k_no_credentials);
  return vault::Vault::open(opts);
}

}  // namespace pb::broker::commands
