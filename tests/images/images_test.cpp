// Checks that tests/images/build.sh made what README.md and test_images.hpp
// promise: users, HOME and variables of every real-Claude image, the Claude
// Code version each runs, the image without a shell, the `claude /login`
// stand-in and the baked-login images. The tokens checked here are test
// canaries; they are matched inside the container and never printed.

#include "tests/images/test_images.hpp"
#include "tests/support/test_env.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <ostream>
#include <string>
#include <vector>

namespace pb::test {

namespace {

constexpr const char* k_label_value = "images-test";

struct LabelGuard {
  ~LabelGuard() { remove_labelled(k_label_value); }
};

/// `docker run --rm` of IMAGE with ARGS (the image's own user), bounded in time.
CommandResult run_in(const std::string& image, const std::vector<std::string>& args, const std::string& input = "",
                     const std::vector<std::string>& options = {}) {
  std::vector<std::string> argv{"docker",    "run",  "--rm",    "-i",
                                "--network", "none", "--label", std::string(k_test_label) + "=" + k_label_value};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.push_back(image);
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, {}, input, 120);
}

nlohmann::json inspect(const std::string& image) {
  auto r = docker_cli({"image", "inspect", image}, 60);
  if (r.exit_code != 0) return nlohmann::json::object();
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  return j.is_array() && !j.empty() ? j[0] : nlohmann::json::object();
}

std::string env_of(const nlohmann::json& config, const std::string& key) {
  for (const auto& e : config.value("Env", nlohmann::json::array())) {
    auto s = e.get<std::string>();
    if (s.rfind(key + "=", 0) == 0) return s.substr(key.size() + 1);
  }
  return "";
}

class RealClaudeImage : public ::testing::TestWithParam<ClaudeTestImage> {};

TEST_P(RealClaudeImage, HasTheDocumentedUserEnvironmentAndVersion) {
  PB_REQUIRE_DOCKER();
  LabelGuard guard;
  const auto& image = GetParam();
  const auto info = inspect(test_image(image.name));
  ASSERT_TRUE(info.contains("Config")) << test_image(image.name) << " is missing; run tests/images/build.sh";
  const auto& config = info["Config"];
  EXPECT_EQ(config.value("User", ""), image.user);
  EXPECT_EQ(env_of(config, "HOME"), image.home);
  EXPECT_EQ(env_of(config, "XDG_CONFIG_HOME"), image.xdg_config_home);
  EXPECT_EQ(env_of(config, "CLAUDE_CONFIG_DIR"), image.claude_config_dir);
  EXPECT_EQ(config["Labels"].value(k_test_label, ""), k_test_images_label_value);
  EXPECT_EQ(config["Labels"].value(k_test_image_name_label, ""), image.name);
  if (std::string(image.name).rfind("para-claude", 0) == 0) {
    EXPECT_TRUE(config["Labels"].contains("para.version"));
  }

  auto r = run_in(test_image(image.name),
                  {"sh", "-c", "id -u; id -g; readlink -f /usr/local/bin/claude; claude --version </dev/null"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string expected = std::to_string(image.uid) + "\n" + std::to_string(image.gid) + "\n" + image.claude_path +
                               "\n" + image.version + " (Claude Code)\n";
  EXPECT_EQ(r.out, expected);
}

INSTANTIATE_TEST_SUITE_P(Images, RealClaudeImage, ::testing::ValuesIn(k_claude_test_images),
                         [](const ::testing::TestParamInfo<ClaudeTestImage>& param_info) {
                           std::string name = param_info.param.name;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

TEST(TestImages, NativeBinaryIsHardLinkedLikeThePostinstallLeavesIt) {
  PB_REQUIRE_DOCKER();
  LabelGuard guard;
  auto r = run_in(test_image("claude-2x-root"),
                  {"sh", "-c",
                   "a=$(stat -c %i /usr/local/lib/node_modules/@anthropic-ai/claude-code/bin/claude.exe); "
                   "b=$(stat -c %i /usr/local/lib/node_modules/@anthropic-ai/claude-code-linux-x64/claude); "
                   "[ \"$a\" = \"$b\" ] && echo same"});
  EXPECT_EQ(r.out, "same\n") << r.err;
}

TEST(TestImages, NoShellHasClaudeButNoShell) {
  PB_REQUIRE_DOCKER();
  LabelGuard guard;
  const auto image = test_image(k_no_shell_image);
  auto version = run_in(image, {"claude", "--version"});
  EXPECT_EQ(version.exit_code, 0) << version.err;
  EXPECT_EQ(version.out, "2.1.332 (Claude Code)\n");
  for (const char* shell : {"/bin/sh", "/bin/bash", "/usr/bin/busybox", "/bin/ash", "/bin/dash"}) {
    auto r = run_in(image, {shell, "-c", "true"});
    EXPECT_NE(r.exit_code, 0) << shell << " exists in " << image;
  }
}

TEST(TestImages, NoClaudeHasAShellButNoClaude) {
  PB_REQUIRE_DOCKER();
  LabelGuard guard;
  auto r = run_in(test_image(k_no_claude_image),
                  {"sh", "-c", "command -v claude || ls /usr/local/lib/node_modules 2>/dev/null; echo done"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "done\n");
}

TEST(StandinLogin, ACodeWritesTheLoginWhereThatVersionWould) {
  PB_REQUIRE_DOCKER();
  LabelGuard guard;
  const std::string check =
      "claude /login >/tmp/out 2>&1 || { echo login-failed; exit 1; }; "
      "grep -q 'Paste code here' /tmp/out && echo prompted; "
      "c=\"$1/.credentials.json\"; g=\"$2\"; stat -c '%a %u' \"$c\"; "
      "grep -q '\"accessToken\":\"sk-ant-oat01-CANARY-test-abc_123\"' \"$c\" && echo access-ok; "
      "grep -q '\"refreshToken\":\"sk-ant-ort01-CANARY-test-abc_123\"' \"$c\" && echo refresh-ok; "
      "grep -q '\"subscriptionType\":\"max\"' \"$c\" && echo plan-ok; "
      "e=$(sed -n 's/.*\"expiresAt\":\\([0-9]*\\).*/\\1/p' \"$c\"); now=$(date +%s); "
      "[ $((e / 1000 - now)) -gt 28000 ] && [ $((e / 1000 - now)) -le 28800 ] && echo expiry-ok; "
      "grep -q '\"hasCompletedOnboarding\":true' \"$g\" && echo onboarded; "
      "grep -q '\"emailAddress\":\"canary-test-abc_123@example.com\"' \"$g\" && echo account-ok";
  const std::string expected = "prompted\n600 0\naccess-ok\nrefresh-ok\nplan-ok\nexpiry-ok\nonboarded\naccount-ok\n";
  const auto image = test_image(k_standin_login_image);

  auto home = run_in(image, {"sh", "-c", check, "sh", "/root/.claude", "/root/.claude.json"}, "abc_123\n");
  EXPECT_EQ(home.out, expected) << home.err;

  auto config_dir = run_in(image, {"sh", "-c", check, "sh", "/tmp/cc", "/tmp/cc/.claude.json"}, "abc_123\r\n",
                           {"-e", "CLAUDE_CONFIG_DIR=/tmp/cc"});
  EXPECT_EQ(config_dir.out, expected) << config_dir.err;

  auto version = run_in(image, {"claude", "--version"});
  EXPECT_EQ(version.out, "1.0.40 (Claude Code)\n");
}

TEST(StandinLogin, NoCodeAbortsAndWritesNothing) {
  PB_REQUIRE_DOCKER();
  LabelGuard guard;
  const std::string check =
      "claude /login >/dev/null 2>&1; rc=$?; "
      "[ -e /root/.claude ] || [ -e /root/.claude.json ] && echo wrote-something; echo \"rc=$rc\"";
  const auto image = test_image(k_standin_login_image);
  for (const std::string input : {"", "\n", "bad code\n", "x\"y\n"}) {
    auto r = run_in(image, {"sh", "-c", check}, input);
    EXPECT_EQ(r.out, "rc=1\n") << "input '" << input << "': " << r.err;
  }
}

TEST(BakedLogin, LayerHoldsTheCanaryAndTheWhiteoutHidesIt) {
  PB_REQUIRE_DOCKER();
  LabelGuard guard;
  const std::string check = "if grep -q '\"accessToken\":\"" + std::string(k_baked_access_token) +
                            "\"' /root/.claude/.credentials.json 2>/dev/null; then echo baked; else echo absent; fi; "
                            "if [ -e /root/.claude.json ]; then echo global; fi";
  auto layer = run_in(test_image(k_authed_layer_image), {"sh", "-c", check});
  EXPECT_EQ(layer.out, "baked\nglobal\n") << layer.err;
  auto whiteout = run_in(test_image(k_authed_whiteout_image), {"sh", "-c", check});
  EXPECT_EQ(whiteout.out, "absent\n") << whiteout.err;
  // The deleted files are still in the history: the whiteout layer is on top of the baked one.
  auto layers = inspect(test_image(k_authed_whiteout_image))["RootFS"]["Layers"];
  auto baked_layers = inspect(test_image(k_authed_layer_image))["RootFS"]["Layers"];
  ASSERT_TRUE(layers.is_array());
  ASSERT_TRUE(baked_layers.is_array());
  EXPECT_EQ(layers.size(), baked_layers.size() + 1);
}

}  // namespace
}  // namespace pb::test
