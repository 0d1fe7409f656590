// mount / release / sync / gc against a real daemon and real Claude Code
// builds. A credential with a canary access token is imported; a container
// started with `$(para-broker mount …)` must send `Bearer <canary>` to the
// loopback API stand-in, still see what the image ships in its config dir, and
// leave no volume behind after `release`. Every object carries
// para-broker.test=<unique> (the product's too, via PARA_BROKER_EXTRA_LABELS).

#include "tests/e2e/dispatch_support.hpp"
#include "tests/images/test_images.hpp"
#include "tests/support/fake_api_process.hpp"
#include "tests/support/test_env.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <future>
#include <set>
#include <string>
#include <vector>

namespace pb::test {
namespace {

class MountRealClaude : public ::testing::TestWithParam<ClaudeTestImage> {};

TEST_P(MountRealClaude, CanaryReachesTheApiAndImageSettingsStayVisible) {
  PB_REQUIRE_DOCKER();
  const ClaudeTestImage& img = GetParam();
  Dispatch d;
  const std::string canary = d.import_login("e2e");
  const std::string image = d.seeded_image(img);
  ASSERT_FALSE(image.empty());
  FakeApi api(200);

  const std::string session = "m-" + d.label;  // holds are named after sessions: one of this run alone
  auto mounted = d.env.cli({"mount", "--image", image, "--session", session});
  ASSERT_EQ(mounted.exit_code, 0) << mounted.err;
  const auto args = split_ws(mounted.out);
  ASSERT_EQ(args.size(), 10u) << mounted.out;
  EXPECT_EQ(args[0], "--mount");
  EXPECT_EQ(args[2], "--mount");
  EXPECT_EQ(args[4], "--mount");
  EXPECT_EQ(args[6], "--env");
  EXPECT_EQ(args[8], "--env");
  EXPECT_TRUE(args[1].starts_with("type=volume,src=para-broker-lock-") && args[1].ends_with(",dst=/para-broker") &&
              std::count(args[1].begin(), args[1].end(), ',') == 2)
      << args[1];
  EXPECT_TRUE(args[3].starts_with("type=volume,src=para-broker-user-") &&
              args[3].ends_with(",dst=/para-broker/login") && std::count(args[3].begin(), args[3].end(), ',') == 2)
      << args[3];
  EXPECT_EQ(args[5], "type=volume,src=para-broker-hold-" + session + ",dst=/para-broker/claude");
  EXPECT_EQ(args[7], "CLAUDE_CONFIG_DIR=/para-broker/claude") << "the same place in every image";
  EXPECT_EQ(args[9], "CLAUDE_SECURESTORAGE_CONFIG_DIR=/para-broker/login");
  EXPECT_EQ(mounted.out.find(canary), std::string::npos);
  EXPECT_EQ(mounted.err.find(canary), std::string::npos);

  const std::string url = api.base_url();
  const std::vector<std::string> net{"--network", "host",
                                     "-e",        "ANTHROPIC_BASE_URL=" + url,
                                     "-e",        "HTTPS_PROXY=" + url,
                                     "-e",        "HTTP_PROXY=" + url,
                                     "-e",        "https_proxy=" + url,
                                     "-e",        "http_proxy=" + url,
                                     "-e",        "NO_PROXY=127.0.0.1,localhost",
                                     "-e",        "DISABLE_TELEMETRY=1",
                                     "-e",        "DISABLE_ERROR_REPORTING=1",
                                     "-e",        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
                                     "-e",        "DISABLE_AUTOUPDATER=1"};
  // The stand-in answers with an error, so Claude retries for minutes (1.0.x
  // with backoff): one request is all the test needs, and the container is
  // stopped as soon as it has arrived.
  std::vector<std::string> run_args = net;
  const std::string name = "pb-e2e-claude-" + d.label;
  run_args.insert(run_args.end(), {"--name", name});
  auto running = std::async(std::launch::async, [&] {
    return d.run_in(args, image,
                    "cat \"$CLAUDE_CONFIG_DIR/settings.json\" \"$CLAUDE_CONFIG_DIR/CLAUDE.md\" "
                    "\"$CLAUDE_CONFIG_DIR/commands/hello.md\" \"$CLAUDE_CONFIG_DIR/.claude.json\"; "
                    "stat -c '%u:%g %a %n' \"$CLAUDE_CONFIG_DIR\" \"$CLAUDE_CONFIG_DIR/..\" "
                    "\"$CLAUDE_SECURESTORAGE_CONFIG_DIR\" \"$CLAUDE_SECURESTORAGE_CONFIG_DIR/.credentials.json\"; "
                    "readlink \"$CLAUDE_CONFIG_DIR/.credentials.json\"; "
                    "timeout 30 claude -p hi </dev/null >/dev/null 2>&1",
                    run_args);
  });
  while (running.wait_for(std::chrono::milliseconds(250)) != std::future_status::ready) {
    if (api.saw_authorization("Bearer " + canary)) {
      docker_cli({"rm", "-f", name}, 60);
      break;
    }
  }
  const CommandResult ran = running.get();
  api.stop();
  EXPECT_TRUE(api.saw_authorization("Bearer " + canary)) << img.name << ": " << ran.out << ran.err;
  EXPECT_NE(ran.out.find("\"cleanupPeriodDays\": 42"), std::string::npos) << ran.out;
  EXPECT_NE(ran.out.find("image memory " + d.label), std::string::npos) << ran.out;
  EXPECT_NE(ran.out.find("say hello"), std::string::npos) << ran.out;
  EXPECT_NE(ran.out.find("kept-" + d.label), std::string::npos)
      << "the image's .claude.json keys are gone: " << ran.out;
  const std::string owner = std::to_string(img.uid) + ":" + std::to_string(img.gid);
  EXPECT_NE(ran.out.find(owner + " 700 /para-broker/claude\n"), std::string::npos) << ran.out;
  EXPECT_NE(ran.out.find("0:0 777 /para-broker/claude/..\n"), std::string::npos)
      << "the lock volume: root's, every user may lock there: " << ran.out;
  EXPECT_NE(ran.out.find(owner + " 700 /para-broker/login\n"), std::string::npos) << ran.out;
  EXPECT_NE(ran.out.find(owner + " 600 /para-broker/login/.credentials.json\n"), std::string::npos) << ran.out;
  EXPECT_NE(ran.out.find("\n../login/.credentials.json\n"), std::string::npos)
      << "<cfg>/.credentials.json is the login volume's: " << ran.out;
  EXPECT_EQ(ran.out.find(canary), std::string::npos);

  auto released = d.env.cli({"release", "--session", session});
  EXPECT_EQ(released.exit_code, 0) << released.err;
  EXPECT_TRUE(d.volumes().empty());
  auto again = d.env.cli({"release", "--session", session});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(d.files_containing(canary).empty());
  d.verify();
}

INSTANTIATE_TEST_SUITE_P(RealClaude, MountRealClaude, ::testing::ValuesIn(k_claude_test_images),
                         [](const ::testing::TestParamInfo<ClaudeTestImage>& p) {
                           std::string name = p.param.name;
                           for (char& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

const std::string k_fast_image = test_image("claude-2x-dev");
const std::string k_other_image = test_image("para-claude-2x");

/// Replaces the credentials in the live volume the way a refreshing Claude would.
CommandResult rewrite_login(Dispatch& d, const std::vector<std::string>& args, const std::string& image,
                            const std::string& access, std::int64_t expires) {
  const std::string json = credentials_json(access, "sk-ant-ort01-CANARY-test-rotated-" + d.label, expires);
  return d.run_in(args, image, "printf '%s' '" + json + "' > \"$CLAUDE_CONFIG_DIR/.credentials.json\"");
}

TEST(DispatchWriteBack, NewerLoginInTheVolumeReachesTheVaultOlderDoesNot) {
  PB_REQUIRE_DOCKER();
  Dispatch d;
  const std::int64_t base = expiry_from_now(1);
  d.import_login("wb", base);
  auto args = d.mount(k_fast_image, "wb1");
  ASSERT_EQ(args.size(), 10u);
  ASSERT_EQ(rewrite_login(d, args, k_fast_image, "sk-ant-oat01-CANARY-test-older-" + d.label, base - 1000).exit_code,
            0);
  ASSERT_EQ(d.env.cli({"release", "--session", "wb1"}).exit_code, 0);
  EXPECT_EQ(d.stored_expiry(), base);

  args = d.mount(k_fast_image, "wb2");
  ASSERT_EQ(rewrite_login(d, args, k_fast_image, "sk-ant-oat01-CANARY-test-newer-" + d.label, base + 1000).exit_code,
            0);
  ASSERT_EQ(d.env.cli({"release", "--session", "wb2"}).exit_code, 0);
  EXPECT_EQ(d.stored_expiry(), base + 1000);
  EXPECT_TRUE(d.volumes().empty());

  // The next session gets the refreshed login.
  args = d.mount(k_fast_image, "wb3");
  auto seen = d.run_in(args, k_fast_image, "cat \"$CLAUDE_CONFIG_DIR/.credentials.json\"");
  EXPECT_NE(seen.out.find("CANARY-test-newer-"), std::string::npos) << seen.out;
  EXPECT_EQ(d.env.cli({"release", "--session", "wb3", "--no-sync"}).exit_code, 0);
  d.verify();
}

// A session's container is hostile to the others: whatever it writes into its
// volume must not become the vault's login, nor reach another session. Real
// Claude Code runs in the session first (the login works), then the volume's
// login is rewritten as an attacker would.
TEST(DispatchWriteBack, APoisonedVolumeNeverReachesTheVaultOrAnotherSession) {
  PB_REQUIRE_DOCKER();
  Dispatch d("poison");
  const std::int64_t base = expiry_from_now(1);
  const std::string canary = d.import_login("poison", base);
  auto a = d.mount(k_fast_image, "pa");
  auto c = d.mount(k_other_image, "pc");
  ASSERT_EQ(a.size(), 10u);
  ASSERT_EQ(c.size(), 10u);
  ASSERT_NE(a[3], c[3]) << "another owner: a login volume of its own";

  FakeApi api(200);
  const std::string url = api.base_url();
  const std::string name = "pb-e2e-poison-" + d.label;
  const std::vector<std::string> net{"--network", "host",
                                     "--name",    name,
                                     "-e",        "ANTHROPIC_BASE_URL=" + url,
                                     "-e",        "DISABLE_AUTOUPDATER=1",
                                     "-e",        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"};
  auto running = std::async(std::launch::async, [&] {
    return d.run_in(a, k_fast_image, "timeout 30 claude -p hi </dev/null >/dev/null 2>&1", net);
  });
  while (running.wait_for(std::chrono::milliseconds(250)) != std::future_status::ready) {
    if (api.saw_authorization("Bearer " + canary)) {
      docker_cli({"rm", "-f", name}, 60);
      break;
    }
  }
  running.get();
  api.stop();
  ASSERT_TRUE(api.saw_authorization("Bearer " + canary)) << "the mounted login did not work";

  const auto fingerprint = [&] {
    auto l = d.env.cli({"list", "--json"});
    auto j = nlohmann::json::parse(l.out, nullptr, false);
    if (j.is_discarded() || j["credentials"].empty()) return std::string();
    const auto& e = j["credentials"][0];  // what a write-back would change
    return e["expires_at"].dump() + " " + e["updated"].dump() + " " + e["source"].dump();
  };
  const std::string before = fingerprint();
  const std::string attacker = "sk-ant-oat01-CANARY-test-attacker-" + d.label;
  const std::string soon = std::to_string(expiry_from_now(8));
  const std::string own_account = R"("oauthAccount":{"accountUuid":"00000000-0000-4000-8000-0000000000d1"})";
  auto creds = [&](const std::string& expires, const std::string& extra) {
    return R"({"claudeAiOauth":{"accessToken":")" + attacker + R"(","refreshToken":"sk-ant-ort01-CANARY-test-)" +
           R"(attacker","expiresAt":)" + expires + "}" + extra + "}";
  };
  // `relayed`: what the relay's own rules let through to the sessions of
  // other users (its login fields alone), as one user's shared file always
  // gave it to that user's sessions; the vault takes none of it, from any volume.
  struct Attack {
    const char* what;
    std::string credentials;
    std::string claude_json;
    bool relayed;
  };
  const std::vector<Attack> attacks = {
      {"far expiry", creds("9000000000000000", ""), "{" + own_account + "}", false},
      {"other account", creds(soon, ""), R"({"oauthAccount":{"accountUuid":"00000000-0000-4000-8000-00000000beef"}})",
       true},
      {"missing account", creds(soon, ""), R"({"hasCompletedOnboarding":true})", true},
      {"extra keys", creds(soon, R"(,"mcpOAuth":{"evil":{"accessToken":"CANARY-test-attacker-mcp"}})"),
       "{" + own_account + "}", true},
      {"api keys", creds("9000000000000000", ""),
       R"({"primaryApiKey":"sk-ant-api03-CANARY-test-attacker",)" + own_account + "}", false},
  };
  for (const auto& at : attacks) {
    auto w =
        d.run_in(a, k_fast_image,
                 "printf '%s' '" + at.credentials + "' > \"$CLAUDE_CONFIG_DIR/.credentials.json\" && printf '%s' '" +
                     at.claude_json + "' > \"$CLAUDE_CONFIG_DIR/.claude.json\"");
    ASSERT_EQ(w.exit_code, 0) << w.err;
    auto synced = d.env.cli({"sync"});
    EXPECT_EQ(synced.exit_code, 7) << at.what << ": " << synced.out << synced.err;
    EXPECT_NE(synced.err.find("the vault keeps its login"), std::string::npos) << at.what << ": " << synced.err;
    EXPECT_EQ(fingerprint(), before) << at.what << ": the vault's login changed";
    auto in_c = d.run_in(c, k_other_image, "cat \"$CLAUDE_CONFIG_DIR/.credentials.json\"");
    EXPECT_EQ(in_c.out.find("attacker-mcp"), std::string::npos) << at.what << ": foreign keys reached another user";
    if (!at.relayed) {  // (both carry the far expiry; an earlier attack's login may be there)
      EXPECT_EQ(in_c.out.find("9000000000000000"), std::string::npos) << at.what << ": another session received it";
    }
  }
  auto released = d.env.cli({"release", "--session", "pa"});
  EXPECT_EQ(released.exit_code, 7) << released.err;
  EXPECT_EQ(fingerprint(), before);
  // c's copy of the attacker's login (the relay's) is refused too: the same
  // login, refused before, also once the session that showed it is gone.
  auto released_c = d.env.cli({"release", "--session", "pc"});
  EXPECT_EQ(released_c.exit_code, 7) << released_c.err;
  EXPECT_NE(released_c.err.find("refused before"), std::string::npos) << released_c.err;
  EXPECT_EQ(fingerprint(), before);
  EXPECT_GE(count_ops(access_log(d.env), "writeback", "refused"), attacks.size() + 2);
  EXPECT_TRUE(d.files_containing("attacker").empty()) << "nothing of the attack is stored";
  EXPECT_TRUE(d.volumes().empty());
  d.verify();
}

TEST(DispatchParallel, SixteenSessionsMountAndReleaseOnOneCredential) {
  PB_REQUIRE_DOCKER();
  Dispatch d;
  const std::string canary = d.import_login("par");
  constexpr int k_sessions = 16;
  std::vector<std::future<CommandResult>> mounts;
  for (int i = 0; i < k_sessions; ++i)
    mounts.push_back(std::async(std::launch::async, [&d, i] {
      return d.env.cli({"mount", "--image", k_fast_image, "--session", "p" + std::to_string(i)});
    }));
  std::set<std::string> logins, configs;
  for (auto& f : mounts) {
    auto r = f.get();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.find(canary), std::string::npos);
    const auto args = split_ws(r.out);
    ASSERT_EQ(args.size(), 10u) << r.out;
    logins.insert(args[3]);
    configs.insert(args[5]);
  }
  EXPECT_EQ(logins.size(), 1u) << "sessions of one credential and owner share one login volume";
  EXPECT_EQ(configs.size(), static_cast<std::size_t>(k_sessions)) << "and each has its own config";
  EXPECT_EQ(d.volumes().size(), static_cast<std::size_t>(k_sessions + 2)) << "and one lock volume";

