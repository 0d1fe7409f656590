// Proves the end-to-end harness itself: in every real-Claude test image, a
// hand-placed login (credentials with a canary access token, plus
// .claude.json with hasCompletedOnboarding) at the location that version
// reads makes `claude -p hi` send `Authorization: Bearer <canary>` to the
// loopback API stand-in. If a location in test_images.hpp were wrong, Claude
// would send no token and the test would fail.

#include "tests/images/test_images.hpp"
#include "tests/support/fake_api_process.hpp"
#include "tests/support/test_env.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace pb::test {
namespace {

constexpr const char* k_label_value = "e2e-harness";
constexpr int k_container_seconds = 120;

std::string random_suffix() {
  std::random_device rd;
  std::mt19937_64 rng(rd());
  static const char* k_hex = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 16; ++i) s += k_hex[rng() % 16];
  return s;
}

void write_file(const fs::path& path, const std::string& content, fs::perms mode) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  fs::permissions(path, mode, fs::perm_options::replace);
}

/// Directories to create for `dir`: its ancestors below `anchor` (which exists
/// in the image) and itself, outermost first.
std::vector<fs::path> dirs_below(const fs::path& anchor, const fs::path& dir) {
  std::vector<fs::path> out;
  for (fs::path p = dir; p != anchor && p != p.parent_path(); p = p.parent_path()) out.insert(out.begin(), p);
  return out;
}

/// Removes the containers this test made, also when an assertion failed.
struct LabelGuard {
  ~LabelGuard() { remove_labelled(k_label_value); }
};

class HarnessTest : public ::testing::TestWithParam<ClaudeTestImage> {};

TEST_P(HarnessTest, HandPlacedLoginReachesTheApiStandIn) {
  PB_REQUIRE_DOCKER();
  const ClaudeTestImage& image = GetParam();
  LabelGuard guard;
  TestEnv env;
  FakeApi api(k_container_seconds + 60);

  const std::string canary = "sk-ant-oat01-CANARY-test-harness-" + random_suffix();
  const std::string refresh = "sk-ant-ort01-CANARY-test-harness-" + random_suffix();

  // Stage the login as a tar owned by the image's user, then copy it in.
  const fs::path stage = env.root() / "stage";
  const fs::path config_dir = image.config_dir;
  const fs::path home = image.home;
  const fs::path anchor = config_dir.string().rfind(home.string() + "/", 0) == 0 ? home : config_dir.parent_path();
  std::vector<std::string> entries;
  for (const auto& d : dirs_below(anchor, config_dir)) {
    fs::create_directories(stage / d.relative_path());
    fs::permissions(stage / d.relative_path(), fs::perms::owner_all, fs::perm_options::replace);
    entries.push_back(d.relative_path().string());
  }
  const fs::path credentials = config_dir / ".credentials.json";
  write_file(stage / credentials.relative_path(),
             R"({"claudeAiOauth":{"accessToken":")" + canary + R"(","refreshToken":")" + refresh +
                 R"(","expiresAt":4102444800000,"scopes":["user:inference","user:profile"],"subscriptionType":"max"}})",
             fs::perms::owner_read | fs::perms::owner_write);
  entries.push_back(credentials.relative_path().string());
  const fs::path global = image.global_config;
  write_file(stage / global.relative_path(),
             R"({"hasCompletedOnboarding":true,"oauthAccount":{"accountUuid":"00000000-0000-4000-8000-0000000000e2",)"
             R"("emailAddress":"canary-test@example.com","organizationUuid":"00000000-0000-4000-8000-0000000000e3"}})",
             fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  entries.push_back(global.relative_path().string());

  const fs::path tarball = env.root() / "login.tar";
  std::vector<std::string> tar{"tar",
                               "-C",
                               stage.string(),
                               "--numeric-owner",
                               "--owner=" + std::to_string(image.uid),
                               "--group=" + std::to_string(image.gid),
                               "--no-recursion",
                               "-cf",
                               tarball.string()};
  tar.insert(tar.end(), entries.begin(), entries.end());
  auto packed = run_process(tar, {}, "", 60);
  ASSERT_EQ(packed.exit_code, 0) << packed.err;

  // Every request of the client goes to the stand-in: the API through
  // ANTHROPIC_BASE_URL, anything else (token refresh, telemetry) through the
  // proxy variables, which the stand-in refuses. Nothing leaves the machine.
  const std::string url = api.base_url();
  auto created = docker_cli({"create",
                             "--label",
                             std::string(k_test_label) + "=" + k_label_value,
                             "--network",
                             "host",
                             "-e",
                             "ANTHROPIC_BASE_URL=" + url,
                             "-e",
                             "HTTPS_PROXY=" + url,
                             "-e",
                             "HTTP_PROXY=" + url,
                             "-e",
                             "https_proxy=" + url,
                             "-e",
                             "http_proxy=" + url,
                             "-e",
                             "NO_PROXY=127.0.0.1,localhost",
                             "-e",
                             "DISABLE_TELEMETRY=1",
                             "-e",
                             "DISABLE_ERROR_REPORTING=1",
                             "-e",
                             "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
                             "-e",
                             "DISABLE_AUTOUPDATER=1",
                             test_image(image.name),
                             "claude",
                             "-p",
                             "hi"},
                            60);
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string id = created.out.substr(0, created.out.find('\n'));

  auto copied = run_process({"sh", "-c", "docker cp - \"$1:/\" < \"$2\"", "sh", id, tarball.string()}, {}, "", 60);
  ASSERT_EQ(copied.exit_code, 0) << copied.err;

  // Bounded run: stop as soon as the canary arrives (1.0.31 retries a 401
  // with backoff for minutes), or when Claude exits, or after the deadline.
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + std::chrono::seconds(k_container_seconds);
  auto start = docker_cli({"start", id}, 60);
  ASSERT_EQ(start.exit_code, 0) << start.err;
  bool running = true;
  while (running && !api.saw_authorization("Bearer " + canary) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    running = docker_cli({"inspect", "--format", "{{.State.Running}}", id}, 30).out.rfind("true", 0) == 0;
  }
  const auto seconds =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count() /
      1000.0;
  auto logs = docker_cli({"logs", id}, 30);
  docker_cli({"rm", "-f", id}, 60);
  api.stop();

  std::string seen;
  for (const auto& r : api.requests()) {
    seen +=
        "  " + r.method + " " + r.target + " (host " + r.host + ")" +
        (r.authorization ? (*r.authorization == "Bearer " + canary ? " with the canary" : " with another token") : "") +
        "\n";
  }
  EXPECT_TRUE(api.saw_authorization("Bearer " + canary))
      << image.name << ": claude did not send the hand-placed token (placed at " << credentials.string() << "); "
      << (running ? "still running" : "it had exited") << " after " << seconds << "s; it printed:\n"
      << logs.out << logs.err << "\nrequests seen:\n"
      << seen;
  // The token never shows in what the container printed.
  EXPECT_EQ(logs.out.find(canary), std::string::npos);
  EXPECT_EQ(logs.err.find(canary), std::string::npos);
  std::cout << "[ harness ] " << image.name << " (Claude Code " << image.version << ", user " << image.user
            << "): " << seconds << "s, requests:\n"
            << seen;
}

INSTANTIATE_TEST_SUITE_P(RealClaude, HarnessTest, ::testing::ValuesIn(k_claude_test_images),
                         [](const ::testing::TestParamInfo<ClaudeTestImage>& param_info) {
                           std::string name = param_info.param.name;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace pb::test
