// ssh:// endpoints, end to end against a private sshd on loopback (see
// private_sshd.hpp): the API and a hijacked stream through the client, then
// probe, mount and release through the CLI, and ssh's failures as one sentence
// with exit 5 and no prompt.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "broker/docker/connect.hpp"
#include "broker/docker/docker_client.hpp"
#include "tests/docker/private_sshd.hpp"
#include "tests/images/test_images.hpp"
#include "tests/support/test_env.hpp"

namespace pb {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* k_canary = "sk-ant-oat01-CANARY-test-ssh-0123456789";
const std::string k_image = test::test_image("claude-2x-dev");

class SshEngine : public ::testing::Test {
 protected:
  void SetUp() override {
    PB_REQUIRE_DOCKER();
    m_label = m_env.unique("ssh");
    try {
      m_sshd.emplace(m_env.root() / "sshd");
    } catch (const std::exception& e) {
      GTEST_FAIL() << e.what();
    }
    m_env.set_env("DOCKER_HOST", m_sshd->url());
    m_env.set_env("PATH", m_sshd->path_env());
    m_env.set_env("PARA_BROKER_EXTRA_LABELS", std::string(test::k_test_label) + "=" + m_label);
  }
  void TearDown() override {
    if (m_sshd) m_sshd->stop_masters(m_env.cache_dir() / "ssh");
    test::remove_labelled(m_label);
  }

  /// The client of this process through the private sshd (DOCKER_HOST and
  /// PATH set for the call, then put back).
  std::shared_ptr<broker::DockerClient> client() {
    Scoped host("DOCKER_HOST", m_sshd->url());
    Scoped path("PATH", m_sshd->path_env());
    Scoped cache("PARA_BROKER_CACHE", m_env.cache_dir().string());
    auto c = broker::docker::connect_from_environment();
    EXPECT_TRUE(c.ok()) << c.error().message;
    return c.ok() ? *c : nullptr;
  }

  struct Scoped {
    Scoped(const char* name, const std::string& value) : m_name(name) {
      if (const char* v = ::getenv(name)) m_before = v;
      ::setenv(name, value.c_str(), 1);
    }
    ~Scoped() {
      if (m_before)
        ::setenv(m_name, m_before->c_str(), 1);
      else
        ::unsetenv(m_name);
    }
    const char* m_name;
    std::optional<std::string> m_before;
  };

  test::TestEnv m_env;
  std::string m_label;
  std::optional<test::PrivateSshd> m_sshd;
};

TEST_F(SshEngine, TheApiAndAHijackedStreamWorkThroughSsh) {
  // Requests are made while PATH and DOCKER_HOST still name the private sshd:
  // every request runs ssh anew (or through its multiplexing master).
  Scoped host("DOCKER_HOST", m_sshd->url());
  Scoped path("PATH", m_sshd->path_env());
  Scoped cache("PARA_BROKER_CACHE", m_env.cache_dir().string());
  auto docker = broker::docker::connect_from_environment();
  ASSERT_TRUE(docker.ok()) << docker.error().message;
  EXPECT_EQ((*docker)->endpoint(), m_sshd->url());
  EXPECT_FALSE((*docker)->insecure_transport()) << "ssh carries logins";
  auto v = (*docker)->version();
  ASSERT_TRUE(v.ok()) << v.error().message;

  broker::ContainerSpec spec;
  spec.image = test::busybox_image(m_label);
  spec.cmd = {"sleep", "120"};
  spec.network_mode = "none";
  spec.labels[test::k_test_label] = m_label;
  auto id = (*docker)->container_create(spec);
  ASSERT_TRUE(id.ok()) << id.error().message;
  ASSERT_TRUE((*docker)->container_start(*id).ok());
  // exec start hijacks the connection: stdin goes up the ssh pipe, is closed
  // (a half-close through ssh), and the output comes back.
  broker::ExecSpec exec;
  exec.cmd = {"cat"};
  auto exec_id = (*docker)->exec_create(*id, exec);
  ASSERT_TRUE(exec_id.ok()) << exec_id.error().message;
  broker::ExecOptions options;
  options.input = "through ssh and back\n";
  auto result = (*docker)->exec_start(*exec_id, options);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->out, "through ssh and back\n");
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_TRUE((*docker)->container_remove(*id, true, true).ok());
}

