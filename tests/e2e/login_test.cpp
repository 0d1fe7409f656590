// A real login, end to end: `para-broker login` runs real Claude Code 1.0.31
// (USE_LOCAL_OAUTH=1 points its OAuth service at http://localhost:3000) on a
// pseudo-terminal, in a login container given its network and environment
// with login's own options (--network host, --env), against the loopback
// stand-in, which answers the authorization-code exchange and the calls the
// build makes after it. The test is the user: it picks the subscription
// login, opens the sign-in URL Claude prints as the user's browser would, at
// the stand-in, whose sign-in page shows `CODE#STATE` bound to the URL's PKCE
// challenge, redirect URI and state, and types that. Then the captured login is
// mounted into a session, where `claude -p hi` authenticates with the access
// token the stand-in issued. Nothing is left behind, and no token shows in
// para-broker's output.
//
// The same with real Claude Code 2.1.332, whose OAuth and API hosts are
// fixed: login's --add-host points platform.claude.com and api.anthropic.com
// at the stand-in's HTTPS port, --ca-file hands the container the stand-in's
// throw-away CA, and the proxy variables keep every other request on this
// machine. 2.1.332 prints a compact sign-in URL (no state; only the client,
// the scopes and the PKCE challenge); the test opens it as the user's browser
// would, at the stand-in, whose sign-in page shows the code to paste, bound
// to that challenge: the exchange must present the matching verifier. With
// CLAUDE_CODE_FULL_SIGN_IN_LINK=1 it prints the full URL, whose state the
// exchange must present too.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
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

/// The width of the test's pseudo-terminal (capture_support.cpp).
constexpr std::size_t k_pty_columns = 120;

/// The environment a 2.x login container needs to talk to the stand-in only:
/// its fixed hosts on the stand-in's HTTPS port, the stand-in's CA, a proxy
/// that refuses everything else, no updater, telemetry or error reports.
std::vector<std::string> stand_in_login_options_2x(const FakeApi& api) {
  const std::string proxy = api.base_url();
  const std::string direct = "platform.claude.com,api.anthropic.com,127.0.0.1,localhost";
  return {"--network",  "host",
          "--add-host", "platform.claude.com:127.0.0.1",
          "--add-host", "api.anthropic.com:127.0.0.1",
          "--ca-file",  api.ca_file().string(),
          "--env",      "HTTPS_PROXY=" + proxy,
          "--env",      "HTTP_PROXY=" + proxy,
          "--env",      "https_proxy=" + proxy,
          "--env",      "http_proxy=" + proxy,
          "--env",      "NO_PROXY=" + direct,
          "--env",      "no_proxy=" + direct,
          "--env",      "DISABLE_AUTOUPDATER=1",
          "--env",      "DISABLE_TELEMETRY=1",
          "--env",      "DISABLE_ERROR_REPORTING=1",
          "--env",      "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"};
}

/// The last sign-in URL on the screen ("" until it is there). A URL longer
/// than the terminal is wide (2.x's full one) goes on at the start of the next
/// line, so a line that fills the width is joined with the next.
std::string sign_in_url(const std::string& screen) {
  static const std::regex k_url(R"(https?://[A-Za-z0-9.:-]+/[A-Za-z0-9/_-]*oauth/authorize\?[A-Za-z0-9_~.%&=+-]+)");
  const std::size_t at = screen.rfind("oauth/authorize?");
  if (at == std::string::npos) return "";
  const std::size_t start = screen.rfind("http", at);
  if (start == std::string::npos) return "";
  // From the start of the URL's line: one '\n' for each line break (CR LF, CR CR LF or a lone CR).
  const std::size_t line_start = screen.find_last_of("\r\n", start);
  std::string rest = screen.substr(line_start == std::string::npos ? 0 : line_start + 1);
  std::string lines;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] != '\r') {
      lines += rest[i];
      continue;
    }
    while (i + 1 < rest.size() && rest[i + 1] == '\r') ++i;
    if (i + 1 < rest.size() && rest[i + 1] == '\n') ++i;
    lines += '\n';
  }
  std::string joined;
  for (std::size_t pos = 0; pos <= lines.size();) {
    const std::size_t end = std::min(lines.find('\n', pos), lines.size());
    joined += lines.substr(pos, end - pos);
    if (end - pos < k_pty_columns) break;
    pos = end + 1;
  }
  std::smatch m;
  return std::regex_search(joined, m, k_url) ? m[0].str() : "";
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

