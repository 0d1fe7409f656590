// The platform seam anywhere but Linux and macOS (core/platform.hpp): plain
// POSIX. There is no key cache, so every unlock of a passphrase vault asks for
// the passphrase (and pays the KDF); a core file is still prevented.
#include <sys/resource.h>
#include <unistd.h>

#include "core/platform.hpp"

namespace pb::platform {

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

KeyCache& key_cache() {
  return no_key_cache();
}

}  // namespace pb::platform
