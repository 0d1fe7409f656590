#pragma once
// A bounded-time cache of the unwrapped data key in the Linux kernel keyring
// (keyutils), so that parallel dispatches with the passphrase provider do not
// each pay scrypt. The key lives in the user keyring under
// "para-broker:v1:<vault id>:<header digest>", readable by this uid only,
// and the kernel drops it when its timeout (TTL) expires. A new header (after
// rekey or rotate) has a new digest, and rekey and rotate revoke the old key.
//
// Anything of this uid that reaches the user keyring (a container without a
// user namespace, for one) can add a key under that description: load() only
// returns a key that looks exactly like one store() made (type, owner,
// permissions, a timeout no longer than the TTL), and the vault then checks it
// against the header's key-check value before using it.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/secure_buffer.hpp"

namespace pb::vault::key_cache {

/// The cached key for `description`, if the keyring holds one that store()
/// could have made with `ttl` (owner, permissions, timeout checked).
std::optional<SecureBytes> load(const std::string& description, std::chrono::seconds ttl);
/// Stores `key` for `ttl`; does nothing if the keyring is unavailable (the
/// caller then pays the KDF next time, nothing else changes).
void store(const std::string& description, ByteSpan key, std::chrono::seconds ttl);
/// Revokes the cached key, if any.
void revoke(const std::string& description);

/// Seconds left of a /proc/keys timeout field ("4m", "59s", "perm", …); nullopt
/// when there is none ("perm") or it cannot be read.
std::optional<std::uint64_t> parse_proc_timeout(std::string_view field);

}  // namespace pb::vault::key_cache