/// The user's part of a login once Claude Code asks for the code: open the
/// URL it printed at the stand-in's sign-in page, paste the code the page
/// shows (CODE#STATE), confirm, and at the prompt (`prompt_mark` shows it is
/// back) leave as a user would, Ctrl-C twice. `url` and `pasted` say what was
/// opened and typed.
void sign_in_and_leave(PtyProcess& p, FakeApi& api, const std::string& prompt_mark, std::string& url,
                       std::string& pasted) {
  ASSERT_TRUE(p.wait_for("Paste code here", 60)) << p.screen();
  for (int i = 0; i < 50 && url.empty(); ++i) {
    p.wait_for("\x01", 1);
    url = sign_in_url(p.screen());
  }
  ASSERT_FALSE(url.empty()) << p.screen();
  pasted = api.sign_in(url);
  ASSERT_FALSE(pasted.empty()) << "the stand-in's sign-in page refused " << url;
  p.write(pasted);
  p.wait_for("\x01", 1);
  p.write("\r");
  ASSERT_TRUE(answer(p, "Login successful", "\r")) << p.screen();
  const std::size_t before = p.screen().size();
  for (int i = 0; i < 30 && p.screen().find(prompt_mark, before) == std::string::npos; ++i) p.wait_for("\x01", 1);
  int rc = -1;
  for (int attempt = 0; attempt < 3 && rc == -1; ++attempt) {
    p.write("\x03");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the second within Claude's window
    p.write("\x03");
    rc = p.wait_exit(20);
  }
  ASSERT_EQ(rc, 0) << p.screen();
  EXPECT_THAT(p.screen(), HasSubstr("created credential 'work'"));
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
  std::string url, pasted;
  sign_in_and_leave(p, api, "for shortcuts", url, pasted);
  if (::testing::Test::HasFatalFailure()) return;
  EXPECT_EQ(pasted.substr(0, pasted.find('#')), code) << "the code the sign-in page handed out, CODE#STATE";

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
  int verified = 0;
  for (const auto& r : api.requests()) verified += r.login_pkce_verified.value_or(false);
  EXPECT_EQ(verified, 1) << "the exchange presented the verifier, redirect URI and state of the URL";
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

/// A real 2.1.332 login through the stand-in, and the login in a mount. With
/// `full_link` Claude prints the full sign-in URL (CLAUDE_CODE_FULL_SIGN_IN_LINK),
/// whose state the sign-in page shows and the exchange must present again;
/// else the compact one a user sees by default.
void real_login_2x(bool full_link) {
  Dispatch d(full_link ? "real-login-2x-full" : "real-login-2x");
  OAuthService oauth;
  oauth.prefix = "sk-ant-CANARY-test-login-" + d.label;
  oauth.tls = true;
  oauth.tls_port = 443;
  oauth.login_codes = {"CANARY-test-code-" + d.label};
  FakeApi api(600, oauth);
  const std::string image = test_image("claude-2x-dev");

  std::vector<std::string> args{"login", "--image", image, "--name", "work"};
  for (const auto& o : stand_in_login_options_2x(api)) args.push_back(o);
  if (full_link) args.insert(args.end(), {"--env", "CLAUDE_CODE_FULL_SIGN_IN_LINK=1"});
  PtyProcess p(d.env, args);
  // The folder's trust ("No, exit" is the default: down, then Enter), then
  // the login method (the subscription, the first), then the URL.
  ASSERT_TRUE(answer(p, "Yes, I trust this folder", "\x1b[B", 180)) << p.screen();
  p.wait_for("\x01", 1);
  p.write("\r");
  ASSERT_TRUE(answer(p, "Select login method", "\r")) << p.screen();
  // Back at the prompt, its footer names shift+tab.
  std::string url, pasted;
  sign_in_and_leave(p, api, "shift+tab", url, pasted);
  if (::testing::Test::HasFatalFailure()) return;
  EXPECT_EQ(url.find("state=") != std::string::npos, full_link) << url;

  // What the build asked the stand-in during the login.
  const std::string issued = api.last_login_issued();
  ASSERT_FALSE(issued.empty()) << "no code exchange was granted";
  int pages = 0, verified = 0;
  for (const auto& r : api.requests()) {
    std::string fields;
    for (const auto& f : r.login_fields) fields += (fields.empty() ? "" : ",") + f;
    pages += r.login_page.has_value();
    verified += r.login_pkce_verified.value_or(false);
    std::printf("[ login 2x ] %s %s%s%s%s%s%s%s%s %d\n", r.method.c_str(), r.tls ? "https://" : "http://",
                r.host.c_str(), r.target.substr(0, r.target.find('?')).c_str(),
                fields.empty() ? "" : " fields=", fields.c_str(), r.authorization ? " (bearer)" : "",
                r.login_page ? " sign-in page" : "", r.login_pkce_verified.value_or(false) ? " pkce-verified" : "",
                r.status);
  }
  EXPECT_EQ(pages, 1) << "the sign-in page handed out one code";
  bool page_form = false;
  for (const auto& r : api.requests()) page_form |= r.login_page == (full_link ? "full" : "compact");
  EXPECT_TRUE(page_form) << "the URL Claude printed was the " << (full_link ? "full" : "compact") << " one";
  EXPECT_EQ(verified, 1) << "the exchange presented the verifier of the URL's challenge";
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
  auto mount = d.mount(image, "s1");
  ASSERT_FALSE(mount.empty());
  auto asked = d.run_in(mount, image, "timeout 90 claude -p hi </dev/null 2>&1; echo \"exit=$?\"",
                        docker_client_args(api, "pb-e2e-login-" + d.label, "login-2x"));
  EXPECT_THAT(asked.out, HasSubstr("pong")) << asked.out << asked.err;
  EXPECT_THAT(asked.out, HasSubstr("exit=0"));
  EXPECT_TRUE(api.saw_authorization("Bearer " + issued)) << "the session used the issued access token";
  bool messages_with_issued = false;
  for (const auto& r : api.requests())
    messages_with_issued |=
        r.tls && r.target.rfind("/v1/messages", 0) == 0 && r.status == 200 && r.authorization == "Bearer " + issued;
  EXPECT_TRUE(messages_with_issued) << "a Bearer request with the issued token reached /v1/messages";
  auto released = d.env.cli({"release", "--session", "s1"});
  EXPECT_EQ(released.exit_code, 0) << released.err;
  EXPECT_THAT(released.out + released.err + list.out + list.err, Not(HasSubstr(oauth.prefix)));
  EXPECT_THAT(d.volumes(), IsEmpty());
  EXPECT_THAT(d.files_containing(issued), IsEmpty()) << "the token in plain text outside the vault";
  d.verify();
}

TEST(RealLogin, Claude2x332LogsInThroughTheStandInAndTheLoginAuthenticatesInAMount) {
  PB_REQUIRE_DOCKER();
  real_login_2x(false);
}

TEST(RealLogin, Claude2x332WithTheFullSignInUrlAlsoPresentsItsState) {
  PB_REQUIRE_DOCKER();
  real_login_2x(true);
}

}  // namespace
}  // namespace pb::test
