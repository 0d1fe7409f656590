// A real login, end to end: `para-broker login` runs real Claude Code 1.0.31
// (USE_LOCAL_OAUTH=1 points its OAuth service at http://localhost:3000) on a
// pseudo-terminal, in a login container given its network and environment
// with login's own options (--network host, --env), against the loopback
// stand-in, which answers the authorization-code exchange and the calls the
// build makes after it. The test is the user: it picks the subscription
// login, reads the state from the sign-in URL Claude prints, and types the
// code the stand-in handed out, as `code#state`. Then the captured login is
// mounted into a session, where `claude -p hi` authenticates with the access
// token the stand-in issued. Nothing is left behind, and no token shows in
// para-broker's output.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/capture_support.hpp"
#include "tests/e2e/dispatch_support.hpp"
#include "tests/images/test_images.hpp"
#include "tests/support/fake_api_process.hpp"
#include "vault/vault.hpp"

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

namespace pb::test {
namespace {

/// The environment a 1.0.x login container needs to talk to the stand-in
/// only: the local OAuth service, a proxy that refuses everything else, no
/// updater, telemetry or error reports.
std::vector<std::string> stand_in_login_options() {
  return {"--network", "host",
          "--env",     "USE_LOCAL_OAUTH=1",
          "--env",     "HTTPS_PROXY=http://127.0.0.1:3000",
          "--env",     "HTTP_PROXY=http://127.0.0.1:3000",
          "--env",     "NO_PROXY=127.0.0.1,localhost",
          "--env",     "DISABLE_AUTOUPDATER=1",
          "--env",     "DISABLE_TELEMETRY=1",
          "--env",     "DISABLE_ERROR_REPORTING=1",
          "--env",     "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"};
}

/// The `state` of the sign-in URL on the screen ("" until it is there).
std::string sign_in_state(const std::string& screen) {
  static const std::regex k_url(R"(oauth/authorize\?[^\s]*[?&]state=([A-Za-z0-9_~.-]+))");
  std::smatch m;
  return std::regex_search(screen, m, k_url) ? m[1].str() : "";
}

/// The access token the vault holds for `name` (read through the vault API, never printed).
std::string stored_access_token(const TestEnv& env, const std::string& name) {
  vault::Options o;
  o.home = env.vault_home();
  o.key_file = env.key_file();
  auto v = vault::Vault::open(o);
  if (!v) return "";
  auto entry = v->read(name);
  if (!entry) return "";
  for (const auto& f : entry->files) {
    if (f.name != vault::k_credentials_file) continue;
    auto j = nlohmann::json::parse(std::string(f.data.begin(), f.data.end()), nullptr, false);
    if (j.is_object() && j.contains("claudeAiOauth") && j["claudeAiOauth"].contains("accessToken"))
      return j["claudeAiOauth"]["accessToken"].get<std::string>();
  }
  return "";
}

/// Waits for `text`, lets the screen settle (a prompt takes keys only once it
/// is drawn), then types `keys`.
bool answer(PtyProcess& p, const std::string& text, const std::string& keys, int timeout_s = 60) {
  if (!p.wait_for(text, timeout_s)) return false;
  p.wait_for("\x01", 1);  // a text that never shows: reads the screen for a second
  p.write(keys);
  return true;
}

TEST(RealLogin, Claude1031LogsInThroughTheStandInAndTheLoginAuthenticatesInAMount) {
  PB_REQUIRE_DOCKER();
  Dispatch d("real-login");
  const std::string code = "CANARY-test-code-" + d.label;
  OAuthService oauth;
  oauth.prefix = "sk-ant-CANARY-test-login-" + d.label;
  oauth.port = 3000;
  oauth.login_codes = {code};
  FakeApi api(600, oauth);

  std::vector<std::string> args{"login", "--image", test_image("claude-1031-root"), "--name", "work"};
  for (const auto& o : stand_in_login_options()) args.push_back(o);
  PtyProcess p(d.env, args);
  // The folder's trust, then the login method (the subscription), then the URL.
  ASSERT_TRUE(answer(p, "Yes, proceed", "\r", 180)) << p.screen();
  ASSERT_TRUE(answer(p, "Select login method", "\r")) << p.screen();
  ASSERT_TRUE(p.wait_for("Paste code here", 60)) << p.screen();
  std::string state;
  for (int i = 0; i < 50 && state.empty(); ++i) {
    p.wait_for("\x01", 1);
    state = sign_in_state(p.screen());
  }
  ASSERT_FALSE(state.empty()) << p.screen();
  p.write(code + "#" + state);
  p.wait_for("\x01", 1);
  p.write("\r");
  ASSERT_TRUE(answer(p, "Login successful", "\r")) << p.screen();
  // Back at the prompt: leave as a user would, Ctrl-C twice.
  const std::size_t before = p.screen().size();
  for (int i = 0; i < 30 && p.screen().find("for shortcuts", before) == std::string::npos; ++i) p.wait_for("\x01", 1);
  int rc = -1;
  for (int attempt = 0; attempt < 3 && rc == -1; ++attempt) {
    p.write("\x03");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the second within Claude's window
    p.write("\x03");
    rc = p.wait_exit(20);
  }
  ASSERT_EQ(rc, 0) << p.screen();
  EXPECT_THAT(p.screen(), HasSubstr("created credential 'work'"));

  // What the build asked the stand-in during the login.
  const std::string issued = api.last_login_issued();
  ASSERT_FALSE(issued.empty()) << "no code exchange was granted";
  for (const auto& r : api.requests()) {
    std::string fields;
    for (const auto& f : r.login_fields) fields += (fields.empty() ? "" : ",") + f;
    std::printf("[ login    ] %s %s%s%s%s%s%s\n", r.method.c_str(), r.target.substr(0, r.target.find('?')).c_str(),
                fields.empty() ? "" : " fields=", fields.c_str(), r.authorization ? " (bearer)" : "",
                r.login_issued ? " granted" : "", r.login_refused || r.oauth_presented ? " refused" : "");
  }
  EXPECT_EQ(stored_access_token(d.env, "work"), issued) << "the vault holds what the stand-in issued";
  auto list = d.env.cli({"list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  auto listed = nlohmann::json::parse(list.out);
  ASSERT_EQ(listed["credentials"].size(), 1u) << list.out;
  EXPECT_EQ(listed["credentials"][0]["kind"], "oauth");
  EXPECT_EQ(listed["credentials"][0]["plan"], "max");
  EXPECT_EQ(listed["credentials"][0]["account"], "c***@example.com");

  // No token in what para-broker printed; nothing of the login container left.
  EXPECT_THAT(p.screen(), Not(HasSubstr(oauth.prefix)));
  EXPECT_THAT(p.screen(), Not(HasSubstr("sk-ant-")));
  EXPECT_THAT(d.volumes(), IsEmpty());
  EXPECT_THAT(d.containers(), IsEmpty());

  // The captured login authenticates in a session.
  auto mount = d.mount(test_image("claude-1031-root"), "s1");
  ASSERT_FALSE(mount.empty());
  const std::vector<std::string> net{"--network", "host",
                                     "-e",        "USE_LOCAL_OAUTH=1",
                                     "-e",        "ANTHROPIC_BASE_URL=http://localhost:3000",
                                     "-e",        "NO_PROXY=127.0.0.1,localhost",
                                     "-e",        "HTTPS_PROXY=http://127.0.0.1:3000",
                                     "-e",        "DISABLE_AUTOUPDATER=1",
                                     "-e",        "DISABLE_TELEMETRY=1",
                                     "-e",        "DISABLE_ERROR_REPORTING=1",
                                     "-e",        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"};
  auto asked =
      d.run_in(mount, test_image("claude-1031-root"), "timeout 90 claude -p hi </dev/null 2>&1; echo \"exit=$?\"", net);
  EXPECT_THAT(asked.out, HasSubstr("pong")) << asked.out << asked.err;
  EXPECT_THAT(asked.out, HasSubstr("exit=0"));
  EXPECT_TRUE(api.saw_authorization("Bearer " + issued)) << "the session used the issued access token";
  auto released = d.env.cli({"release", "--session", "s1"});
  EXPECT_EQ(released.exit_code, 0) << released.err;
  EXPECT_THAT(released.out + released.err + list.out + list.err, Not(HasSubstr(oauth.prefix)));
  EXPECT_THAT(d.volumes(), IsEmpty());
  EXPECT_THAT(d.files_containing(issued), IsEmpty()) << "the token in plain text outside the vault";
  d.verify();
}

}  // namespace
}  // namespace pb::test
