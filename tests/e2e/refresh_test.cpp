// Real refreshes: Claude Code 1.0.31 refreshing an expired login against the
// strictly rotating stand-in OAuth service (USE_LOCAL_OAUTH=1 points 1.0.x at
// http://localhost:3000; a used refresh token is revoked and presenting it
// again gets 400 invalid_grant, as with the real service).
//
// The promise under test: every session of one credential whose images run as
// one user uses the live refresh token, whatever the image, also when they
// start at the same moment; and the vault ends with the pair the service
// issued last. (Before the shared login volume, three sessions in three
// images answered 1 of 3.)

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <future>
#include <string>
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

/// `claude -p hi` in a session's container, talking only to the stand-in on loopback.
std::future<CommandResult> ask(Dispatch& d, const std::vector<std::string>& args, const std::string& image,
                               const std::string& name, int seconds = 90) {
  return std::async(std::launch::async, [&d, args, image, name, seconds] {
    const std::vector<std::string> net{"--network", "host",
                                       "--name",    name,
                                       "-e",        "USE_LOCAL_OAUTH=1",
                                       "-e",        "ANTHROPIC_CUSTOM_HEADERS=X-Pb-Session: " + name,
                                       "-e",        "ANTHROPIC_BASE_URL=http://localhost:3000",
                                       "-e",        "NO_PROXY=127.0.0.1,localhost",
                                       "-e",        "DISABLE_AUTOUPDATER=1",
                                       "-e",        "DISABLE_TELEMETRY=1",
                                       "-e",        "DISABLE_ERROR_REPORTING=1",
                                       "-e",        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"};
    return d.run_in(args, image,
                    "timeout " + std::to_string(seconds) + " claude -p hi </dev/null 2>&1; echo \"exit=$?\"", net);
  });
}

/// How one session's `claude -p hi` went, read from its output and from what
/// the stand-in recorded under its X-Pb-Session name.
struct Outcome {
  bool answered = false;     ///< "pong" and exit 0
  int messages_sent = 0;     ///< /v1/messages requests the session sent
  int messages_refused = 0;  ///< of those, answered 401 (a dead access token)
};

Outcome outcome_of(const FakeApi& api, const std::string& name, const CommandResult& r) {
  Outcome o;
  o.answered = r.out.find("pong") != std::string::npos && r.out.find("exit=0") != std::string::npos;
  for (const auto& req : api.requests()) {
    if (req.session != name || !req.target.starts_with("/v1/messages")) continue;
    ++o.messages_sent;
    o.messages_refused += req.status == 401;
  }
  return o;
}

/// Imports an expired login as "work" (every session must refresh before its
/// first request) and returns its refresh token, the one the stand-in starts with.
std::string import_expired(Dispatch& d) {
  const std::string first_refresh = "sk-ant-ort01-CANARY-test-first-" + d.label;
  auto imported = d.import_tokens("sk-ant-oat01-CANARY-test-expired-" + d.label, first_refresh, now_ms() - 3'600'000);
  EXPECT_EQ(imported.exit_code, 0) << imported.err;
  return first_refresh;
}

TEST(DispatchRefresh, SessionsInThreeImagesOfOneOwnerAllSurviveRealRefreshes) {
  PB_REQUIRE_DOCKER();
  Dispatch d("refresh");
  const std::string first_refresh = import_expired(d);
  ASSERT_FALSE(::testing::Test::HasFailure());
  // Three Claude Code processes find the login expired at once: one refreshes
  // under the lock they share, the others wait for it, re-read the file and
  // use the new pair. (A token that lives 1 s has them refresh all the time,
  // more often than an 8-hour token ever would: then one may read the file
  // while another rewrites it in place, a race of Claude Code's own.)
  FakeApi api(600, OAuthService{first_refresh, "CANARY-test-live-" + d.label, 3600, 3000});

  const std::vector<std::string> images{test_image("claude-1031-root"), test_image("claude-1031-xdg"),
                                        test_image("claude-1031-configdir")};
  std::vector<std::vector<std::string>> args;
  for (std::size_t i = 0; i < images.size(); ++i) {
    args.push_back(d.mount(images[i], "r" + std::to_string(i)));
    ASSERT_EQ(args.back().size(), 8u);
    EXPECT_EQ(args.back()[1], args.front()[1]) << "one owner (root): one login volume";
  }
  std::vector<std::string> names;
  std::vector<std::future<CommandResult>> runs;
  for (std::size_t i = 0; i < images.size(); ++i) {
    names.push_back("pb-e2e-refresh-" + std::to_string(i) + "-" + d.label);
    runs.push_back(ask(d, args[i], images[i], names.back()));
  }
  // What the design must rule out: a session presenting a refresh token
  // another one rotated away, or sending a dead access token. What it cannot
  // rule out is Claude Code's own race between processes: 1.0.x rewrites
  // .credentials.json in place (open with O_TRUNC, then write) while another
  // process reads it without the lock; a reader that lands between the two
  // sees an empty file, memoises "no login" and sends nothing at all
  // ("Invalid API key · Please run /login"). Two Claude processes on one
  // host race the same way. Such a session is counted, not hidden.
  int answered = 0;
  int torn = 0;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const CommandResult r = runs[i].get();
    const Outcome o = outcome_of(api, names[i], r);
    answered += o.answered;
    EXPECT_EQ(o.messages_refused, 0) << images[i] << " sent a dead access token: " << r.out << r.err;
    if (o.answered) continue;
    const bool read_no_login = o.messages_sent == 0 && r.out.find("Invalid API key") != std::string::npos;
    torn += read_no_login;
    EXPECT_TRUE(read_no_login) << images[i] << ": " << r.out << r.err;
  }
  std::printf(
      "[ refresh  ] %d/%zu sessions answered, %d read the login while another rewrote it; %zu refreshes "
      "granted, %zu refused\n",
      answered, runs.size(), torn, api.refreshes_granted(), api.refreshes_refused());
  EXPECT_GE(answered, 2) << "one rewrite can tear one reader's read, never the refresh itself";
  EXPECT_EQ(answered + torn, 3);
  EXPECT_EQ(api.refreshes_granted(), 1u) << "the others used the refreshed pair";
  EXPECT_EQ(api.refreshes_refused(), 0u) << "a session presented a refresh token another had rotated away";

  // A session that starts later, after those refreshes, gets the live token.
  args.push_back(d.mount(images[0], "r-late"));
  const CommandResult late = ask(d, args.back(), images[0], "pb-e2e-refresh-late-" + d.label).get();
  EXPECT_NE(late.out.find("pong"), std::string::npos) << late.out << late.err;
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

// The limit docs/dispatch.md states: images that run as different users get
// login volumes of their own, copies of one login. Measured here, not hoped
// for: how many answer when all refresh at once, and that the vault still ends
// with the live pair.
TEST(DispatchRefresh, SessionsOfDifferentOwnersAreCopiesAndTheVaultStillEndsLive) {
  PB_REQUIRE_DOCKER();
  Dispatch d("refresh-owners");
  const std::string first_refresh = import_expired(d);
  ASSERT_FALSE(::testing::Test::HasFailure());
  FakeApi api(600, OAuthService{first_refresh, "CANARY-test-live-" + d.label, 3600, 3000});

  // root, uid 1234 and uid 1000
  const std::vector<std::string> images{test_image("claude-1031-root"), test_image("claude-1031-dev"),
                                        test_image("para-claude")};
  std::vector<std::vector<std::string>> args;
  for (std::size_t i = 0; i < images.size(); ++i) {
    args.push_back(d.mount(images[i], "o" + std::to_string(i)));
    ASSERT_EQ(args.back().size(), 8u);
  }
  EXPECT_NE(args[0][1], args[1][1]);
  EXPECT_NE(args[1][1], args[2][1]);
  std::vector<std::future<CommandResult>> runs;
  for (std::size_t i = 0; i < images.size(); ++i)
    runs.push_back(ask(d, args[i], images[i], "pb-e2e-owners-" + std::to_string(i) + "-" + d.label, 25));
  int answered = 0;
  for (auto& f : runs) {
    const CommandResult r = f.get();
    answered += r.out.find("pong") != std::string::npos;
  }
  std::printf("[ refresh  ] different owners: %d/%zu sessions answered; %zu refreshes granted, %zu refused\n", answered,
              runs.size(), api.refreshes_granted(), api.refreshes_refused());
  EXPECT_GE(answered, 1);
  EXPECT_EQ(api.refreshes_granted(), 1u) << "one copy's refresh rotates the others' token away";

  for (const char* s : {"o0", "o1", "o2"}) {
    auto released = d.env.cli({"release", "--session", s});
    EXPECT_EQ(released.exit_code, 0) << s << ": " << released.err;
  }
  api.stop();
  EXPECT_EQ(d.stored_refresh_token(), api.last_issued()) << "the vault must end with the live refresh token";
  EXPECT_TRUE(d.volumes().empty());
  d.verify();
}

// A session of another owner that starts after a refresh gets a login volume
// of its own, populated from the vault; the vault's refresh token is dead by
// then (the service revoked it when it issued the pair the first owner's
// sessions use), so mount writes the live pair back from the running
// sessions' login volume first.
TEST(DispatchRefresh, ASessionOfAnotherOwnerStartingLaterGetsTheLivePair) {
  PB_REQUIRE_DOCKER();
  Dispatch d("refresh-later");
  const std::string first_refresh = import_expired(d);
  ASSERT_FALSE(::testing::Test::HasFailure());
  FakeApi api(600, OAuthService{first_refresh, "CANARY-test-live-" + d.label, 3600, 3000});

  const std::string root_image = test_image("claude-1031-root");
  const std::string para_image = test_image("para-claude");  // uid 1000
  const auto first = d.mount(root_image, "l0");
  ASSERT_EQ(first.size(), 8u);
  const std::string first_name = "pb-e2e-later-0-" + d.label;
  const CommandResult r0 = ask(d, first, root_image, first_name).get();
  EXPECT_TRUE(outcome_of(api, first_name, r0).answered) << r0.out << r0.err;
  ASSERT_EQ(api.refreshes_granted(), 1u);

  const auto later = d.mount(para_image, "l1");
  ASSERT_EQ(later.size(), 8u);
  EXPECT_NE(later[1], first[1]) << "another owner: a login volume of its own";
  const std::string later_name = "pb-e2e-later-1-" + d.label;
  const CommandResult r1 = ask(d, later, para_image, later_name).get();
  const Outcome o1 = outcome_of(api, later_name, r1);
  EXPECT_TRUE(o1.answered) << r1.out << r1.err;
  EXPECT_EQ(o1.messages_refused, 0);
  std::printf("[ refresh  ] a later session of another owner: %s; %zu refreshes granted, %zu refused\n",
              o1.answered ? "answered" : "failed", api.refreshes_granted(), api.refreshes_refused());
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