  std::vector<std::future<CommandResult>> releases;
  for (int i = 0; i < k_sessions; ++i)
    releases.push_back(std::async(std::launch::async, [&d, i] {
      return d.env.cli({"release", "--session", "p" + std::to_string(i)});
    }));
  for (auto& f : releases) {
    auto r = f.get();
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  EXPECT_TRUE(d.volumes().empty());
  auto rep = d.verify();
  EXPECT_GE(rep.log_records, static_cast<std::size_t>(1 + 2 * k_sessions));
  EXPECT_TRUE(d.files_containing(canary).empty());
}

TEST(DispatchSharing, LiveSessionsSeeEachOthersRefresh) {
  PB_REQUIRE_DOCKER();
  Dispatch d;
  const std::int64_t base = expiry_from_now(1);
  d.import_login("share", base);
  const std::string js_image = test_image("claude-1031-dev");  // 1.0.31, the same owner (1234) as k_fast_image
  auto a = d.mount(k_fast_image, "a");
  auto b = d.mount(k_fast_image, "b");
  auto c = d.mount(k_other_image, "c");
  auto e = d.mount(js_image, "e");
  ASSERT_EQ(a.size(), 10u);
  ASSERT_EQ(b.size(), 10u);
  ASSERT_EQ(c.size(), 10u);
  ASSERT_EQ(e.size(), 10u);
  EXPECT_EQ(a[3], b[3]) << "same credential and owner: one login volume";
  EXPECT_EQ(a[3], e[3]) << "whatever the image and its Claude Code build";
  EXPECT_NE(a[5], b[5]) << "each session its own config";
  EXPECT_NE(a[3], c[3]) << "another owner: its own login volume";

  ASSERT_EQ(rewrite_login(d, a, k_fast_image, "sk-ant-oat01-CANARY-test-rotated-" + d.label, base + 5000).exit_code, 0);
  auto in_b = d.run_in(b, k_fast_image, "cat \"$CLAUDE_CONFIG_DIR/.credentials.json\"");
  EXPECT_NE(in_b.out.find("CANARY-test-rotated-"), std::string::npos) << in_b.out;
  auto in_e = d.run_in(e, js_image, "cat \"$CLAUDE_CONFIG_DIR/.credentials.json\"");
  EXPECT_NE(in_e.out.find("CANARY-test-rotated-"), std::string::npos) << in_e.out;
  // Another owner's session has a copy of its own, which the relay brought up
  // to date (within milliseconds; the container's start takes longer), with
  // its owner's uid and mode.
  auto in_c = d.run_in(
      c, k_other_image,
      "cat \"$CLAUDE_CONFIG_DIR/.credentials.json\"; stat -L -c '%u:%g %a' \"$CLAUDE_CONFIG_DIR/.credentials.json\"");
  EXPECT_NE(in_c.out.find("CANARY-test-rotated-"), std::string::npos) << "the relay copied it: " << in_c.out;
  EXPECT_NE(in_c.out.find("1000:1000 600"), std::string::npos) << in_c.out;

  auto synced = d.env.cli({"sync"});
  ASSERT_EQ(synced.exit_code, 0) << synced.err;
  EXPECT_EQ(d.stored_expiry(), base + 5000);

  for (const char* s : {"a", "b", "c", "e"}) EXPECT_EQ(d.env.cli({"release", "--session", s}).exit_code, 0);
  EXPECT_TRUE(d.volumes().empty());
  d.verify();
}

// A probe, import or login killed with SIGKILL leaves its container (and a
// login its staging volume, a login in plain text): gc takes them once older
// than the grace, but never a login container that still runs.
TEST(DispatchGc, RemovesWhatAKilledProbeImportOrLoginLeft) {
  PB_REQUIRE_DOCKER();
  Dispatch d("gcleft");
  d.import_login("gcleft");
  const std::string tag = std::string(k_test_label) + "=" + d.label;
  auto make = [&](const std::string& name, const std::string& role, std::vector<std::string> extra,
                  std::vector<std::string> cmd) {
    std::vector<std::string> a{"create",
                               "--name",
                               name + "-" + d.label,
                               "--network",
                               "none",
                               "--label",
                               tag,
                               "--label",
                               "para-broker.managed=1",
                               "--label",
                               "para-broker.role=" + role};
    a.insert(a.end(), extra.begin(), extra.end());
    a.push_back(k_fast_image);
    a.insert(a.end(), cmd.begin(), cmd.end());
    auto r = docker_cli(a);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return first_line(r.out);
  };
  auto volume = [&](const std::string& name, std::vector<std::string> extra) {
    std::vector<std::string> a{
        "volume", "create", "--label", tag, "--label", "para-broker.managed=1", "--label", "para-broker.role=staging"};
    a.insert(a.end(), extra.begin(), extra.end());
    a.push_back(name + "-" + d.label);
    EXPECT_EQ(docker_cli(a).exit_code, 0);
    return name + "-" + d.label;
  };
  const std::string probe = make("probe", "probe", {}, {"true"});
  const std::string capture = make("capture", "helper", {}, {"true"});
  const std::string young_volume =
      volume("staging-young", {"--label", "para-broker.created-at=" + std::to_string(std::time(nullptr))});
  const std::string in_use = volume("staging-used", {});
  const std::string login =
      make("login", "staging", {"--mount", "type=volume,src=" + in_use + ",dst=/staging"}, {"sleep", "infinity"});
  ASSERT_EQ(docker_cli({"start", login}).exit_code, 0);
  const std::string old_volume = volume("staging-old", {});
  // Another caller's leftover (not this test's label) is not this gc's to judge.
  auto other =
      docker_cli({"create", "--network", "none", "--label", std::string(k_test_label) + "=" + d.label + "-other",
                  "--label", "para-broker.managed=1", "--label", "para-broker.role=probe", k_fast_image, "true"});
  ASSERT_EQ(other.exit_code, 0) << other.err;
  const std::string other_id = first_line(other.out);
  struct RemoveOnExit {
    std::string id;
    ~RemoveOnExit() { docker_cli({"rm", "-f", id}); }
  } remove_other{other_id};

  // Within the grace nothing but an unlabelled (pre-label) staging volume nobody uses goes.
  auto gc = d.env.cli({"gc", "--json"});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  auto j = nlohmann::json::parse(gc.out);
  EXPECT_TRUE(j["removed_helpers"].empty()) << gc.out;
  EXPECT_EQ(j["removed_volumes"], nlohmann::json::array({old_volume})) << gc.out;

  gc = d.env.cli({"gc", "--json", "--grace", "0"});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  j = nlohmann::json::parse(gc.out);
  std::set<std::string> removed;
  for (const auto& id : j["removed_helpers"]) removed.insert(id.get<std::string>());
  EXPECT_EQ(removed, (std::set<std::string>{probe, capture})) << gc.out;
  EXPECT_EQ(j["removed_volumes"], nlohmann::json::array({young_volume})) << gc.out;
  EXPECT_NE(gc.out.find("a login container still runs"), std::string::npos) << gc.out;
  EXPECT_NE(gc.out.find(in_use + ": a login container still uses it"), std::string::npos) << gc.out;
  EXPECT_EQ(docker_cli({"inspect", other_id}).exit_code, 0) << "another label's leftover stays";

  // The login container gone, its staging volume goes too.
  docker_cli({"rm", "-f", login});
  gc = d.env.cli({"gc", "--json", "--grace", "0"});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  EXPECT_EQ(nlohmann::json::parse(gc.out)["removed_volumes"], nlohmann::json::array({in_use})) << gc.out;
  EXPECT_TRUE(d.containers().empty());
  EXPECT_TRUE(d.volumes().empty());
  d.verify();
}

TEST(DispatchGc, RemovesStaleHoldsButNeverAVolumeInUse) {
  PB_REQUIRE_DOCKER();
  Dispatch d;
  const std::int64_t base = expiry_from_now(1);
  d.import_login("gc", base);
  auto live = d.mount(k_fast_image, "live");
  auto stale = d.mount(k_other_image, "stale");
  ASSERT_EQ(live.size(), 10u);
  ASSERT_EQ(stale.size(), 10u);
  // The live session's container exists (created, as para does before starting it).
  std::vector<std::string> create{"create", "--name", "para-live", "--label",
                                  std::string(k_test_label) + "=" + d.label};
  create.insert(create.end(), live.begin(), live.end());
  create.insert(create.end(), {k_fast_image, "sleep", "infinity"});
  auto created = docker_cli(create);
  ASSERT_EQ(created.exit_code, 0) << created.err;
  // The stale session refreshed before its container vanished: gc writes that back.
  ASSERT_EQ(
      rewrite_login(d, stale, k_other_image, "sk-ant-oat01-CANARY-test-gcnewer-" + d.label, base + 9000).exit_code, 0);

  // Just mounted, the stale session might still be starting its container: kept.
  auto young = d.env.cli({"gc", "--json"});
  ASSERT_EQ(young.exit_code, 0) << young.err;
  auto y = nlohmann::json::parse(young.out);
  EXPECT_TRUE(y["removed_holds"].empty()) << young.out;
  EXPECT_NE(young.out.find("para-broker-hold-stale: session stale was mounted less than 300 s ago"), std::string::npos)
      << young.out;

  auto gc = d.env.cli({"gc", "--json", "--grace", "0"});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  auto j = nlohmann::json::parse(gc.out);
  EXPECT_EQ(j["removed_holds"], nlohmann::json::array({"para-broker-hold-stale"}));
  EXPECT_EQ(j["removed_volumes"].size(), 1u);
  EXPECT_EQ(d.stored_expiry(), base + 9000);
  auto vols = d.volumes();
  EXPECT_EQ(vols.size(), 3u);  // the live session's hold, its login volume and the lock volume
  EXPECT_NE(std::find(vols.begin(), vols.end(), "para-broker-hold-live"), vols.end());

  // Its container gone, the live session is stale too.
  docker_cli({"rm", "-f", "para-live"});
  gc = d.env.cli({"gc", "--grace", "0"});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  EXPECT_TRUE(d.volumes().empty());
  d.verify();
}

TEST(DispatchRefusals, ImageWithoutClaudeAndUnknownCredential) {
  PB_REQUIRE_DOCKER();
  Dispatch d;
  d.import_login("ref");
  auto none = d.env.cli({"mount", "--image", test_image(k_no_claude_image), "--session", "r1"});
  EXPECT_EQ(none.exit_code, 3) << none.err;
  EXPECT_NE(none.err.find("no Claude Code"), std::string::npos) << none.err;
  auto unknown = d.env.cli({"mount", "--image", k_fast_image, "--session", "r1", "--credential", "nope"});
  EXPECT_EQ(unknown.exit_code, 3) << unknown.err;
  auto bad = d.env.cli({"mount", "--image", k_fast_image, "--session", "../x"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_TRUE(d.volumes().empty());
}

}  // namespace
}  // namespace pb::test
