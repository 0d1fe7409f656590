// `rm` refuses a credential that sessions hold; `list` shows who holds what.

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "broker/commands/run.hpp"
#include "broker/objects/labels.hpp"
#include "core/files.hpp"
#include "probes/cache.hpp"
#include "probes/knowledge.hpp"
#include "tests/support/fake_docker.hpp"
#include "tests/support/test_env.hpp"

namespace fs = std::filesystem;

namespace pb {
namespace {

struct Outcome {
  int code = -1;
  std::string out, err;
};

class RmListMounts : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path home = env.root() / "login";
    fs::create_directories(home / ".claude");
    ASSERT_TRUE(write_file_atomic(home / ".claude" / ".credentials.json",
                                  as_bytes(R"({"claudeAiOauth":{"accessToken":"sk-ant-oat01-test-rm-list",)"
                                           R"("refreshToken":"sk-ant-ort01-test-rm-list","expiresAt":4102444800000,)"
                                           R"("scopes":["user:inference"],"subscriptionType":"max"}})"))
                    .ok());
    ASSERT_TRUE(write_file_atomic(
                    home / ".claude.json",
                    as_bytes(R"({"hasCompletedOnboarding":true,"oauthAccount":{"emailAddress":"rm@example.com"}})"))
                    .ok());
    auto r = run({"import", "--from-dir", home.string(), "--name", "work"});
    ASSERT_EQ(r.code, 0) << r.err;
    auto l = nlohmann::json::parse(run({"list", "--json"}).out);
    ASSERT_EQ(l["credentials"].size(), 1u);
    id = l["credentials"][0]["id"];
  }

  Outcome run(std::vector<std::string> args) {
    std::ostringstream out, err;
    broker::Context ctx{Paths{env.vault_home(), env.key_file(), env.cache_dir()}, out, err, docker->factory(), false};
    if (unreachable)
      ctx.docker = []() -> Result<std::shared_ptr<broker::DockerClient>> {
        return fail(ErrorKind::unreachable, "Docker did not answer at unix:///nowhere.sock");
      };
    args.insert(args.begin(), "para-broker");
    Outcome o;
    o.code = broker::run(args, ctx);
    o.out = out.str();
    o.err = err.str();
    return o;
  }

  void hold(const std::string& session, const std::string& credential) {
    broker::Labels l = broker::labels::managed(broker::Role::hold);
    l[broker::labels::k_credential] = credential;
    l[broker::labels::k_session] = session;
    const std::string name = "para-broker-hold-" + session;
    docker->volumes[name] = {name, "local", "/v/" + name, l};
  }

  test::TestEnv env;
  std::shared_ptr<test::FakeDocker> docker = std::make_shared<test::FakeDocker>();
  bool unreachable = false;
  std::string id;
};

TEST_F(RmListMounts, ListShowsTheSessionsThatHoldACredential) {
  hold("s2", id);
  hold("s1", id);
  hold("other", "0123456789abcdef");
  auto l = run({"list", "--json"});
  ASSERT_EQ(l.code, 0) << l.err;
  auto j = nlohmann::json::parse(l.out);
  EXPECT_EQ(j["credentials"][0]["mounts"], nlohmann::json({"s1", "s2"}));
  auto table = run({"list"});
  EXPECT_NE(table.out.find("MOUNTS"), std::string::npos);
}

TEST_F(RmListMounts, ListSaysMountsAreUnknownWithoutDocker) {
  unreachable = true;
  auto l = run({"list", "--json"});
  ASSERT_EQ(l.code, 0) << l.err;
  EXPECT_TRUE(nlohmann::json::parse(l.out)["credentials"][0]["mounts"].is_null());
}

