#include "vault/key_cache.hpp"

#include <keyutils.h>

#include <cstdlib>

#include "core/fault.hpp"

namespace pb::vault::key_cache {

std::optional<SecureBytes> load(const std::string& description) {
  key_serial_t id = keyctl_search(KEY_SPEC_USER_KEYRING, "user", description.c_str(), 0);
  if (id < 0) return std::nullopt;
  void* raw = nullptr;
  long n = keyctl_read_alloc(id, &raw);
  if (n < 0 || raw == nullptr) return std::nullopt;
  SecureBytes key(static_cast<std::uint8_t*>(raw), static_cast<std::uint8_t*>(raw) + n);
  secure_wipe(raw, static_cast<std::size_t>(n));
  std::free(raw);
  return key;
}

void store(const std::string& description, ByteSpan key, std::chrono::seconds ttl) {
  if (ttl.count() <= 0) return;
  // Made in this process's own keyring and linked into the user keyring only
  // once its permissions and timeout are set: a process killed in between
  // leaves nothing behind (its keyring goes with it), never a key that lives
  // until logout.
  key_serial_t id = add_key("user", description.c_str(), key.data(), key.size(), KEY_SPEC_PROCESS_KEYRING);
  if (id < 0) return;
  PB_CRASH_POINT("key_cache.added");
  // Possessor and same-uid processes only: the same boundary as the key file.
  if (keyctl_setperm(id, KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ | KEY_USR_SEARCH | KEY_USR_SETATTR) != 0 ||
      keyctl_set_timeout(id, static_cast<unsigned>(ttl.count())) != 0 || keyctl_link(id, KEY_SPEC_USER_KEYRING) != 0)
    keyctl_revoke(id);
  keyctl_unlink(id, KEY_SPEC_PROCESS_KEYRING);
}

void revoke(const std::string& description) {
  key_serial_t id = keyctl_search(KEY_SPEC_USER_KEYRING, "user", description.c_str(), 0);
  if (id >= 0) keyctl_revoke(id);
}

}  // namespace pb::vault::key_cache
