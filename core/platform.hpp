#pragma once
// The one seam for what differs between operating systems. Everything here
// has one implementation per platform, chosen by CMake:
//
//   core/platform_linux.cpp   the kernel keyring (keyutils), prctl, /proc
//   core/platform_macos.cpp   the login Keychain (Security framework)
//   core/platform_posix.cpp   anything else: no key cache, the passphrase every time
//
// No other product source may use a call or header of one platform only;
// tests/unit/platform_seam_test.cpp fails when one does.

#include <spawn.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/secure_buffer.hpp"

namespace pb::platform {

/// Which side of the seam this build has: "linux", "macos" or "posix".
std::string_view name() noexcept;

/// No core file and, where the platform can say so, no debugger or memory
/// reads by other processes of this uid, for the rest of the process.
void harden_process() noexcept;

/// Makes what was written to `fd` durable: fsync, and on macOS F_FULLFSYNC,
/// since its fsync leaves the data in the drive's cache. 0, or -1 with errno.
int sync_file(int fd) noexcept;

/// The absolute path of this process's own executable (Linux: /proc/self/exe;
/// macOS: _NSGetExecutablePath, resolved); nullopt where it cannot be told.
std::optional<std::string> executable_path();

/// For a posix_spawn: that the child gets no descriptor of ours but those the
/// file actions give it (glibc 2.34+: closefrom; macOS:
/// POSIX_SPAWN_CLOEXEC_DEFAULT in `flags`; elsewhere the caller's CLOEXEC
/// flags only). 0, or an errno value.
int spawn_closes_other_fds(posix_spawn_file_actions_t* actions, short* flags) noexcept;

/// That a write to socket `fd` after its peer is gone fails with EPIPE
/// instead of raising SIGPIPE (macOS: SO_NOSIGPIPE; Linux: Asio sends with
/// MSG_NOSIGNAL already). 0, or -1 with errno.
int socket_without_sigpipe(int fd) noexcept;

/// A bounded-time cache of an unwrapped data key between processes, so that
/// parallel dispatches with the passphrase provider do not each pay the KDF.
/// Anything of this uid may be able to plant a key under a description:
/// load() returns only what looks like store()'s work, and the caller must
/// still check the key against the vault header's key check before use.
class KeyCache {
 public:
  virtual ~KeyCache() = default;
  /// Where keys are kept, for messages ("the kernel keyring", …, "nothing").
  virtual std::string_view where() const noexcept = 0;
  /// The cached key for `description`, if one store() with `ttl` could have made is there.
  virtual std::optional<SecureBytes> load(const std::string& description, std::chrono::seconds ttl) = 0;
  /// Stores `key` for at most `ttl`; does nothing if the store is unavailable (the caller pays the KDF next time).
  virtual void store(const std::string& description, ByteSpan key, std::chrono::seconds ttl) = 0;
  /// Removes the cached key, if any.
  virtual void revoke(const std::string& description) = 0;
};

/// This platform's key cache (the same object for the whole process).
KeyCache& key_cache();

/// The cache that caches nothing: every unlock asks for the passphrase.
KeyCache& no_key_cache();

namespace detail {
/// Seconds left of a Linux /proc/keys timeout field ("4m", "59s", "perm", …);
/// nullopt when there is none ("perm") or it cannot be read. Pure, for tests.
std::optional<std::uint64_t> parse_proc_timeout(std::string_view field);
}  // namespace detail

}  // namespace pb::platform