TEST_F(SshEngine, ProbeMountAndReleaseWorkThroughSsh) {
  const auto home = m_env.root() / "import-home";
  std::filesystem::create_directories(home / ".claude");
  std::ofstream(home / ".claude" / ".credentials.json")
      << R"({"claudeAiOauth":{"accessToken":")" << k_canary
      << R"(","refreshToken":"sk-ant-ort01-CANARY-test-ssh","expiresAt":4102444800000,"scopes":["user:inference"]}})";
  std::ofstream(home / ".claude.json")
      << R"({"hasCompletedOnboarding":true,"oauthAccount":{"accountUuid":"00000000-0000-4000-8000-0000000055a1",)"
      << R"("emailAddress":"canary-test-ssh@example.com"}})";
  auto imported = m_env.cli({"import", "--from-dir", home.string(), "--name", "work"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;

  auto doctor = m_env.cli({"doctor"});
  EXPECT_THAT(doctor.out + doctor.err, HasSubstr(m_sshd->url()));
  auto probe = m_env.cli({"probe", k_image, "--json"});
  ASSERT_EQ(probe.exit_code, 0) << probe.err;
  EXPECT_THAT(probe.out, HasSubstr("\"version\": \"2.1.332\""));

  const std::string session = m_env.unique("ssh-s");
  auto mounted = m_env.cli({"mount", "--image", k_image, "--session", session});
  ASSERT_EQ(mounted.exit_code, 0) << mounted.err;
  EXPECT_THAT(mounted.out, HasSubstr("dst=/para-broker"));
  // The session's config reached its volume (read through the local socket, not ssh).
  auto seen =
      test::docker_cli({"run", "--rm", "--label", std::string(test::k_test_label) + "=" + m_label, "--network", "none",
                        "--mount", "type=volume,src=para-broker-hold-" + session + ",dst=/para-broker/claude",
                        "--entrypoint", "sh", k_image, "-c", "ls -a /para-broker/claude"});
  EXPECT_THAT(seen.out, HasSubstr(".claude.json")) << seen.err;

  auto released = m_env.cli({"release", "--session", session});
  EXPECT_EQ(released.exit_code, 0) << released.err;
  auto left = test::docker_cli({"volume", "ls", "-q", "--filter", "name=para-broker-hold-" + session});
  EXPECT_EQ(left.out, "") << "release removed the session's volume";
  for (const auto* r : {&imported, &doctor, &probe, &mounted, &released}) {
    EXPECT_THAT(r->out + r->err, Not(HasSubstr(k_canary)));
  }
}

TEST_F(SshEngine, SshThatWritesMuchOnStderrNeverStallsTheConnection) {
  // Far more than a pipe holds, written before ssh connects: nobody reads
  // ssh's stderr while the connection works, so it must not be a pipe.
  m_sshd->make_chatty(1 << 20);
  m_env.set_env("PARA_BROKER_SSH_MULTIPLEX", "0");
  auto probe = m_env.cli({"probe", k_image, "--json"}, "", 120);
  EXPECT_EQ(probe.exit_code, 0) << probe.err;
  EXPECT_THAT(probe.out, HasSubstr("\"version\": \"2.1.332\""));
  auto doctor = m_env.cli({"doctor"}, "", 60);
  EXPECT_THAT(doctor.out + doctor.err, HasSubstr(m_sshd->url() + " answers"));
}

TEST_F(SshEngine, SshFailuresAreOneSentenceWithExit5AndNeverAPrompt) {
  // Nothing listens on the port.
  const std::string closed = "ssh://root@127.0.0.1:" + std::to_string(test::PrivateSshd::free_port());
  m_env.set_env("DOCKER_HOST", closed);
  auto r = m_env.cli({"probe", k_image}, "", 60);
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_THAT(r.err, HasSubstr("ssh exited with 255"));
  EXPECT_THAT(r.err, HasSubstr("Connection refused"));

  // An unknown host key: in a batch run ssh refuses at once instead of asking.
  m_sshd->forget_host_key();
  m_env.set_env("DOCKER_HOST", m_sshd->url());
  m_env.set_env("PARA_BROKER_SSH_MULTIPLEX", "0");
  r = m_env.cli({"probe", k_image, "--refresh"}, "", 60);
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_THAT(r.err, HasSubstr("Host key verification failed"));

  // A URL ssh could read as an option never reaches ssh.
  m_env.set_env("DOCKER_HOST", "ssh://-oProxyCommand=touch%20x@127.0.0.1");
  r = m_env.cli({"probe", k_image}, "", 60);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("not a usable ssh URL"));
}

}  // namespace
}  // namespace pb
