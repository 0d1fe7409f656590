// Load on one credential: 32 sessions mount and release in parallel, 10
// cycles each, half of them in a Claude Code 2.x image and half in a 1.0.31
// one, both running as uid 1234 (so the login volume they share is created,
// joined, and removed again all the time while other sessions join it, each
// session with a config volume of its own), while `sync` runs in a loop as para's
// status loop would. Every command must succeed; afterwards nothing the run
// made is left in Docker (not even an unlabelled volume by the broker's
// name), `vault verify` and `audit --verify` pass, and the access log holds
// exactly one mount and one release record per cycle and nothing else but
// sync records and the write-backs of real refreshes. The timing is printed
// (total, per cycle, per command).
//
// Real refreshes happen inside it: a resident session of the same owner runs
// Claude Code 2.1.332 again and again for as long as the load lasts, against
// the strictly rotating stand-in OAuth service (over TLS, as 2.x needs) with
// tokens that live 60 s (under Claude's five-minute margin, so every run
// refreshes): every run must answer, no revoked token may be presented, and
// once the resident is released the vault holds the refresh token the service
// issued last. (1.0.31 is not the resident: with such short tokens it
// refreshes before every request and, measured, sometimes after its answer
// too, a refresh its exit loses; docs/dispatch.md.)

#include "tests/e2e/dispatch_support.hpp"
#include "tests/images/test_images.hpp"
#include "tests/support/fake_api_process.hpp"
#include "tests/support/test_env.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pb::test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int k_sessions = 32;
constexpr int k_cycles = 10;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Stats {
  double median = 0, p90 = 0, max = 0;
};

Stats stats_of(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[v.size() * 9 / 10], v.back()};
}

std::string describe(const char* what, const Stats& s) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%-8s median %.3f s, p90 %.3f s, max %.3f s", what, s.median, s.p90, s.max);
  return buf;
}

