#pragma once
// A bounded-time cache of the unwrapped data key in the Linux kernel keyring
// (keyutils), so that parallel dispatches with the passphrase provider do not
// each pay scrypt. The key lives in the user keyring under
// "para-broker:v1:<vault id>:<header digest>", readable by this uid only,
// and the kernel drops it when its timeout (TTL) expires. A new header (after
// rekey) has a new digest, and rekey revokes the old key.

#include <chrono>
#include <optional>
#include <string>

#include "core/secure_buffer.hpp"

namespace pb::vault::key_cache {

/// The cached key for `description`, if the keyring holds it.
std::optional<SecureBytes> load(const std::string& description);
/// Stores `key` for `ttl`; does nothing if the keyring is unavailable (the
/// caller then pays the KDF next time, nothing else changes).
void store(const std::string& description, ByteSpan key, std::chrono::seconds ttl);
/// Revokes the cached key, if any.
void revoke(const std::string& description);

}  // namespace pb::vault::key_cache
