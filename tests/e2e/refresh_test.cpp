// Real refreshes: Claude Code 1.0.31 and 2.1.332 refreshing an expired login
// against the strictly rotating stand-in OAuth service (a used refresh token
// is revoked and presenting it again gets 400 invalid_grant, as with the real
// service). USE_LOCAL_OAUTH=1 points 1.0.x at http://localhost:3000; 2.x has
// fixed hosts (platform.claude.com, api.anthropic.com), which --add-host
// points at the stand-in's HTTPS port 443, and trusts its throw-away CA
// through NODE_EXTRA_CA_CERTS.
//
// The promise under test: every session of one credential whose images run as
// one user uses the live refresh token, whatever the image, also when they
// start at the same moment; and the vault ends with the pair the service
// issued last. (Before the shared login volume, three sessions in three
// images answered 1 of 3.)

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/dispatch_support.hpp"
#include "tests/images/test_images.hpp"
#include "tests/support/fake_api_process.hpp"
#include "vault/vault.hpp"

namespace pb::test {
namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// `claude -p hi` `times` times in a session's container (`pause` seconds
/// apart), talking only to the stand-in on loopback. `tag` names the container
/// (pb-e2e-<tag>-<label>) and goes with every API request (X-Pb-Session), so
/// the stand-in's record tells sessions apart.
std::future<CommandResult> ask(Dispatch& d, const FakeApi& api, const std::vector<std::string>& args,
                               const std::string& image, const std::string& tag, int seconds = 90, int times = 1,
                               int pause = 0) {
  return std::async(std::launch::async, [&d, &api, args, image, tag, seconds, times, pause] {
    const std::string one = "timeout " + std::to_string(seconds) + " claude -p hi </dev/null 2>&1; echo \"exit=$?\"";
    const std::string script = "for i in $(seq " + std::to_string(times) + "); do [ $i = 1 ] || sleep " +
                               std::to_string(pause) + "; " + one + "; done";
    return d.run_in(args, image, script, docker_client_args(api, "pb-e2e-" + tag + "-" + d.label, tag));
  });
}

/// How many of a container's `claude -p hi` runs answered (printed the stand-in's "pong" and exited 0).
int answers(const CommandResult& r) {
  int n = 0;
  for (std::size_t at = 0; (at = r.out.find("pong\nexit=0", at)) != std::string::npos; ++at) ++n;
  return n;
}

/// What the stand-in saw from one session (by its X-Pb-Session tag): its
/// /v1/messages requests, each with the token it presented and the answer,
/// printed so a failing run shows whether the session ran without credentials.
std::string api_calls_of(const FakeApi& api, const std::string& tag) {
  std::string out;
  for (const auto& r : api.requests()) {
    if (r.session != tag || r.target.rfind("/v1/messages", 0) != 0) continue;
    out += " " + std::to_string(r.status) + ":" + (r.authorization ? r.authorization->substr(7) : "(none)");
  }
  return out.empty() ? " none" : out;
}

/// Every request the stand-in answered, as "METHOD path status ×count" lines
/// (query strings dropped), so a run shows what the build asked for.
std::string requests_seen(const FakeApi& api) {
  std::map<std::string, int> seen;
  for (const auto& r : api.requests())
    ++seen[r.method + " " + (r.tls ? "https://" : "http://") + r.host + r.target.substr(0, r.target.find('?')) + " " +
           std::to_string(r.status)];
  std::string out;
  for (const auto& [what, n] : seen) out += "             " + what + " x" + std::to_string(n) + "\n";
  return out;
}

/// The refreshes and API requests in order, one line each: seconds since the
/// first, the session's tag (API requests only), the answer, and for a refresh
/// the token presented and the one issued (canaries, shortened to their number).
std::string timeline(const FakeApi& api) {
  const auto requests = api.requests();
  if (requests.empty()) return "";
  auto tail = [](const std::string& token) {
    return token.find("-first-") != std::string::npos ? std::string("first") : token.substr(token.rfind('-') + 1);
  };
  std::string out;
  for (const auto& r : requests) {
    const bool refresh = r.oauth_presented.has_value();
    if (!refresh && r.target.rfind("/v1/messages", 0) != 0) continue;
    char when[32];
    std::snprintf(when, sizeof when, "%7.2f s ", static_cast<double>(r.time_ms - requests.front().time_ms) / 1000.0);
    out += "             " + std::string(when) + std::to_string(r.status) + " ";
    if (refresh)
      out +=
          "refresh presented " + tail(*r.oauth_presented) + (r.oauth_issued ? " issued " + tail(*r.oauth_issued) : "");
    else
      out += "messages " + r.session.value_or("?") + " with access " +
             (r.authorization ? tail(*r.authorization) : "(none)");
    out += "\n";
  }
  return out;
}

/// Imports an expired login as "work" (every session must refresh before its
/// first request) and returns its refresh token, the one the stand-in starts with.
std::string import_expired(Dispatch& d) {
  const std::string first_refresh = "sk-ant-ort01-CANARY-test-first-" + d.label;
  auto imported = d.import_tokens("sk-ant-oat01-CANARY-test-expired-" + d.label, first_refresh, now_ms() - 3'600'000);
  EXPECT_EQ(imported.exit_code, 0) << imported.err;
  return first_refresh;
}

/// The stand-in for one test: HTTP on 3000 for 1.0.x (USE_LOCAL_OAUTH), HTTPS
/// on 443 with a fresh CA for 2.x (its HTTP port then only refuses proxying).
OAuthService service(const std::string& first_refresh, const Dispatch& d, bool tls, long long expires_in = 3600) {
  OAuthService o{first_refresh, "CANARY-test-live-" + d.label, expires_in, 3000};
  if (tls) {
    o.port = 0;
    o.tls = true;
    o.tls_port = 443;
  }
  return o;
}

/// Three sessions of one expired login in three images of one owner, started
/// together, then a late one: all answer after exactly one refresh, and the
/// vault ends with the pair the service issued last.
void three_images_of_one_owner(const std::vector<std::string>& images, bool tls) {
  Dispatch d(tls ? "refresh-2x" : "refresh");
  const std::string first_refresh = import_expired(d);
  ASSERT_FALSE(::testing::Test::HasFailure());
  // Three Claude Code processes find the login expired at once: one refreshes
  // under the lock they share, the others wait for it, re-read the file and
  // use the new pair.
  FakeApi api(600, service(first_refresh, d, tls));

  std::vector<std::vector<std::string>> args;
  for (std::size_t i = 0; i < images.size(); ++i) {
    args.push_back(d.mount(images[i], "r" + std::to_string(i)));
    ASSERT_EQ(args.back().size(), 10u);
    EXPECT_EQ(args.back()[3], args.front()[3]) << "one owner (root): one login volume";
  }
  std::vector<std::future<CommandResult>> runs;
  for (std::size_t i = 0; i < images.size(); ++i)
    runs.push_back(ask(d, api, args[i], images[i], "refresh-" + std::to_string(i)));
  // What the design must rule out: a session presenting a refresh token
  // another rotated away, or sending a dead access token. What it cannot rule
  // out is 1.0.x's own torn read (docs/dispatch.md): a session that read the
  // file at the instant another rewrote it in place runs with no login and
  // sends no request at all. Such a session is counted, not hidden; 2.1.332
  // writes by rename and has no such excuse.
  int answered = 0;
  int torn = 0;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const CommandResult r = runs[i].get();
    const std::string tag = "refresh-" + std::to_string(i);
    int sent = 0, refused = 0;
    for (const auto& q : api.requests())
      if (q.session == tag && q.target.rfind("/v1/messages", 0) == 0) {
        ++sent;
        refused += q.status == 401;
      }
    EXPECT_EQ(refused, 0) << images[i] << " sent a dead access token:" << api_calls_of(api, tag);
    if (answers(r) == 1) {
      ++answered;
      continue;
    }
    const bool read_no_login = !tls && sent == 0 && r.out.find("Invalid API key") != std::string::npos;
    torn += read_no_login;
    EXPECT_TRUE(read_no_login) << images[i] << ": " << r.out << r.err << "\n  its API calls:" << api_calls_of(api, tag);
  }
  std::printf(
      "[ refresh  ] %s: %d/%zu sessions answered, %d read the login while another rewrote it; %zu "
      "refreshes granted, %zu refused\n%s",
      tls ? "2.1.332" : "1.0.31", answered, runs.size(), torn, api.refreshes_granted(), api.refreshes_refused(),
      requests_seen(api).c_str());
  EXPECT_GE(answered, 2) << "one rewrite can tear one reader's read, never the refresh itself";
  EXPECT_EQ(answered + torn, 3);
  EXPECT_EQ(api.refreshes_granted(), 1u) << "the others used the refreshed pair";
  EXPECT_EQ(api.refreshes_refused(), 0u) << "a session presented a refresh token another had rotated away";