TEST(DispatchLoad, ThirtyTwoSessionsMountAndReleaseTenTimesOnOneCredential) {
  PB_REQUIRE_DOCKER();
  Dispatch d("load");
  const std::string canary = "sk-ant-oat01-CANARY-test-load-" + d.label;
  const std::string first_refresh = "sk-ant-ort01-CANARY-test-load-" + d.label;
  // Expired: the resident's first run refreshes at once.
  auto imported = d.import_tokens(canary, first_refresh, 1'000'000'000'000);
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  auto listed = nlohmann::json::parse(d.env.cli({"list", "--json"}).out, nullptr, false);
  ASSERT_FALSE(listed.is_discarded());
  ASSERT_EQ(listed["credentials"].size(), 1u);
  const std::string credential_id = listed["credentials"][0]["id"];
  const std::vector<std::string> images{test_image("claude-2x-dev"), test_image("claude-1031-dev")};
  const std::size_t log_before = access_log(d.env).size();

  // The resident session: mounted before the load, so its login volume lives
  // throughout and every other session joins it.
  OAuthService oauth{first_refresh, "CANARY-test-load-live-" + d.label, 60, 0};
  oauth.tls = true;
  oauth.tls_port = 443;
  FakeApi api(900, oauth);
  const std::string resident_image = test_image("claude-2x-dev");
  const auto resident = d.mount(resident_image, "resident");
  ASSERT_EQ(resident.size(), 10u);

  std::mutex mu;
  std::vector<std::string> failures;
  std::vector<double> cycle_s, mount_s, release_s;
  std::vector<std::string> volume_per_image(images.size());
  auto fail = [&](const std::string& what) {
    std::lock_guard lock(mu);
    failures.push_back(what);
  };

  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < k_sessions; ++w) {
    workers.emplace_back([&, w] {
      const std::size_t which = static_cast<std::size_t>(w) % images.size();
      for (int c = 0; c < k_cycles; ++c) {
        const std::string session = "load" + std::to_string(w) + "-" + std::to_string(c);
        const auto t0 = Clock::now();
        auto m = d.env.cli({"mount", "--image", images[which], "--session", session}, "", 240);
        const double tm = seconds_since(t0);
        const auto args = split_ws(m.out);
        if (m.exit_code != 0 || args.size() != 10u || args[0] != "--mount") {
          fail("mount " + session + ": exit " + std::to_string(m.exit_code) + ": " + m.out + m.err);
        } else {
          std::lock_guard lock(mu);
          // One login volume per credential and owner, whoever created it.
          if (volume_per_image[which].empty()) volume_per_image[which] = args[3];
          if (volume_per_image[which] != args[3])
            failures.push_back("mount " + session + " printed " + args[3] + ", not " + volume_per_image[which]);
        }
        if (m.out.find(canary) != std::string::npos || m.err.find(canary) != std::string::npos)
          fail("mount " + session + " printed the token");
        const auto t1 = Clock::now();
        auto r = d.env.cli({"release", "--session", session}, "", 240);
        const double tr = seconds_since(t1);
        if (r.exit_code != 0) fail("release " + session + ": exit " + std::to_string(r.exit_code) + ": " + r.err);
        std::lock_guard lock(mu);
        mount_s.push_back(tm);
        release_s.push_back(tr);
        cycle_s.push_back(tm + tr);
      }
    });
  }
  std::atomic<bool> done{false};
  int resident_runs = 0;
  int resident_answered = 0;
  std::thread refresher([&] {
    const auto net = docker_client_args(api, "pb-e2e-load-resident-" + d.label, "resident");
    while (!done || resident_runs == 0) {
      auto r = d.run_in(resident, resident_image, "timeout 90 claude -p hi </dev/null 2>&1; echo \"exit=$?\"", net);
      ++resident_runs;
      if (r.out.find("pong") != std::string::npos && r.out.find("exit=0") != std::string::npos)
        ++resident_answered;
      else
        fail("the resident session's run " + std::to_string(resident_runs) + ": " + r.out + r.err);
    }
  });
  std::vector<double> sync_s;
  std::thread syncer([&] {
    while (!done) {
      const auto t0 = Clock::now();
      auto r = d.env.cli({"sync"}, "", 240);
      const double ts = seconds_since(t0);
      if (r.exit_code != 0) fail("sync: exit " + std::to_string(r.exit_code) + ": " + r.err);
      std::lock_guard lock(mu);
      sync_s.push_back(ts);
    }
  });
  for (auto& t : workers) t.join();
  done = true;
  syncer.join();
  refresher.join();
  const double total = seconds_since(start);
  auto released = d.env.cli({"release", "--session", "resident"});
  EXPECT_EQ(released.exit_code, 0) << released.err;
  api.stop();

  std::printf("[ load     ] %d sessions x %d cycles = %d mount + %d release commands in %.1f s (%.1f commands/s)\n",
              k_sessions, k_cycles, k_sessions * k_cycles, k_sessions * k_cycles, total,
              2.0 * k_sessions * k_cycles / total);
  std::printf("[ load     ] %s\n[ load     ] %s\n[ load     ] %s\n[ load     ] %s (%zu syncs meanwhile)\n",
              describe("cycle", stats_of(cycle_s)).c_str(), describe("mount", stats_of(mount_s)).c_str(),
              describe("release", stats_of(release_s)).c_str(), describe("sync", stats_of(sync_s)).c_str(),
              sync_s.size());
  std::printf("[ load     ] resident session: %d/%d runs answered; %zu refreshes granted, %zu refused\n",
              resident_answered, resident_runs, api.refreshes_granted(), api.refreshes_refused());
  std::fflush(stdout);
  RecordProperty("total_seconds", std::to_string(total));
  RecordProperty("cycle_median_seconds", std::to_string(stats_of(cycle_s).median));

  EXPECT_TRUE(failures.empty()) << failures.size() << " failure(s), the first: " << failures.front();
  EXPECT_GE(api.refreshes_granted(), static_cast<std::size_t>(resident_answered)) << "every run refreshed";
  EXPECT_EQ(api.refreshes_refused(), 0u) << "a revoked refresh token was presented";
  if (api.refreshes_refused() != 0) {
    // Which token each refresh presented (the canaries' tails), in order.
    auto tail = [&](const std::string& t) {
      return t.find("-live-") != std::string::npos ? "#" + t.substr(t.rfind('-') + 1) : std::string("first");
    };
    std::ifstream rec(api.record_file());
    for (std::string line; std::getline(rec, line);) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_object()) continue;
      const std::string presented = j.value("oauth_presented", "");
      const std::string issued = j.value("oauth_issued", "");
      const std::string auth = j["authorization"].is_string() ? j["authorization"].get<std::string>() : "";
      std::printf("[ load     ] %lld %s %s%s%s\n", j.value("time_ms", 0LL) % 1000000, j.value("target", "").c_str(),
                  presented.empty() ? "" : ("presented " + tail(presented)).c_str(),
                  issued.empty() ? "" : (" issued " + tail(issued)).c_str(),
                  auth.empty() ? "" : (" auth " + tail(auth)).c_str());
    }
  }
  EXPECT_FALSE(api.last_issued().empty());
  EXPECT_EQ(d.stored_refresh_token(), api.last_issued()) << "the vault must end with the live refresh token";
  EXPECT_EQ(volume_per_image[0], volume_per_image[1]) << "both images run as uid 1234: one login volume";

  // Nothing is left: no volume or container of this run or of this credential.
  EXPECT_TRUE(d.volumes().empty());
  auto cred_volumes = docker_cli({"volume", "ls", "-q", "--filter", "label=para-broker.credential=" + credential_id});
  EXPECT_EQ(cred_volumes.exit_code, 0) << cred_volumes.err;
  EXPECT_TRUE(split_ws(cred_volumes.out).empty()) << cred_volumes.out;
  // A volume by the broker's name but without its labels (Docker makes one when a container mounts a volume that is
  // gone) would be found by no gc: remove it here, as nothing else would.
  const auto named = split_ws(docker_cli({"volume", "ls", "-q", "--filter", "name=para-broker-" + credential_id}).out);
  EXPECT_TRUE(named.empty()) << named.size() << " unlabelled volume(s) left, e.g. " << named.front();
  for (const auto& v : named) docker_cli({"volume", "rm", "-f", v});
  EXPECT_TRUE(d.containers().empty());
  EXPECT_TRUE(d.containers(credential_id).empty()) << "a helper container was left";

  // The vault and its log are intact, and the log holds one record per command.
  auto verified = d.env.cli({"vault", "verify", "--json"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  auto vj = nlohmann::json::parse(verified.out, nullptr, false);
  ASSERT_FALSE(vj.is_discarded()) << verified.out;
  EXPECT_EQ(vj["ok"], true) << verified.out;
  EXPECT_EQ(vj["entries_ok"], 1) << verified.out;
  auto audited = d.env.cli({"audit", "--verify", "--json"});
  EXPECT_EQ(audited.exit_code, 0) << audited.out << audited.err;

  const auto records = access_log(d.env);
  EXPECT_EQ(vj["log_records"], records.size()) << "verify checked every record";
  constexpr std::size_t k_commands = static_cast<std::size_t>(k_sessions) * k_cycles + 1;  // and the resident
  EXPECT_EQ(count_ops(records, "mount"), k_commands);
  EXPECT_EQ(count_ops(records, "release"), k_commands);
  const std::size_t synced = count_ops(records, "sync");
  const std::size_t written_back = count_ops(records, "writeback");
  EXPECT_GT(synced, 0u) << "sync never found a live volume";
  EXPECT_LE(synced, sync_s.size()) << "one sync record per sync at most (one credential)";
  EXPECT_GT(written_back, 0u) << "the refreshes reached the vault";
  EXPECT_EQ(records.size() - log_before, 2 * k_commands + synced + written_back)
      << "one record per mount, release and sync, and the write-backs of refreshed logins, nothing else";
  for (std::size_t i = log_before; i < records.size(); ++i) {
    const auto& r = records[i];
    EXPECT_EQ(r.value("result", ""), "ok") << r.dump();
    if (r.value("op", "") == "mount" || r.value("op", "") == "release") {
      EXPECT_TRUE(r.value("session", "").rfind("load", 0) == 0 || r.value("session", "") == "resident") << r.dump();
      EXPECT_FALSE(r.value("fingerprint", "").empty()) << r.dump();
    }
  }
  EXPECT_TRUE(d.files_containing(canary).empty());
}

}  // namespace
}  // namespace pb::test
