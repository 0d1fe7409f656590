// The platform seam on macOS (core/platform.hpp): the key cache is a generic
// password item in the user's login Keychain, made and read through the
// Security framework (never the `security` command, which would take the key
// in its argv); hardening is RLIMIT_CORE and PT_DENY_ATTACH.
//
// UNVERIFIED: nothing in this file has been compiled or run on macOS; the
// project's CI runs on Linux only (README.md, "Platforms").
//
// The Keychain has no kernel timeout, so the item holds its own expiry: an
// 8-byte big-endian Unix time, then the key. load() refuses an item whose
// expiry is past or further away than the TTL (not one store() with this TTL
// made) and deletes an expired one; the vault then checks the key against the
// header's key check, as on Linux. An expired item that no later command
// removes stays in the login Keychain (encrypted there under the login
// password) until one does: weaker than the kernel keyring, which forgets it.
#include <CoreFoundation/CoreFoundation.h>
#include <Security/Security.h>
#include <fcntl.h>
#include <mach-o/dyld.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <memory>
#include <type_traits>

#include "core/platform.hpp"

namespace pb::platform {

int spawn_closes_other_fds(posix_spawn_file_actions_t* actions, short* flags) noexcept {
  (void)actions;
  *flags = static_cast<short>(*flags | POSIX_SPAWN_CLOEXEC_DEFAULT);
  return 0;
}

int socket_without_sigpipe(int fd) noexcept {
  int one = 1;
  return ::setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
}
namespace {

constexpr std::size_t k_expiry_size = 8;

struct CfRelease {
  void operator()(CFTypeRef ref) const noexcept {
    if (ref != nullptr) CFRelease(ref);
  }
};
template <typename Ref>
using CfPtr = std::unique_ptr<std::remove_pointer_t<Ref>, CfRelease>;

CfPtr<CFStringRef> cf_string(std::string_view s) {
  return CfPtr<CFStringRef>(CFStringCreateWithBytes(kCFAllocatorDefault, reinterpret_cast<const UInt8*>(s.data()),
                                                    static_cast<CFIndex>(s.size()), kCFStringEncodingUTF8, false));
}

/// The query that names our item for `description`; never shows a prompt.
CfPtr<CFMutableDictionaryRef> item_query(const std::string& description) {
  CfPtr<CFMutableDictionaryRef> q(CFDictionaryCreateMutable(kCFAllocatorDefault, 0, &kCFTypeDictionaryKeyCallBacks,
                                                            &kCFTypeDictionaryValueCallBacks));
  auto service = cf_string("para-broker key cache");
  auto account = cf_string(description);
  if (!q || !service || !account) return nullptr;
  CFDictionarySetValue(q.get(), kSecClass, kSecClassGenericPassword);
  CFDictionarySetValue(q.get(), kSecAttrService, service.get());
  CFDictionarySetValue(q.get(), kSecAttrAccount, account.get());
  // A cache must never block a dispatch on a dialog: without access, no key.
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
  CFDictionarySetValue(q.get(), kSecUseAuthenticationUI, kSecUseAuthenticationUIFail);
#pragma clang diagnostic pop
  return q;
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class LoginKeychain final : public KeyCache {
 public:
  std::string_view where() const noexcept override { return "the login Keychain"; }

  std::optional<SecureBytes> load(const std::string& description, std::chrono::seconds ttl) override {
    auto q = item_query(description);
    if (!q) return std::nullopt;
    CFDictionarySetValue(q.get(), kSecReturnData, kCFBooleanTrue);
    CFDictionarySetValue(q.get(), kSecMatchLimit, kSecMatchLimitOne);
    CFTypeRef raw = nullptr;
    if (SecItemCopyMatching(q.get(), &raw) != errSecSuccess || raw == nullptr) return std::nullopt;
    CfPtr<CFTypeRef> owned(raw);
    if (CFGetTypeID(raw) != CFDataGetTypeID()) return std::nullopt;
    const auto data = static_cast<CFDataRef>(raw);
    const auto size = static_cast<std::size_t>(CFDataGetLength(data));
    const UInt8* bytes = CFDataGetBytePtr(data);
    SecureBytes item(bytes, bytes + size);
    // The CFData is this process's own copy: wipe it before it is released.
    secure_wipe(const_cast<UInt8*>(bytes), size);
    if (item.size() <= k_expiry_size) return std::nullopt;
    std::int64_t expiry = 0;
    for (std::size_t i = 0; i < k_expiry_size; ++i) expiry = (expiry << 8) | item[i];
    const std::int64_t now = now_seconds();
    if (expiry <= now) {
      revoke(description);
      return std::nullopt;
    }
    if (expiry - now > ttl.count()) return std::nullopt;
    return SecureBytes(item.begin() + k_expiry_size, item.end());
  }

  void store(const std::string& description, ByteSpan key, std::chrono::seconds ttl) override {
    if (ttl.count() <= 0) return;
    revoke(description);
    auto q = item_query(description);
    if (!q) return;
    SecureBytes item(k_expiry_size + key.size());
    const std::int64_t expiry = now_seconds() + ttl.count();
    for (std::size_t i = 0; i < k_expiry_size; ++i)
      item[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(expiry) >> (8 * (k_expiry_size - 1 - i)));
    std::copy(key.begin(), key.end(), item.begin() + k_expiry_size);
    // No copy: the CFData points into `item`, which wipes itself.
    CfPtr<CFDataRef> data(CFDataCreateWithBytesNoCopy(kCFAllocatorDefault, item.data(),
                                                      static_cast<CFIndex>(item.size()), kCFAllocatorNull));
    if (!data) return;
    CFDictionarySetValue(q.get(), kSecValueData, data.get());
    (void)SecItemAdd(q.get(), nullptr);
  }

  void revoke(const std::string& description) override {
    if (auto q = item_query(description)) (void)SecItemDelete(q.get());
  }
};

}  // namespace

std::string_view name() noexcept {
  return "macos";
}

void harden_process() noexcept {
  // No core file; and no debugger attaches (the nearest to Linux's
  // PR_SET_DUMPABLE 0: task_for_pid by other processes needs a debugger anyway).
  const rlimit none{0, 0};
  ::setrlimit(RLIMIT_CORE, &none);
  ::ptrace(PT_DENY_ATTACH, 0, nullptr, 0);
}

std::optional<std::string> executable_path() {
  std::uint32_t size = 0;
  ::_NSGetExecutablePath(nullptr, &size);
  std::string buf(size + 1, '\0');
  if (::_NSGetExecutablePath(buf.data(), &size) != 0) return std::nullopt;
  char resolved[PATH_MAX];
  if (::realpath(buf.c_str(), resolved) == nullptr) return std::nullopt;
  return std::string(resolved);
}

int sync_file(int fd) noexcept {
  // Not every file system supports it (network ones); fsync is then the best there is.
  if (::fcntl(fd, F_FULLFSYNC) == 0) return 0;
  return ::fsync(fd);
}

KeyCache& key_cache() {
  static LoginKeychain cache;
  return cache;
}

}  // namespace pb::platform