  // A session that starts later, after those refreshes, gets the live token.
  args.push_back(d.mount(images[0], "r-late"));
  const CommandResult late = ask(d, api, args.back(), images[0], "refresh-late").get();
  EXPECT_EQ(answers(late), 1) << late.out << late.err;
  EXPECT_EQ(api.refreshes_refused(), 0u);

  for (const char* s : {"r0", "r1", "r2", "r-late"}) {
    auto released = d.env.cli({"release", "--session", s});
    EXPECT_EQ(released.exit_code, 0) << s << ": " << released.err;
  }
  api.stop();
  EXPECT_FALSE(api.last_issued().empty());
  EXPECT_EQ(d.stored_refresh_token(), api.last_issued()) << "the vault must end with the live refresh token";
  EXPECT_TRUE(d.volumes().empty());
  d.verify();
}

TEST(DispatchRefresh, SessionsInThreeImagesOfOneOwnerAllSurviveRealRefreshes) {
  PB_REQUIRE_DOCKER();
  three_images_of_one_owner(
      {test_image("claude-1031-root"), test_image("claude-1031-xdg"), test_image("claude-1031-configdir")}, false);
}

TEST(DispatchRefresh, SessionsInThree2xImagesOfOneOwnerAllSurviveRealRefreshesOverTls) {
  PB_REQUIRE_DOCKER();
  three_images_of_one_owner(
      {test_image("claude-2x-root"), test_image("claude-2x-xdg"), test_image("claude-2x-configdir")}, true);
}

