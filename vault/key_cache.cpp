#include "vault/key_cache.hpp"

#include <keyutils.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/fault.hpp"

namespace pb::vault::key_cache {
namespace {

// Possessor: everything; same uid: view, read, search. Not setattr: nothing of
// this uid but the possessor may change its timeout or permissions.
constexpr key_perm_t k_perm = KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ | KEY_USR_SEARCH;

/// Whether key `id` is a "user" key of this uid with exactly our permissions.
bool described_as_ours(key_serial_t id) {
  char* raw = nullptr;
  if (keyctl_describe_alloc(id, &raw) < 0 || raw == nullptr) return false;
  std::string d(raw);
  std::free(raw);
  // "type;uid;gid;perm;description"
  unsigned uid = 0, gid = 0, perm = 0;
  char type[32] = {};
  if (std::sscanf(d.c_str(), "%31[^;];%u;%u;%x;", type, &uid, &gid, &perm) != 4) return false;
  return std::string_view(type) == "user" && uid == ::getuid() && perm == k_perm;
}

/// The key's timeout from /proc/keys, which lists keys this process may view.
std::optional<std::uint64_t> timeout_of(key_serial_t id) {
  std::ifstream keys("/proc/keys");
  char serial[16];
  std::snprintf(serial, sizeof serial, "%08x", static_cast<unsigned>(id));
  for (std::string line; std::getline(keys, line);) {
    std::istringstream fields(line);
    std::string s, flags, usage, timeout;
    fields >> s >> flags >> usage >> timeout;
    if (s == serial) return parse_proc_timeout(timeout);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::uint64_t> parse_proc_timeout(std::string_view field) {
  if (field.size() < 2) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : field.substr(0, field.size() - 1)) {
    if (c < '0' || c > '9' || n > (std::uint64_t{1} << 40)) return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  switch (field.back()) {
    case 's':
      return n;
    case 'm':
      return n * 60;
    case 'h':
      return n * 3600;
    case 'd':
      return n * 86400;
    case 'w':
      return n * 604800;
    default:
      return std::nullopt;  // "perm", "expd"
  }
}

std::optional<SecureBytes> load(const std::string& description, std::chrono::seconds ttl) {
  key_serial_t id = keyctl_search(KEY_SPEC_USER_KEYRING, "user", description.c_str(), 0);
  if (id < 0 || !described_as_ours(id)) return std::nullopt;
  // /proc/keys rounds down to the unit it shows: a key store() made is never over the TTL.
  const auto left = timeout_of(id);
  if (!left || *left > static_cast<std::uint64_t>(ttl.count())) return std::nullopt;
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
  // The timeout first: once setattr is dropped from the permissions, only the possessor could set it.
  if (keyctl_set_timeout(id, static_cast<unsigned>(ttl.count())) != 0 || keyctl_setperm(id, k_perm) != 0 ||
      keyctl_link(id, KEY_SPEC_USER_KEYRING) != 0)
    keyctl_revoke(id);
  keyctl_unlink(id, KEY_SPEC_PROCESS_KEYRING);
}

void revoke(const std::string& description) {
  key_serial_t id = keyctl_search(KEY_SPEC_USER_KEYRING, "user", description.c_str(), 0);
  if (id >= 0) keyctl_revoke(id);
}

}  // namespace pb::vault::key_cache
