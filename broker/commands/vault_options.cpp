#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <optional>

#include "broker/commands/vault_view.hpp"
#include "core/c_handles.hpp"
#include "core/paths.hpp"

namespace pb::broker::commands {

vault::PassphraseSource terminal_passphrase_source() {
  return [](std::string_view prompt, bool confirm) -> Result<SecureString> {
    // Straight from the environment block into a wiped string: no std::string copy.
    auto secret_env = [](const char* name) -> std::optional<SecureString> {
      const char* v = std::getenv(name);
      if (v == nullptr || *v == '\0') return std::nullopt;
      return SecureString(v);
    };
    if (confirm) {
      if (auto v = secret_env("PARA_BROKER_NEW_PASSPHRASE")) return std::move(*v);
    }
    if (auto v = secret_env("PARA_BROKER_PASSPHRASE")) return std::move(*v);
    UniqueFd tty(::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY));
    // Never wait for a prompt nobody sees: a process without a terminal (para's
    // daemon) or in the background of one (a read would stop it with SIGTTIN)
    // fails at once, saying what to configure.
    if (!tty.valid() || ::tcgetpgrp(tty.get()) != ::getpgrp())
      return fail(ErrorKind::locked,
                  "the vault is locked with a passphrase, no key is cached and there is no terminal to ask on (as in "
                  "para's daemon): set PARA_BROKER_PASSPHRASE in this process's environment, or switch the vault to "
                  "the key-file provider with 'para-broker vault rekey --key-file'");
    auto ask = [&](std::string_view p) -> Result<SecureString> {
      termios old{};
      const bool is_term = ::tcgetattr(tty.get(), &old) == 0;
      if (is_term) {
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(tty.get(), TCSAFLUSH, &quiet);
      }
      std::string line = std::string(p) + ": ";
      (void)!::write(tty.get(), line.data(), line.size());
      SecureString out;
      char c = 0;
      while (::read(tty.get(), &c, 1) == 1 && c != '\n') {
        if (out.size() >= 1024) break;
        out.push_back(c);
      }
      c = 0;
      if (is_term) ::tcsetattr(tty.get(), TCSAFLUSH, &old);
      (void)!::write(tty.get(), "\n", 1);
      return out;
    };
    PB_TRY(SecureString first, ask(prompt));
    if (confirm) {
      PB_TRY(SecureString again, ask("Repeat the passphrase"));
      if (first != again) return fail(ErrorKind::usage, "the two passphrases differ; nothing was changed");
    }
    return first;
  };
}

vault::Options vault_options(const Paths& paths) {
  vault::Options o;
  o.passphrase = terminal_passphrase_source();
  o.home = paths.vault_home;
  o.key_file = paths.key_file;
  if (auto ttl = env_var("PARA_BROKER_KEY_CACHE_TTL")) {
    try {
      o.key_cache_ttl = std::chrono::seconds(std::max(0L, std::stol(*ttl)));
    } catch (const std::exception&) {
      o.key_cache_ttl = std::chrono::seconds(0);
    }
  }
  return o;
}

}  // namespace pb::broker::commands