TEST_F(RmListMounts, RmRefusesAMountedCredentialUnlessForced) {
  hold("s1", id);
  auto r = run({"rm", "work"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("is mounted by session(s) s1"), std::string::npos) << r.err;
  EXPECT_EQ(nlohmann::json::parse(run({"list", "--json"}).out)["credentials"].size(), 1u);

  auto forced = run({"rm", "work", "--force"});
  EXPECT_EQ(forced.code, 0) << forced.err;
  EXPECT_EQ(nlohmann::json::parse(run({"list", "--json"}).out)["credentials"].size(), 0u);
}

TEST_F(RmListMounts, RestoreWaitsUntilNoSessionHoldsTheCredential) {
  // A second capture of the same account replaces the login and keeps the first.
  const fs::path home = env.root() / "login2";
  fs::create_directories(home / ".claude");
  ASSERT_TRUE(write_file_atomic(home / ".claude" / ".credentials.json",
                                as_bytes(R"({"claudeAiOauth":{"accessToken":"sk-ant-oat01-test-rm-list-2",)"
                                         R"("refreshToken":"sk-ant-ort01-test-rm-list-2","expiresAt":4102444900000,)"
                                         R"("scopes":["user:inference"],"subscriptionType":"max"}})"))
                  .ok());
  ASSERT_TRUE(
      write_file_atomic(home / ".claude.json",
                        as_bytes(R"({"hasCompletedOnboarding":true,"oauthAccount":{"emailAddress":"rm@example.com"}})"))
          .ok());
  ASSERT_EQ(run({"import", "--from-dir", home.string(), "--name", "work"}).code, 0);
  auto listed = run({"list"});
  EXPECT_NE(listed.out.find("vault restore work"), std::string::npos) << "list says a login was replaced";

  // A live session's release would write its login back over the restored one.
  hold("s1", id);
  auto refused = run({"vault", "restore", "work"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("is mounted by session(s) s1"), std::string::npos) << refused.err;
  auto forced = run({"vault", "restore", "work", "--force"});
  EXPECT_EQ(forced.code, 0) << forced.err;
  EXPECT_EQ(nlohmann::json::parse(run({"list", "--json"}).out)["credentials"][0]["expires_at"], 4102444800000)
      << "the first login is back";
}

TEST_F(RmListMounts, RmOfAnUnmountedCredentialSucceeds) {
  hold("s1", "0123456789abcdef");  // another credential's session
  auto r = run({"rm", "work"});
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(RmListMounts, MountReportsWhatTheImageSetsThatBeatsTheLogin) {
  broker::ImageInfo info;
  info.id = "sha256:" + std::string(64, 'e');
  docker->images["app:1"] = info;
  docker->images[info.id] = info;
  probes::ProbeReport r;
  r.image = "app:1";
  r.image_id = info.id;
  r.claude.found = true;
  r.claude.kind = "npm-native";
  r.claude.version = "2.1.332";
  r.user = {std::string("dev"), 1000, 1000, "/home/dev"};
  r.locations.config_dir = "/home/dev/.claude";
  r.locations.global_config = "/home/dev/.claude.json";
  r.locations.credentials = "/home/dev/.claude/.credentials.json";
  r.in_image = {false, false};
  r.knowledge_version = probes::builtin_knowledge().value().knowledge_version;
  r.login_overrides = std::vector<probes::LoginOverride>{
      {"ANTHROPIC_API_KEY", "image ENV", "ANTHROPIC_API_KEY takes precedence over the subscription login"},
      {"apiKeyHelper", "/home/dev/.claude/settings.json", "apiKeyHelper takes precedence over the login"}};
  ASSERT_TRUE(probes::ProbeCache(env.cache_dir()).store(r).ok());

  auto m = run({"mount", "--image", "app:1", "--session", "s1", "--format", "json"});
  ASSERT_EQ(m.code, 0) << m.err;
  auto j = nlohmann::json::parse(m.out);
  ASSERT_EQ(j["conflicts"].size(), 2u) << m.out;
  EXPECT_EQ(j["conflicts"][0]["name"], "ANTHROPIC_API_KEY");
  EXPECT_EQ(j["conflicts"][0]["where"], "image ENV");
  EXPECT_EQ(j["conflicts"][1]["where"], "/home/dev/.claude/settings.json");
  EXPECT_NE(m.err.find("para-broker: note: ANTHROPIC_API_KEY (image ENV) beats the mounted login"), std::string::npos)
      << m.err;
  EXPECT_NE(m.err.find("apiKeyHelper"), std::string::npos) << m.err;

  // para forwards ANTHROPIC_API_KEY from its environment (its DEFAULT_KEYS): named, never its value.
  ::setenv("ANTHROPIC_API_KEY", "sk-ant-api03-CANARY-test-forwarded", 1);
  auto args = run({"mount", "--image", "app:1", "--session", "s1"});
  ::unsetenv("ANTHROPIC_API_KEY");
  ASSERT_EQ(args.code, 0) << args.err;
  EXPECT_NE(args.err.find("ANTHROPIC_API_KEY (environment) beats the mounted login"), std::string::npos) << args.err;
  EXPECT_NE(args.err.find("forward_env_keys"), std::string::npos) << args.err;
  EXPECT_EQ((args.out + args.err).find("CANARY"), std::string::npos);
  EXPECT_EQ(args.out.find("--mount"), 0u) << "stdout stays the docker arguments alone";
}

}  // namespace
}  // namespace pb
