#include "core/paths.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

namespace fs = std::filesystem;

namespace pb {

std::optional<std::string> env_var(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

namespace {

fs::path home_dir() {
  if (auto h = env_var("HOME")) return *h;
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_dir != nullptr) return pw->pw_dir;
  return "/";
}

fs::path xdg(const char* var, const char* fallback_below_home) {
  if (auto v = env_var(var); v && fs::path(*v).is_absolute()) return *v;
  return home_dir() / fallback_below_home;
}

}  // namespace

Paths Paths::from_environment() {
  Paths p;
  p.vault_home = env_var("PARA_BROKER_HOME") ? fs::path(*env_var("PARA_BROKER_HOME"))
                                             : xdg("XDG_DATA_HOME", ".local/share") / "para-broker";
  p.key_file = env_var("PARA_BROKER_KEY_FILE") ? fs::path(*env_var("PARA_BROKER_KEY_FILE"))
                                               : xdg("XDG_CONFIG_HOME", ".config") / "para-broker" / "vault.key";
  p.cache_dir = env_var("PARA_BROKER_CACHE") ? fs::path(*env_var("PARA_BROKER_CACHE"))
                                             : xdg("XDG_CACHE_HOME", ".cache") / "para-broker";
  return p;
}

}  // namespace pb
