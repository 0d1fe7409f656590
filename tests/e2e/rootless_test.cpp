// Rootless Docker: a daemon run by an unprivileged user through rootlesskit
// (tests/docker/rootless_dockerd.sh), so every uid in its containers is a
// subordinate id of that user on the host. probe, mount and release work
// through it; the session's user (uid 1234 in the image) owns its login in the
// volume as the container sees it, and real Claude Code 1.0.31 sends the
// mounted login's token. A rootless daemon's host network is not this
// machine's, so the stand-in API runs inside the session's container (node,
// from the image), and compares the bearer token with the mounted login
// itself: no token crosses the test's output.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/e2e/dispatch_support.hpp"
#include "tests/images/test_images.hpp"
#include "tests/support/test_env.hpp"

namespace pb {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

/// The session's part: a stand-in API on the container's loopback that writes
/// whether the first bearer token it saw is the mounted login's, then Claude
/// Code asked one question through it; and who owns the login file.
constexpr const char* k_session_script = R"SH(
cat > /tmp/standin.js <<'JS'
const http = require('http'), fs = require('fs');
const file = process.env.CLAUDE_CONFIG_DIR + '/.credentials.json';
const want = 'Bearer ' + JSON.parse(fs.readFileSync(file)).claudeAiOauth.accessToken;
http.createServer((q, s) => {
  if (q.headers.authorization !== undefined && !fs.existsSync('/tmp/verdict'))
    fs.writeFileSync('/tmp/verdict', q.headers.authorization === want ? 'bearer-matches' : 'bearer-differs');
  s.writeHead(401, {'content-type': 'application/json'});
  s.end('{"type":"error","error":{"type":"authentication_error","message":"stand-in"}}');
}).listen(8765, '127.0.0.1', () => fs.writeFileSync('/tmp/listening', ''));
JS
node /tmp/standin.js &
i=0; while [ ! -e /tmp/listening ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
ANTHROPIC_BASE_URL=http://127.0.0.1:8765 timeout 40 claude -p hi </dev/null >/dev/null 2>&1
echo "verdict=$(cat /tmp/verdict 2>/dev/null)"
echo "login=$(stat -c '%u:%g %a' "$(readlink -f "$CLAUDE_CONFIG_DIR/.credentials.json")")"
echo "config=$(stat -c '%u:%g %a' "$CLAUDE_CONFIG_DIR")"
echo "uid=$(id -u)"
)SH";

class RootlessDocker : public ::testing::Test {
 protected:
  void SetUp() override {
    PB_REQUIRE_DOCKER();
    if (::geteuid() != 0) GTEST_FAIL() << "this test starts a rootless daemon for another user: run it as root";
    auto started =
        test::run_process({test::source_path("tests/docker/rootless_dockerd.sh").string(), "start"}, {}, "", 120);
    ASSERT_EQ(started.exit_code, 0) << "no rootless daemon (scripts/setup installs rootlesskit and uidmap): "
                                    << started.err;
    m_dir = test::first_line(started.out);
    m_url = "unix://" + m_dir + "/run/docker.sock";
    // The image goes from the system daemon into the user's own store.
    auto loaded = test::run_process(
        {"sh", "-c", "docker save \"$1\" | DOCKER_HOST=\"$2\" docker load", "sh", m_image, m_url}, {}, "", 600);
    ASSERT_EQ(loaded.exit_code, 0) << loaded.err;
    m_d.env.set_env("DOCKER_HOST", m_url);
  }

  void TearDown() override {
    if (!m_dir.empty())
      (void)test::run_process({test::source_path("tests/docker/rootless_dockerd.sh").string(), "stop", m_dir}, {}, "",
                              120);
  }

  test::CommandResult rootless_docker(const std::vector<std::string>& args, int timeout_s = 180) {
    std::vector<std::string> argv{"docker"};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::run_process(argv, {{"DOCKER_HOST", m_url}}, "", timeout_s);
  }

  const std::string m_image = test::test_image("claude-1031-dev");
  test::Dispatch m_d{"rootless"};
  std::string m_dir, m_url;
};

TEST_F(RootlessDocker, ProbeMountAndReleaseAndTheSessionsUserOwnsAndUsesItsLogin) {
  auto info = rootless_docker({"info", "--format", "{{.SecurityOptions}}"});
  ASSERT_THAT(info.out, HasSubstr("rootless")) << "the daemon under test is not rootless: " << info.err;

  const std::string token = m_d.import_login("rootless");
  auto doctor = m_d.env.cli({"doctor"});
  EXPECT_THAT(doctor.out + doctor.err, HasSubstr(m_url));

  auto probe = m_d.env.cli({"probe", m_image, "--json"});
  ASSERT_EQ(probe.exit_code, 0) << probe.err;
  EXPECT_THAT(probe.out, HasSubstr("\"uid\": 1234"));

  const std::string session = m_d.env.unique("rl");
  auto mounted = m_d.env.cli({"mount", "--image", m_image, "--session", session});
  ASSERT_EQ(mounted.exit_code, 0) << mounted.err;
  std::vector<std::string> run{"run",       "--rm", "--label", std::string(test::k_test_label) + "=" + m_d.label,
                               "--network", "none"};
  for (const auto& a : test::split_ws(mounted.out)) run.push_back(a);
  for (const auto& a : {m_image, std::string("sh"), std::string("-c"), std::string(k_session_script)}) run.push_back(a);
  auto session_run = rootless_docker(run, 240);
  EXPECT_THAT(session_run.out, HasSubstr("verdict=bearer-matches")) << session_run.out << session_run.err;
  EXPECT_THAT(session_run.out, HasSubstr("login=1234:1234 600"));
  EXPECT_THAT(session_run.out, HasSubstr("config=1234:1234 700"));
  EXPECT_THAT(session_run.out, HasSubstr("uid=1234"));

  auto released = m_d.env.cli({"release", "--session", session});
  EXPECT_EQ(released.exit_code, 0) << released.err;
  auto left = rootless_docker({"volume", "ls", "-q", "--filter", "label=para-broker.credential"});
  EXPECT_EQ(left.out, "") << "release left volumes on the rootless engine";
  auto list = m_d.env.cli({"list", "--json"});
  EXPECT_THAT(list.out, HasSubstr("\"work\""));

  for (const auto* r : {&doctor, &probe, &mounted, &released, &list, &session_run})
    EXPECT_THAT(r->out + r->err, Not(HasSubstr(token)));
}

}  // namespace
}  // namespace pb
