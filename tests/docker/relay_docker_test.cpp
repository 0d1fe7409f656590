// para-broker-relay in a real container: two login volumes (root's and uid
// 1234's), the static relay copied into a container of the busybox test image
// (no network, root) that mounts both, and a session's side in a second
// container as uid 1234 that changes its own login (by rename as 2.x does,
// in place as 1.0.x does) and watches root's volume for the relay's rename.
// Every container and volume carries the test label and goes on every path.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/test_env.hpp"

namespace pb::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* k_canary = "CANARY-relay";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string random_suffix() {
  std::random_device rd;
  std::ostringstream s;
  s << std::hex << rd() << rd();
  return s.str();
}

json login(const std::string& tag, std::int64_t expires) {
  return {{"claudeAiOauth",
           {{"accessToken", std::string("sk-ant-oat01-") + k_canary + "-" + tag},
            {"refreshToken", std::string("sk-ant-ort01-") + k_canary + "-" + tag},
            {"expiresAt", expires},
            {"scopes", {"user:inference"}},
            {"subscriptionType", "max"}}}};
}

std::string access(const std::string& tag) {
  return std::string("sk-ant-oat01-") + k_canary + "-" + tag;
}

class RelayDocker : public ::testing::Test {
 protected:
  void SetUp() override {
    PB_REQUIRE_DOCKER();
    label = "relay-" + random_suffix();
    vol_a = "pb-test-relay-" + label + "-a";
    vol_b = "pb-test-relay-" + label + "-b";
    image = busybox_image(label);
    for (const auto& v : {vol_a, vol_b}) {
      auto r = docker_cli({"volume", "create", "--label", labelled(), v});
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    // root's volume: the directory 0755 (the session's side watches it), the file 0:0 0600;
    // uid 1234's: directory and file its own.
    json a = login("a", now_ms() + 3'600'000);
    a["mcpOAuth"] = {{"root-server", {{"accessToken", "root-mcp"}}}};
    const json b = login("b", now_ms() + 1'800'000);
    auto r = docker_cli({"run", "--rm", "--label", labelled(), "--network", "none", "-v", vol_a + ":/a", "-v",
                         vol_b + ":/b", "-e", "LA=" + a.dump(), "-e", "LB=" + b.dump(), image, "sh", "-c",
                         "set -e; printf %s \"$LA\" > /a/.credentials.json; chmod 600 /a/.credentials.json; "
                         "chmod 755 /a; printf %s \"$LB\" > /b/.credentials.json; chmod 600 /b/.credentials.json; "
                         "chown -R 1234:1234 /b; chmod 700 /b"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    start_relay();
  }

  void TearDown() override {
    if (!label.empty()) remove_labelled(label);
  }

  std::string labelled() const { return std::string(k_test_label) + "=" + label; }

  // The relay runs as docs/dispatch.md says it must: root with no capability but CHOWN and
  // DAC_OVERRIDE, no network, a read-only root, no new privileges, a capped log. Its binary
  // comes in a volume of its own (docker cp cannot write a read-only root).
  void start_relay() {
    vol_bin = "pb-test-relay-" + label + "-bin";
    auto v = docker_cli({"volume", "create", "--label", labelled(), vol_bin});
    ASSERT_EQ(v.exit_code, 0) << v.err;
    auto loader = docker_cli(
        {"create", "--label", labelled(), "--network", "none", "-v", vol_bin + ":/bin-relay", image, "true"});
    ASSERT_EQ(loader.exit_code, 0) << loader.err;
    const std::string loader_id = loader.out.substr(0, loader.out.find('\n'));
    auto cp = docker_cli({"cp", PB_RELAY_BINARY, loader_id + ":/bin-relay/para-broker-relay"});
    docker_cli({"rm", "-f", loader_id});
    ASSERT_EQ(cp.exit_code, 0) << cp.err;
    auto c = docker_cli({"create",
                         "--label",
                         labelled(),
                         "--network",
                         "none",
                         "--user",
                         "0:0",
                         "--cap-drop",
                         "ALL",
                         "--cap-add",
                         "CHOWN",
                         "--cap-add",
                         "DAC_OVERRIDE",
                         "--read-only",
                         "--security-opt",
                         "no-new-privileges",
                         "--log-opt",
                         "max-size=1m",
                         "-v",
                         vol_bin + ":/bin-relay:ro",
                         "-v",
                         vol_a + ":/relay/0",
                         "-v",
                         vol_b + ":/relay/1",
                         "--entrypoint",
                         "/bin-relay/para-broker-relay",
                         image,
                         "/relay/0:0:0",
                         "/relay/1:1234:1234"});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    relay = c.out.substr(0, c.out.find('\n'));
    auto s = docker_cli({"start", relay});
    ASSERT_EQ(s.exit_code, 0) << s.err;
    // It says so once it watches both directories (after its start-up copies).
    const auto end = std::chrono::steady_clock::now() + 20s;
    while (logs().find("relay: watching /relay/0 (0:0), /relay/1 (1234:1234)") == std::string::npos) {
      ASSERT_LT(std::chrono::steady_clock::now(), end) << logs();
      std::this_thread::sleep_for(50ms);
    }
  }

  std::string logs() const {
    auto r = docker_cli({"logs", relay});
    return r.out + r.err;
  }

  /// Runs the session's side as uid 1234 with B at /b and A at /a.
  CommandResult helper(const std::vector<std::string>& args) {
    std::vector<std::string> create{
        "create", "--label",     labelled(), "--network",   "none",         "--user",           "1234:1234",
        "-v",     vol_b + ":/b", "-v",       vol_a + ":/a", "--entrypoint", "/pb_relay_helper", image};
    create.insert(create.end(), args.begin(), args.end());
    auto c = docker_cli(create);
    if (c.exit_code != 0) return c;
    const std::string id = c.out.substr(0, c.out.find('\n'));
    auto cp = docker_cli({"cp", PB_RELAY_HELPER, id + ":/pb_relay_helper"});
    if (cp.exit_code != 0) return cp;
    auto r = docker_cli({"start", "-a", id}, 300);
    docker_cli({"rm", "-f", id});
    return r;
  }

  /// Volume A's file as root sees it: "uid:gid mode links type" and the content.
  std::pair<std::string, json> read_a() {
    auto r = docker_cli({"run", "--rm", "--label", labelled(), "--network", "none", "-v", vol_a + ":/a", image, "sh",
                         "-c", "stat -c '%u:%g %a %h %F' /a/.credentials.json; cat /a/.credentials.json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const auto nl = r.out.find('\n');
    if (nl == std::string::npos) return {r.out, json()};
    return {r.out.substr(0, nl), json::parse(r.out.substr(nl + 1), nullptr, false)};
  }

  /// Stops the relay: exit 0, nothing secret in its output.
  void stop_relay() {
    auto s = docker_cli({"stop", "-t", "10", relay});
    ASSERT_EQ(s.exit_code, 0) << s.err;
    auto code = docker_cli({"inspect", "-f", "{{.State.ExitCode}}", relay});
    EXPECT_EQ(code.out, "0\n") << logs();
    const std::string out = logs();
    EXPECT_EQ(out.find(k_canary), std::string::npos) << out;
    EXPECT_EQ(out.find("sk-ant"), std::string::npos) << out;
  }

  std::string label, vol_a, vol_b, vol_bin, image, relay;
};

TEST_F(RelayDocker, StartUpCopiesTheNewerLoginAndAChangeByRenameReachesTheOtherVolume) {
  // At start the relay had nothing to copy: A's login is newer than B's, so B got it.
  EXPECT_NE(logs().find("relay: /relay/0 -> /relay/1 (expires "), std::string::npos) << logs();

  const json next = login("renamed", now_ms() + 2 * 3'600'000);
  auto r = helper({"act", "/b", "/a", "2000", "rename", next.dump()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.rfind("propagated_us ", 0), 0u) << r.out << logs();
  const auto [meta, a] = read_a();
  EXPECT_EQ(meta, "0:0 600 1 regular file");
  EXPECT_EQ(a["claudeAiOauth"]["accessToken"], access("renamed"));
  EXPECT_EQ(a["claudeAiOauth"]["expiresAt"], next["claudeAiOauth"]["expiresAt"]);
  EXPECT_EQ(a["mcpOAuth"]["root-server"]["accessToken"], "root-mcp");  // A keeps its own keys
  EXPECT_NE(logs().find("relay: /relay/1 -> /relay/0 (expires "), std::string::npos) << logs();
  stop_relay();
}

TEST_F(RelayDocker, AnInPlaceRewriteReachesTheOtherVolume) {
  const json next = login("in-place", now_ms() + 2 * 3'600'000);
  auto r = helper({"act", "/b", "/a", "2000", "inplace", next.dump()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.rfind("propagated_us ", 0), 0u) << r.out << logs();
  const auto [meta, a] = read_a();
  EXPECT_EQ(meta, "0:0 600 1 regular file");
  EXPECT_EQ(a["claudeAiOauth"]["accessToken"], access("in-place"));
  stop_relay();
}

TEST_F(RelayDocker, HostileChangesAreNotPropagated) {
  const auto before = read_a();
  const auto t = now_ms();
  // A symbolic link to a newer login; a login claiming 25 hours.
  for (const auto& [mode, text] :
       std::vector<std::pair<std::string, std::string>>{{"symlink", login("symlinked", t + 2 * 3'600'000).dump()},
                                                        {"rename", login("far", t + 25 * 3'600'000).dump()}}) {
    auto r = helper({"act", "/b", "/a", "1000", mode, text});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(r.out, "quiet\n") << mode << "\n" << logs();
    EXPECT_EQ(read_a(), before) << mode;
  }
  // A newer login with a top-level key of its own: the login goes, the key does not.
  json planted = login("planted", t + 3 * 3'600'000);
  planted["mcpOAuth"] = {{"evil", {{"accessToken", "planted-mcp"}}}};
  planted["pluginSecrets"] = {{"x", "y"}};
  auto r = helper({"act", "/b", "/a", "2000", "rename", planted.dump()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.rfind("propagated_us ", 0), 0u) << r.out << logs();
  const auto [meta, a] = read_a();
  EXPECT_EQ(meta, "0:0 600 1 regular file");
  EXPECT_EQ(a["claudeAiOauth"]["accessToken"], access("planted"));
  EXPECT_EQ(a["mcpOAuth"], before.second["mcpOAuth"]);
  EXPECT_FALSE(a.contains("pluginSecrets"));

  const std::string out = logs();
  EXPECT_NE(out.find("relay: /relay/1: refused: it is a symbolic link"), std::string::npos) << out;
  // The second refusal came within 10 s of the first: held back (one line per directory per 10 s).
  EXPECT_EQ(out.find("relay: /relay/1: refused: its expiresAt is more than 24 hours away"), std::string::npos) << out;
  auto running = docker_cli({"inspect", "-f", "{{.State.Running}}", relay});
  EXPECT_EQ(running.out, "true\n");
  stop_relay();
}

TEST_F(RelayDocker, PropagationLatency) {
  auto latencies_ms = [](const std::string& out) {
    std::vector<double> v;
    std::istringstream in(out);
    std::string word;
    long long us = 0;
    while (in >> word)
      if (word == "latency_us" && in >> us) v.push_back(static_cast<double>(us) / 1000.0);
    std::sort(v.begin(), v.end());
    return v;
  };
  const auto first = now_ms() + 2 * 3'600'000;
  for (const std::string mode : {"rename", "inplace"}) {
    auto r = helper(
        {"measure", "/b", "/a", mode, "20", std::to_string(first + (mode == "rename" ? 0 : 100'000)), "lat-" + mode});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err << logs();
    const auto v = latencies_ms(r.out);
    ASSERT_EQ(v.size(), 20u) << r.out;
    char shown[96];
    std::snprintf(shown, sizeof shown, "median %.2f ms, min %.2f, max %.2f, of %zu updates", v[v.size() / 2], v.front(),
                  v.back(), v.size());
    RecordProperty("latency_" + mode, shown);
    std::printf("relay propagation by %s: %s\n", mode.c_str(), shown);
  }
  const auto [meta, a] = read_a();
  EXPECT_EQ(meta, "0:0 600 1 regular file");
  EXPECT_EQ(a["claudeAiOauth"]["accessToken"], access("lat-inplace-19"));
  stop_relay();
}

}  // namespace
}  // namespace pb::test
