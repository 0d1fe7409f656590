// `rm` refuses a credential that sessions hold; `list` shows who holds what.

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "broker/labels.hpp"
#include "broker/run.hpp"
#include "core/files.hpp"
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
    broker::Labels l = broker::labels::managed("hold");
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

TEST_F(RmListMounts, RmOfAnUnmountedCredentialSucceeds) {
  hold("s1", "0123456789abcdef");  // another credential's session
  auto r = run({"rm", "work"});
  EXPECT_EQ(r.code, 0) << r.err;
}

}  // namespace
}  // namespace pb