/// Sessions that refresh during their life, not only at the start: the
/// stand-in issues tokens that expire in `expires_in` s (< 300, so every pair
/// it issues is due for a refresh at once: Claude Code refreshes when fewer
/// than 5 minutes remain), and each of three sessions (three images of one
/// owner) runs `claude -p hi` twice, `pause` s apart. Measured (10 runs of
/// each test, 2026-12-06): 1.0.31 refreshes before every API request, also
/// right after another session's refresh (it checks the expiry again under the
/// lock): 11 to 15 refreshes for 6 runs. 2.1.332 refreshes only when the pair
/// it read is still the one on file once it holds the lock; a session that
/// waited for another's refresh uses that pair: 2 to 4 refreshes for 6 runs.
///
/// Asserted for both: the vault ends with the login the sessions left in the
/// login volume (para-broker's promise). For 2.1.332 also: at least two
/// refreshes, none refused, every run answers, and the pair on file is the one
/// issued last. For 1.0.31 those depend on races of Claude Code's own, so they
/// are measured and printed, not asserted: it reads .credentials.json without
/// the lock while another session rewrites it in place (truncate, then write),
/// so a reader can find it empty and run without a login ("Invalid API key ·
/// Please run /login", no /v1/messages request at all); and a granted refresh
/// can fail to reach the file (the file keeps the pair before it, whose refresh
/// token is revoked: every later refresh is refused with 400 invalid_grant).
void sessions_refresh_during_their_life(const std::vector<std::string>& images, bool tls) {
  constexpr long long k_expires_in = 60;
  constexpr int k_runs = 2;
  constexpr int k_pause = 5;
  const char* build = tls ? "2.1.332" : "1.0.31";
  Dispatch d(tls ? "refresh-life-2x" : "refresh-life");
  const std::string first_refresh = import_expired(d);
  ASSERT_FALSE(::testing::Test::HasFailure());
  FakeApi api(600, service(first_refresh, d, tls, k_expires_in));

  std::vector<std::vector<std::string>> args;
  std::vector<std::string> tags;
  for (std::size_t i = 0; i < images.size(); ++i) {
    args.push_back(d.mount(images[i], "l" + std::to_string(i)));
    ASSERT_EQ(args.back().size(), 10u);
    tags.push_back("life-" + std::to_string(i));
  }
  std::vector<std::future<CommandResult>> runs;
  for (std::size_t i = 0; i < images.size(); ++i)
    runs.push_back(ask(d, api, args[i], images[i], tags[i], 75, k_runs, k_pause));
  int answered = 0;
  std::string failures;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const CommandResult r = runs[i].get();
    const int n = answers(r);
    answered += n;
    if (n != k_runs)
      failures += "  " + images[i] + ": " + std::to_string(n) + "/" + std::to_string(k_runs) +
                  " answered; its /v1/messages requests (status:token):" + api_calls_of(api, tags[i]) +
                  "\n  output: " + r.out + "\n";
  }
  std::size_t messages = 0;
  std::size_t messages_refused = 0;
  for (const auto& r : api.requests()) {
    if (r.target.rfind("/v1/messages", 0) != 0) continue;
    ++messages;
    messages_refused += r.status != 200;
  }
  std::printf(
      "[ refresh  ] %s, expires_in %lld s, %d runs a session: %d/%zu runs answered; %zu refreshes granted, "
      "%zu refused; /v1/messages %zu, %zu of them refused\n%s",
      build, k_expires_in, k_runs, answered, runs.size() * k_runs, api.refreshes_granted(), api.refreshes_refused(),
      messages, messages_refused, failures.c_str());
  if (tls) {
    // A session that starts after those refreshes, in the last image (another
    // user's, when the images run as several users), answers with the live pair.
    const auto late = d.mount(images.back(), "l-late");
    ASSERT_EQ(late.size(), 10u);
    const std::size_t refused_before = api.refreshes_refused();
    const CommandResult r = ask(d, api, late, images.back(), "life-late", 75).get();
    EXPECT_EQ(answers(r), 1) << r.out << r.err << "\n  its API calls:" << api_calls_of(api, "life-late");
    EXPECT_EQ(api.refreshes_refused(), refused_before) << "the late session was given a revoked refresh token";
    EXPECT_EQ(d.env.cli({"release", "--session", "l-late"}).exit_code, 0);
  }
  // The refresh token on file in the login volume when the sessions are done.
  const CommandResult file =
      d.run_in(args[0], images[0], "cat /para-broker/login/.credentials.json", {"--network", "none"});
  auto on_file_json = nlohmann::json::parse(file.out, nullptr, false);
  const std::string on_file = on_file_json.is_object() ? on_file_json["claudeAiOauth"].value("refreshToken", "") : "";
  std::printf("%s%s             on file at the end: refresh %s, issued last: %s\n", requests_seen(api).c_str(),
              timeline(api).c_str(), on_file.substr(on_file.rfind('-') + 1).c_str(),
              api.last_issued().substr(api.last_issued().rfind('-') + 1).c_str());
  EXPECT_FALSE(on_file.empty()) << file.out << file.err;
  if (tls) {
    EXPECT_GE(api.refreshes_granted(), 2u);
    EXPECT_EQ(api.refreshes_refused(), 0u) << "a session presented a refresh token another had rotated away";
    EXPECT_EQ(answered, static_cast<int>(runs.size()) * k_runs) << failures;
    EXPECT_EQ(on_file, api.last_issued()) << "the pair issued last is the one on file";
  } else {
    EXPECT_GE(api.refreshes_granted(), 1u);
  }

  for (std::size_t i = 0; i < images.size(); ++i) {
    auto released = d.env.cli({"release", "--session", "l" + std::to_string(i)});
    EXPECT_EQ(released.exit_code, 0) << released.err;
  }
  api.stop();
  EXPECT_EQ(d.stored_refresh_token(), on_file) << "the vault must end with the login the sessions left";
  EXPECT_TRUE(d.volumes().empty());
  d.verify();
}

