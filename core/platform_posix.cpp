// The platform seam anywhere but Linux and macOS (core/platform.hpp): plain
// POSIX. There is no key cache, so every unlock of a passphrase vault asks for
// the passphrase (and pays the KDF); a core file is still prevented.
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/platform.hpp"

namespace pb::platform {

int spawn_closes_other_fds(posix_spawn_file_actions_t* actions, short* flags) noexcept {
  (void)actions;
  (void)flags;
  return 0;
}

int socket_without_sigpipe(int fd) noexcept {
#ifdef SO_NOSIGPIPE
  int one = 1;
  return ::setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#else
  (void)fd;
  return 0;
#endif
}

std::string_view name() noexcept {
  return "posix";
}

void harden_process() noexcept {
  const rlimit none{0, 0};
  ::setrlimit(RLIMIT_CORE, &none);
}

int sync_file(int fd) noexcept {
  return ::fsync(fd);
}

std::optional<std::string> executable_path() {
  return std::nullopt;
}

KeyCache& key_cache() {
  return no_key_cache();
}

}  // namespace pb::platform
