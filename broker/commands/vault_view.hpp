#pragma once
// What the commands share about the vault: how they open it, and what a
// machine without one is told. How entries are shown is vault/view.hpp.

#include <string>

#include "core/error.hpp"
#include "core/paths.hpp"
#include "vault/vault.hpp"
#include "vault/view.hpp"

namespace pb::broker::commands {

using vault::format_time;
using vault::mask_account;
using vault::previous_note;

/// PARA_BROKER_PASSPHRASE (or, for new passphrases, PARA_BROKER_NEW_PASSPHRASE
/// first), else the terminal without echo, else ErrorKind::locked.
vault::PassphraseSource terminal_passphrase_source();

/// Vault options from the command context's paths: passphrases from
/// terminal_passphrase_source(); PARA_BROKER_KEY_CACHE_TTL (seconds) sets how
/// long an unwrapped passphrase key stays cached.
vault::Options vault_options(const Paths& paths);

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
