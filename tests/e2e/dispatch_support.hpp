#pragma once
// Helpers for the dispatch tests (mount / release / sync / gc with real Claude
// Code): one test's vault, a unique label on every Docker object (the
// product's too, via PARA_BROKER_EXTRA_LABELS) and cleanup on every path, a
// canary login written from this process straight to a file, and the checks
// the tests share.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tests/images/test_images.hpp"
#include "tests/support/test_env.hpp"
#include "vault/vault.hpp"

namespace pb::test {

inline constexpr std::int64_t k_far_expiry = 4102444800000;  // 2100-01-01

std::vector<std::string> split_ws(const std::string& s);
std::string first_line(const std::string& s);
/// A .credentials.json holding an OAuth login.
std::string credentials_json(const std::string& access, const std::string& refresh, std::int64_t expires);
void write_file(const std::filesystem::path& p, const std::string& content);
/// The whole file; empty when it cannot be read.
std::string read_file(const std::filesystem::path& p);

/// One test's world: its own vault, a unique label on everything, and cleanup on every path.
class Dispatch {
 public:
  explicit Dispatch(const std::string& prefix = "dispatch");
  ~Dispatch();
  Dispatch(const Dispatch&) = delete;
  Dispatch& operator=(const Dispatch&) = delete;

  /// Imports a canary login (from a temporary home that is deleted again) and returns its access token.
  std::string import_login(const std::string& tag, std::int64_t expires = k_far_expiry);
  /// Imports exactly these tokens as credential "work". The tokens go from this
  /// process to a file, never through an argument list or an environment.
  CommandResult import_tokens(const std::string& access, const std::string& refresh, std::int64_t expires);

  /// The image with a settings.json, CLAUDE.md, commands/ and its own .claude.json added to its config dir.
  std::string seeded_image(const ClaudeTestImage& img);

  /// `docker run --rm <mount args> image sh -c script`, returning its output.
  CommandResult run_in(const std::vector<std::string>& mount_args, const std::string& image, const std::string& script,
                       const std::vector<std::string>& extra = {});

  /// `mount --image image --session session`, split into its arguments.
  std::vector<std::string> mount(const std::string& image, const std::string& session);

  /// Volumes carrying this test's label.
  std::vector<std::string> volumes();
  /// Containers carrying this test's label, or the credential's para-broker label when `credential_id` is given.
  std::vector<std::string> containers(const std::string& credential_id = "");

  std::optional<std::int64_t> stored_expiry();
  /// The refresh token the vault holds for "work" (read through the vault API, never printed).
  std::string stored_refresh_token();

  /// Checks every entry and the access log through the vault API (fails the test when not intact).
  vault::VerifyReport verify();

  /// Every file under the test's root (vault, log, cache, HOME) that contains `needle`.
  std::vector<std::string> files_containing(const std::string& needle);

  TestEnv env;
  std::string label;
};

/// The access log's records (access.log, one JSON object a line); a line that does not parse fails the test.
std::vector<nlohmann::json> access_log(const TestEnv& env);
/// How many records have this op and result.
std::size_t count_ops(const std::vector<nlohmann::json>& records, const std::string& op,
                      const std::string& result = "ok");

}  // namespace pb::test
