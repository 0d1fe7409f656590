// login and import end to end: the stand-in `claude /login` and the real
// Claude Code 2.x on a pseudo-terminal; import from a directory, a container
// and an image on the real-Claude test images and a para-authenticated-like
// image. Every test ends with no container or volume left behind.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "tests/e2e/capture_support.hpp"
#include "tests/images/test_images.hpp"
#include "vault/entry.hpp"

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

namespace pb::test {
namespace {

const std::string k_baked_creds =
    R"({"claudeAiOauth":{"accessToken":"sk-ant-oat01-CANARY-test-baked-access","refreshToken":"sk-ant-ort01-CANARY-test-baked-refresh","expiresAt":1790000000000,"scopes":["user:inference","user:profile"],"subscriptionType":"max"}})";
// As a user's real .claude.json: the login keys among history that must stay out of the vault.
const std::string k_full_claude_json =
    R"({"numStartups":12,"userID":"canary-test-user-id","projects":{"/work":{"history":[{"display":"canary-test private prompt"}],"allowedTools":[]}},"hasCompletedOnboarding":true,"oauthAccount":{"accountUuid":"00000000-0000-4000-8000-000000000001","emailAddress":"canary-test@example.com","organizationUuid":"00000000-0000-4000-8000-000000000002","organizationName":"Canary Test Org"}})";

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

/// The stored entry holds the baked login and nothing but the login keys.
void expect_only_login(const std::map<std::string, std::string>& files, const std::string& access) {
  ASSERT_EQ(files.count(vault::k_credentials_file), 1u);
  EXPECT_THAT(files.at(vault::k_credentials_file), HasSubstr(access));
  ASSERT_EQ(files.count(vault::k_claude_json_file), 1u);
  auto j = nlohmann::json::parse(files.at(vault::k_claude_json_file));
  for (const auto& [key, value] : j.items()) {
    EXPECT_TRUE(key == "hasCompletedOnboarding" || key == "oauthAccount" || key == "primaryApiKey" ||
                key == "customApiKeyResponses")
        << "kept a key that is not a login key: " << key;
  }
  EXPECT_EQ(j.value("hasCompletedOnboarding", false), true);
}

/// A container from `image` with the baked login copied to `cfg` and `global` (not started).
std::string container_with_login(const LabelledEnv& t, const std::string& image, const std::string& cfg,
                                 const std::string& global) {
  auto c =
      docker_cli({"create", "--entrypoint", "/bin/sh", "--label", std::string(k_test_label) + "=" + t.label, image});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  std::string id = c.out.substr(0, c.out.find('\n'));
  // The files at their full paths under a local root, copied in with their parents.
  fs::path src = t.env.root() / ("src-" + id.substr(0, 12));
  write_file(src / fs::path(cfg).relative_path() / ".credentials.json", k_baked_creds);
  write_file(src / fs::path(global).relative_path(), k_full_claude_json);
  auto r1 = docker_cli({"cp", src.string() + "/.", id + ":/"});
  EXPECT_EQ(r1.exit_code, 0) << r1.err;
  return id;
}

// ---------------------------------------------------------------- import

TEST(Import, FromImageMigratesABakedLoginAndSaysHowToRebuild) {
  PB_REQUIRE_DOCKER();
  LabelledEnv t;
  auto r = t.env.cli({"import", "--from-image", test_image(k_authed_layer_image), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["schema"], 1);
  EXPECT_EQ(j["kind"], "oauth");
  EXPECT_EQ(j["account"], "c***@example.com");
  EXPECT_THAT(r.err, HasSubstr("Rebuild it without them"));
  EXPECT_THAT(r.err, HasSubstr("para-broker mount"));
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("sk-ant-")));
  auto decoded = t.decoded();
  ASSERT_EQ(decoded.size(), 1u);
  expect_only_login(decoded.begin()->second, k_baked_access_token);
  EXPECT_THAT(t.leftovers(), IsEmpty());
}

TEST(Import, EverySourceStoresTheSameCredential) {
  PB_REQUIRE_DOCKER();
  LabelledEnv t;
  // image (credentials committed into a layer)
  auto a = t.env.cli({"import", "--from-image", test_image(k_authed_layer_image), "--json"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  std::string id = nlohmann::json::parse(a.out)["id"];
  // containers of every real-Claude test image, at the places that image's Claude uses
  for (const auto& img : k_claude_test_images) {
    SCOPED_TRACE(img.name);
    std::string cid = container_with_login(t, test_image(img.name), img.config_dir, img.global_config);
    auto r = t.env.cli({"import", "--from-container", cid, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["id"], id);
    docker_cli({"rm", "-f", cid});
  }
  // a home-like directory
  fs::path home = t.env.root() / "home-copy";
  write_file(home / ".claude" / ".credentials.json", k_baked_creds);
  write_file(home / ".claude.json", k_full_claude_json);
  auto d = t.env.cli({"import", "--from-dir", home.string(), "--json"});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(nlohmann::json::parse(d.out)["id"], id);

  auto list = t.list();
  ASSERT_EQ(list["credentials"].size(), 1u) << list.dump();
  auto decoded = t.decoded();
  ASSERT_EQ(decoded.size(), 1u);
  expect_only_login(decoded.begin()->second, k_baked_access_token);
  EXPECT_THAT(t.leftovers(), IsEmpty());
}

TEST(Import, FromARunningContainer) {
  PB_REQUIRE_DOCKER();
  LabelledEnv t;
  auto c = docker_cli({"run", "-d", "--network", "none", "--label", std::string(k_test_label) + "=" + t.label,
                       "--entrypoint", "/bin/sleep", test_image(k_standin_login_image), "300"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  std::string id = c.out.substr(0, c.out.find('\n'));
  fs::path src = t.env.root() / "src";
  write_file(src / ".credentials.json", k_baked_creds);
  write_file(src / ".claude.json", k_full_claude_json);
  ASSERT_EQ(docker_cli({"exec", id, "mkdir", "-p", "/root/.claude"}).exit_code, 0);
  ASSERT_EQ(docker_cli({"cp", (src / ".credentials.json").string(), id + ":/root/.claude/.credentials.json"}).exit_code,
            0);
  ASSERT_EQ(docker_cli({"cp", (src / ".claude.json").string(), id + ":/root/.claude.json"}).exit_code, 0);
  auto r = t.env.cli({"import", "--from-container", id, "--name", "running"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto decoded = t.decoded();
  ASSERT_EQ(decoded.count("running"), 1u);
  expect_only_login(decoded["running"], k_baked_access_token);
}

TEST(Import, AContainerWithoutALoginIsNotFound) {
  PB_REQUIRE_DOCKER();
  LabelledEnv t;
  auto c = docker_cli({"create", "--entrypoint", "/bin/sh", "--label", std::string(k_test_label) + "=" + t.label,
                       test_image("claude-2x-root")});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  auto r = t.env.cli({"import", "--from-container", c.out.substr(0, 12)});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("no Claude Code login was found"));
  EXPECT_THAT(t.decoded(), IsEmpty());
}

// ---------------------------------------------------------------- login

struct LoginCase {
  const char* what;
  const char* input;
};

TEST(Login, StandInStoresWhatItWrote) {
  PB_REQUIRE_DOCKER();
  LabelledEnv t;
  PtyProcess p(t.env, {"login", "--image", test_image(k_standin_login_image), "--name", "standin"});
  ASSERT_TRUE(p.wait_for("Paste code here", 120)) << p.screen();
  EXPECT_THAT(t.leftovers(), Not(IsEmpty()));  // the staging container and volume exist while it runs
  p.write("code42\r");
  int rc = p.wait_exit(60);
  ASSERT_EQ(rc, 0) << p.screen();
  EXPECT_THAT(p.screen(), HasSubstr("created credential 'standin'"));
  auto list = t.list();
  ASSERT_EQ(list["credentials"].size(), 1u) << list.dump();
  auto e = list["credentials"][0];
  EXPECT_EQ(e["name"], "standin");
  EXPECT_EQ(e["kind"], "oauth");
  EXPECT_EQ(e["plan"], "max");
  auto decoded = t.decoded();
  ASSERT_EQ(decoded.count("standin"), 1u);
  expect_only_login(decoded["standin"], std::string(k_standin_access_prefix) + "code42");
  EXPECT_THAT(decoded["standin"][".claude.json"], HasSubstr("canary-test-code42@example.com"));
  EXPECT_THAT(decoded["standin"][".claude.json"], Not(HasSubstr("numStartups")));
  EXPECT_THAT(p.screen(), Not(HasSubstr("sk-ant-")));
  EXPECT_THAT(t.leftovers(), IsEmpty());
}

class LoginAborted : public ::testing::TestWithParam<LoginCase> {};

TEST_P(LoginAborted, StoresNothingAndLeavesNothing) {
  PB_REQUIRE_DOCKER();
  LabelledEnv t;
  PtyProcess p(t.env, {"login", "--image", test_image(k_standin_login_image)});
  ASSERT_TRUE(p.wait_for("Paste code here", 120)) << p.screen();
  p.write(GetParam().input);
  int rc = p.wait_exit(60);
  EXPECT_EQ(rc, 1) << p.screen();
  EXPECT_THAT(p.screen(), HasSubstr("nothing was stored"));
  EXPECT_THAT(t.decoded(), IsEmpty());
  EXPECT_THAT(t.leftovers(), IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(Inputs, LoginAborted,
                         ::testing::Values(LoginCase{"eof", "\x04"}, LoginCase{"empty", "\r"},
                                           LoginCase{"ctrl_c", "\x03"}),
                         [](const auto& param_info) { return std::string(param_info.param.what); });

TEST(Login, SigtermCleansUp) {
  PB_REQUIRE_DOCKER();
  LabelledEnv t;
  PtyProcess p(t.env, {"login", "--image", test_image(k_standin_login_image)});
  ASSERT_TRUE(p.wait_for("Paste code here", 120)) << p.screen();
  p.signal(SIGTERM);
  int rc = p.wait_exit(60);
  EXPECT_EQ(rc, 1) << p.screen();
  EXPECT_THAT(p.screen(), HasSubstr("nothing was stored"));
  EXPECT_THAT(t.decoded(), IsEmpty());
  EXPECT_THAT(t.leftovers(), IsEmpty());
}

TEST(Login, RealClaudeScreenIsRelayedAndAnOfflineLoginEndsCleanly) {
  PB_REQUIRE_DOCKER();
  LabelledEnv t;
  PtyProcess p(t.env, {"login", "--image", test_image("claude-2x-root")});
  // Past the first-run screens (login seeds them done): the folder's trust comes first.
  ASSERT_TRUE(p.wait_for("Accessing workspace", 180)) << p.screen();
  // Offline no login can complete: leave it as a user would.
  p.write("\x03");
  int rc = p.wait_exit(10);
  if (rc == -1) {
    p.write("\x03");
    rc = p.wait_exit(10);
  }
  if (rc == -1) {
    p.signal(SIGTERM);
    rc = p.wait_exit(60);
  }
  EXPECT_EQ(rc, 1) << p.screen();
  EXPECT_THAT(p.screen(), HasSubstr("nothing was stored"));
  EXPECT_THAT(t.decoded(), IsEmpty());
  EXPECT_THAT(t.leftovers(), IsEmpty());
}

TEST(Login, NeedsATerminal) {
  PB_REQUIRE_DOCKER();
  LabelledEnv t;
  auto r = t.env.cli({"login", "--image", test_image(k_standin_login_image)});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("needs a terminal"));
  EXPECT_THAT(t.leftovers(), IsEmpty());
}

}  // namespace
}  // namespace pb::test