TEST(DispatchRefresh, SessionsThatRefreshDuringTheirLifeStayLive) {
  PB_REQUIRE_DOCKER();
  sessions_refresh_during_their_life(
      {test_image("claude-1031-root"), test_image("claude-1031-xdg"), test_image("claude-1031-configdir")}, false);
}

TEST(DispatchRefresh, SessionsOf2xThatRefreshDuringTheirLifeStayLiveOverTls) {
  PB_REQUIRE_DOCKER();
  sessions_refresh_during_their_life(
      {test_image("claude-2x-root"), test_image("claude-2x-xdg"), test_image("claude-2x-configdir")}, true);
}

/// The relay of the credential, as `docker ps` lists it for this test: "name state" lines.
std::vector<std::string> relays_of(const Dispatch& d) {
  auto r = docker_cli({"ps", "-a", "--filter", "label=" + std::string(k_test_label) + "=" + d.label, "--filter",
                       "label=para-broker.role=relay", "--format", "{{.Names}} {{.State}}"});
  std::vector<std::string> out;
  std::string line;
  for (std::istringstream in(r.out); std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

/// The promise across users: eight sessions of one expired login, two each in
/// four images that run as four users (root, para 1000, uid 1001 with
/// XDG_CONFIG_HOME, uid 1002 with CLAUDE_CONFIG_DIR), started at once. They
/// share the refresh lock in the credential's lock volume; each user has a
/// login volume of its own, and the relay copies the refreshed pair into the
/// others before their sessions, waiting on the lock, read it again. Then a
/// session that starts later in one of the images, and release: the vault
/// ends with the pair the service issued last, and nothing is left in Docker.
void four_users(const std::vector<std::string>& images, bool tls) {
  const char* build = tls ? "2.1.332" : "1.0.31";
  Dispatch d(tls ? "refresh-users-2x" : "refresh-users");
  const std::string first_refresh = import_expired(d);
  ASSERT_FALSE(::testing::Test::HasFailure());
  FakeApi api(600, service(first_refresh, d, tls));

  std::vector<std::vector<std::string>> args;
  std::vector<std::string> session_images;
  std::set<std::string> logins;
  for (std::size_t i = 0; i < images.size() * 2; ++i) {
    const std::string& image = images[i / 2];
    args.push_back(d.mount(image, "u" + std::to_string(i)));
    ASSERT_EQ(args.back().size(), 10u);
    EXPECT_EQ(args.back()[1], args.front()[1]) << "one lock volume for every user";
    logins.insert(args.back()[3]);
    session_images.push_back(image);
  }
  EXPECT_EQ(logins.size(), images.size()) << "a login volume per user";
  const auto relays = relays_of(d);
  ASSERT_EQ(relays.size(), 1u);
  EXPECT_TRUE(relays[0].ends_with(" running")) << relays[0];
  // What the engine made of the relay's log cap; no restart policy (an exited
  // relay must look exited, so that the next command makes it again).
  const auto host = docker_cli({"inspect", "--format",
                                "{{.HostConfig.RestartPolicy.Name}}|{{.HostConfig.LogConfig.Type}}|"
                                "{{index .HostConfig.LogConfig.Config \"max-size\"}}",
                                relays[0].substr(0, relays[0].find(' '))});
  EXPECT_TRUE(host.out == "|json-file|1m\n" || host.out == "no|json-file|1m\n") << host.out << host.err;

  std::vector<std::future<CommandResult>> runs;
  for (std::size_t i = 0; i < args.size(); ++i)
    runs.push_back(ask(d, api, args[i], session_images[i], "users-" + std::to_string(i)));
  int answered = 0;
  int torn = 0;
  std::string failures;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const CommandResult r = runs[i].get();
    const std::string tag = "users-" + std::to_string(i);
    if (answers(r) == 1) {
      ++answered;
      continue;
    }
    int sent = 0;
    for (const auto& q : api.requests()) sent += q.session == tag && q.target.rfind("/v1/messages", 0) == 0;
    // 1.0.31's own torn read among sessions of one user (see three_images_of_one_owner).
    const bool read_no_login = !tls && sent == 0 && r.out.find("Invalid API key") != std::string::npos;
    torn += read_no_login;
    failures += "  " + session_images[i] + " (" + tag + "): " + r.out + r.err +
                "\n  its API calls:" + api_calls_of(api, tag) + "\n";
  }
  // What the relay did (it prints no token: checked before it is shown).
  auto logs = docker_cli({"logs", "-t", relays[0].substr(0, relays[0].find(' '))});
  EXPECT_EQ(logs.out.find("CANARY"), std::string::npos);
  EXPECT_EQ(logs.err.find("CANARY"), std::string::npos);
  const std::string relay_said =
      logs.out.find("CANARY") == std::string::npos && logs.err.find("CANARY") == std::string::npos
          ? logs.out + logs.err
          : std::string("(withheld: it printed a token)\n");
  std::printf(
      "[ refresh  ] %s, 8 sessions of four users: %d/%zu answered, %d read the login while another rewrote it; %zu "
      "refreshes granted, %zu refused\n%s%s             (0.00 s is %lld ms after the epoch) the relay said:\n%s",
      build, answered, runs.size(), torn, api.refreshes_granted(), api.refreshes_refused(), requests_seen(api).c_str(),
      timeline(api).c_str(), api.requests().empty() ? 0LL : static_cast<long long>(api.requests().front().time_ms),
      relay_said.c_str());
  EXPECT_EQ(answered + torn, static_cast<int>(runs.size())) << failures;
  EXPECT_EQ(api.refreshes_granted(), 1u) << "one refresh under the shared lock, the others used its pair";
  if (tls) {
    EXPECT_EQ(torn, 0) << failures;
    EXPECT_EQ(api.refreshes_refused(), 0u) << "a session presented a refresh token another had rotated away";
  } else {
    // 1.0.31 frees the lock right after its in-place write; a session of another
    // user that takes the lock within the relay's copy time (about a millisecond)
    // reads its own copy before the relay replaced it, presents the rotated-away
    // token once, is refused, reads the file again and goes on (docs/dispatch.md).
    EXPECT_LE(api.refreshes_refused(), 1u) << "more than the one window the relay's copy leaves";
  }

  // A session that starts later, in another user's image, uses the live pair.
  args.push_back(d.mount(images[2], "u-late"));
  const CommandResult late = ask(d, api, args.back(), images[2], "users-late").get();
  EXPECT_EQ(answers(late), 1) << late.out << late.err << "\n  its API calls:" << api_calls_of(api, "users-late");
  EXPECT_EQ(api.refreshes_refused(), 0u);

  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string s = i + 1 == args.size() ? "u-late" : "u" + std::to_string(i);
    auto released = d.env.cli({"release", "--session", s});
    EXPECT_EQ(released.exit_code, 0) << s << ": " << released.err;
  }
  api.stop();
  EXPECT_EQ(d.stored_refresh_token(), api.last_issued()) << "the vault must end with the live refresh token";
  EXPECT_TRUE(d.volumes().empty()) << "login, lock and relay volumes all go with the last session";
  EXPECT_TRUE(relays_of(d).empty());
  d.verify();
}

