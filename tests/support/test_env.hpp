#pragma once
// Hermetic test environment: every test gets its own vault, key and cache
// directories (the PARA_BROKER_* variables) under a fresh temp directory that
// is removed afterwards, and runs the real para-broker binary with them.

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pb::test {

/// Label put on every container, image and volume a test makes.
inline constexpr const char* k_test_label = "para-broker.test";

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs `argv` (argv[0] looked up on PATH) with `env` added to the current
/// environment, feeding `input` on stdin; waits at most `timeout_s` seconds.
CommandResult run_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
                          const std::string& input = "", int timeout_s = 300);

/// An access-token expiry `hours` from now, in ms since the epoch, as Claude
/// Code writes them (write-back believes no expiry past 24 hours from now).
std::int64_t expiry_from_now(double hours = 1);

/// Runs the docker CLI (test set-up and inspection only; the product never does).
CommandResult docker_cli(const std::vector<std::string>& args, int timeout_s = 300);

class TestEnv {
 public:
  TestEnv();
  ~TestEnv();
  TestEnv(const TestEnv&) = delete;
  TestEnv& operator=(const TestEnv&) = delete;

  const std::filesystem::path& root() const { return m_root; }
  std::filesystem::path vault_home() const { return m_root / "vault"; }
  std::filesystem::path key_file() const { return m_root / "config" / "vault.key"; }
  std::filesystem::path cache_dir() const { return m_root / "cache"; }

  /// The PARA_BROKER_* variables (and HOME/XDG_* pointing inside root()).
  std::map<std::string, std::string> env() const;
  /// Extra variables for every later call of cli().
  void set_env(const std::string& key, const std::string& value) { m_extra[key] = value; }

  /// Runs the built para-broker with this environment.
  CommandResult cli(const std::vector<std::string>& args, const std::string& input = "", int timeout_s = 300) const;

  /// A name unique to this test run, for sessions, volumes and images.
  std::string unique(const std::string& prefix) const;

 private:
  std::filesystem::path m_root;
  std::map<std::string, std::string> m_extra;
};

/// Whether the Docker daemon answers (via the docker CLI).
bool docker_available();

/// Fails the current test when Docker does not answer: nothing skips silently.
#define PB_REQUIRE_DOCKER()                                                                     \
  do {                                                                                          \
    if (!::pb::test::docker_available()) {                                                      \
      GTEST_FAIL() << "this test needs a running Docker daemon; start dockerd (scripts/setup)"; \
    }                                                                                           \
  } while (0)

/// Removes every container, volume and image labelled with `label=value`.
void remove_labelled(const std::string& value);

/// Builds (once per process) a tiny image from the host's busybox-static:
/// /bin/sh and the busybox applets, user root, labelled `k_test_label=value`.
/// Returns its reference, e.g. "pb-test-busybox:<value>".
std::string busybox_image(const std::string& label_value);

/// Path of a file in the source tree.
std::filesystem::path source_path(const std::string& relative);

}  // namespace pb::test
