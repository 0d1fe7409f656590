#pragma once
// Shared by the crash-point and kill -9 tests: a vault sandbox that runs the
// real para-broker (never Docker), logins to import, and the checks that a
// vault is whole after a crash (docs/fault-injection.md).

#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tests/support/test_env.hpp"

namespace pb::test::crash {

/// A passphrase for passphrase-provider vaults (test value).
inline constexpr const char* k_passphrase = "test-passphrase-for-crash-tests";

/// One vault in its own TestEnv; every command gets the passphrase, no key
/// cache, and a Docker host that does not exist (these tests never use Docker).
class Sandbox {
 public:
  Sandbox();
  TestEnv& env() { return *m_env; }
  const TestEnv& env() const { return *m_env; }

  /// Runs para-broker with the sandbox environment plus `extra`.
  CommandResult run(const std::vector<std::string>& args, const std::map<std::string, std::string>& extra = {}) const;

  /// Variables that point the key file at a key that does not unlock this vault.
  std::map<std::string, std::string> wrong_key() const;

  /// Writes a home-like login directory for `account` (an e-mail) with access-token expiry `expires` (ms).
  std::filesystem::path login(const std::string& account, long long expires);

 private:
  std::unique_ptr<TestEnv> m_env;
};

/// What `vault verify --json`, `list --json` and the files on disk say.
struct VaultState {
  bool exists = false;                              ///< vault.json is there
  bool verified = false;                            ///< vault verify passed
  std::string verify_output;                        ///< for messages
  std::map<std::string, long long> expiry_by_name;  ///< from list --json (0 when none)
  std::vector<std::string> temp_files;              ///< AtomicFile temp files anywhere in the vault or key dir
  std::size_t failed_unlocks = 0;                   ///< "unlock"/"failed" records in access.log
};

/// Reads the state (runs verify and list when a vault exists).
VaultState inspect(const Sandbox& box);

/// Whether a file name is an AtomicFile temp file (".<target>.tmp-XXXXXXXXXX").
bool is_temp_name(const std::string& name);

}  // namespace pb::test::crash