TEST(DispatchRefresh, SessionsOf2xOfFourUsersThatRefreshDuringTheirLifeStayLiveOverTls) {
  PB_REQUIRE_DOCKER();
  sessions_refresh_during_their_life({test_image("claude-2x-root"), test_image("para-claude-2x"),
                                      test_image("claude-2x-xdg-1001"), test_image("claude-2x-configdir-1002")},
                                     true);
}

TEST(DispatchRefresh, EightSessionsOfFourUsersAllSurviveRealRefreshes) {
  PB_REQUIRE_DOCKER();
  four_users({test_image("claude-1031-root"), test_image("para-claude"), test_image("claude-1031-xdg-1001"),
              test_image("claude-1031-configdir-1002")},
             false);
}

TEST(DispatchRefresh, EightSessionsOfFourUsersOf2xAllSurviveRealRefreshesOverTls) {
  PB_REQUIRE_DOCKER();
  four_users({test_image("claude-2x-root"), test_image("para-claude-2x"), test_image("claude-2x-xdg-1001"),
              test_image("claude-2x-configdir-1002")},
             true);
}

// A session of another owner that starts after a refresh gets a login volume
// of its own, populated from the vault; the vault's refresh token is dead by
// then (the service revoked it when it issued the pair the first owner's
// sessions use), so mount writes the live pair back from the running
// sessions' login volume first. (Without that it presented the revoked token
// 10 times and never answered.)
TEST(DispatchRefresh, ASessionOfAnotherOwnerStartingLaterGetsTheLivePair) {
  PB_REQUIRE_DOCKER();
  Dispatch d("refresh-later");
  const std::string first_refresh = import_expired(d);
  ASSERT_FALSE(::testing::Test::HasFailure());
  FakeApi api(600, service(first_refresh, d, false));

  const std::string root_image = test_image("claude-1031-root");
  const std::string para_image = test_image("para-claude");  // uid 1000
  const auto first = d.mount(root_image, "l0");
  ASSERT_EQ(first.size(), 10u);
  const CommandResult r0 = ask(d, api, first, root_image, "later-0").get();
  EXPECT_EQ(answers(r0), 1) << r0.out << r0.err;
  ASSERT_EQ(api.refreshes_granted(), 1u);

  const auto later = d.mount(para_image, "l1");
  ASSERT_EQ(later.size(), 10u);
  EXPECT_NE(later[3], first[3]) << "another owner: a login volume of its own";
  const CommandResult r1 = ask(d, api, later, para_image, "later-1").get();
  EXPECT_EQ(answers(r1), 1) << r1.out << r1.err << "\n  its API calls:" << api_calls_of(api, "later-1");
  std::printf("[ refresh  ] a later session of another owner: %s; %zu refreshes granted, %zu refused\n",
              answers(r1) == 1 ? "answered" : "failed", api.refreshes_granted(), api.refreshes_refused());
  EXPECT_EQ(api.refreshes_granted(), 1u) << "the later session started with the live pair, no refresh needed";
  EXPECT_EQ(api.refreshes_refused(), 0u) << "the later session was given the revoked refresh token";

  for (const char* s : {"l0", "l1"}) {
    auto released = d.env.cli({"release", "--session", s});
    EXPECT_EQ(released.exit_code, 0) << s << ": " << released.err;
  }
  api.stop();
  EXPECT_EQ(d.stored_refresh_token(), api.last_issued()) << "the vault must end with the live refresh token";
  EXPECT_TRUE(d.volumes().empty());
  d.verify();
}

}  // namespace
}  // namespace pb::test
