// The platform seam on Linux (core/platform.hpp): the key cache is the kernel
// keyring (keyutils), hardening is prctl(PR_SET_DUMPABLE) and RLIMIT_CORE.
//
// The key lives in the user keyring under the caller's description, readable
// by this uid only, and the kernel drops it when its timeout (TTL) expires.
// Anything of this uid that reaches the user keyring (a container without a
// user namespace, for one) can add a key under that description: load() only
// returns a key that looks exactly like one store() made (type, owner,
// permissions, a timeout no longer than the TTL), and the vault then checks it
// against the header's key-check value before using it.
#include <keyutils.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/fault.hpp"
#include "core/platform.hpp"

namespace pb::platform {

int spawn_closes_other_fds(posix_spawn_file_actions_t* actions, short* flags) noexcept {
  (void)flags;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  return ::posix_spawn_file_actions_addclosefrom_np(actions, 3);
#else
  (void)actions;
  return 0;
#endif
}

int socket_without_sigpipe(int fd) noexcept {
  (void)fd;  // Asio sends with MSG_NOSIGNAL
  return 0;
}
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
    if (s == serial) return detail::parse_proc_timeout(timeout);
  }
  return std::nullopt;
}

class KernelKeyring final : public KeyCache {
 public:
  std::string_view where() const noexcept override { return "the kernel keyring"; }

  std::optional<SecureBytes> load(const std::string& description, std::chrono::seconds ttl) override {
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

  void store(const std::string& description, ByteSpan key, std::chrono::seconds ttl) override {
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

  void revoke(const std::string& description) override {
    key_serial_t id = keyctl_search(KEY_SPEC_USER_KEYRING, "user", description.c_str(), 0);
    if (id >= 0) keyctl_revoke(id);
  }
};

}  // namespace

std::string_view name() noexcept {
  return "linux";
}

void harden_process() noexcept {
  // Keys and tokens live in this process's memory: no core file (abort() is
  // reachable, e.g. when the CSPRNG fails) and no ptrace or /proc/<pid>/mem by
  // other processes of this uid.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  const rlimit none{0, 0};
  ::setrlimit(RLIMIT_CORE, &none);
}

int sync_file(int fd) noexcept {
  return ::fsync(fd);
}

std::optional<std::string> executable_path() {
  std::string buf(4096, '\0');
  const ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size());
  if (n <= 0 || static_cast<std::size_t>(n) >= buf.size()) return std::nullopt;
  buf.resize(static_cast<std::size_t>(n));
  return buf;
}

KeyCache& key_cache() {
  static KernelKeyring cache;
  return cache;
}

}  // namespace pb::platform
