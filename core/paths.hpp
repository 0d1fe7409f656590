#pragma once
// Where para-broker keeps its files, from the environment (SPEC "Files and
// environment"): PARA_BROKER_HOME, PARA_BROKER_KEY_FILE, PARA_BROKER_CACHE,
// falling back to the XDG base directories and then to $HOME.

#include <filesystem>
#include <optional>
#include <string>

namespace pb {

struct Paths {
  std::filesystem::path vault_home;  ///< encrypted entries and the access log
  std::filesystem::path key_file;    ///< key-file provider's key
  std::filesystem::path cache_dir;   ///< probe cache

  /// Resolves the paths from the process environment.
  static Paths from_environment();
};

/// getenv() as an optional; empty values count as unset.
std::optional<std::string> env_var(const char* name);

}  // namespace pb
