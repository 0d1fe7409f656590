// para's container lifecycle (2mawi2/para 8f5585f, docs/para-integration.md)
// replayed with real Claude Code through docs/examples/para-dispatch-wrapper.sh:
// `docker create --name para-S … IMAGE sleep infinity`, start, workspace
// setup, the agent's `claude "$(cat /workspace/.initial-prompt)"`, finish
// (stop + rm), cancel, the daemon's path without a terminal; para's pool count
// and its orphan cleanup run between and during mounts. para's count sees only
// the session containers, every session authenticates, every end path writes
// back, nothing is left. Then the wrapper with failures injected exits with
// para-broker's (or docker's) code.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/dispatch_support.hpp"
#include "tests/images/test_images.hpp"
#include "tests/support/fake_api_process.hpp"
#include "tests/support/test_env.hpp"

namespace fs = std::filesystem;

namespace pb::test {
namespace {

/// Names of containers that `docker ps -a --filter name=<filter>` lists, of this test only
/// (other work on the same daemon is not ours to judge or remove).
std::vector<std::string> para_ps(const Dispatch& d, const std::string& filter) {
  auto r = docker_cli({"ps", "-a", "--filter", "name=" + filter, "--filter",
                       "label=" + std::string(k_test_label) + "=" + d.label, "--format", "{{.Names}}"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return split_ws(r.out);
}

/// para's DockerPool::check_capacity: what it counts against max_containers.
std::set<std::string> pool_count(const Dispatch& d) {
  auto names = para_ps(d, "^para-");
  return {names.begin(), names.end()};
}

/// para's ContainerCleaner::cleanup_orphaned_containers: `docker rm -f` of
/// every `para-X` (filter `name=para-`, a substring match) whose session X
/// para does not know. Returns what it removed.
std::vector<std::string> orphan_cleanup(const Dispatch& d, const std::set<std::string>& sessions) {
  std::vector<std::string> removed;
  for (const auto& name : para_ps(d, "para-")) {
    if (!name.starts_with("para-") || sessions.count(name.substr(5))) continue;
    docker_cli({"rm", "-f", name});
    removed.push_back(name);
  }
  return removed;
}

class ParaLifecycle : public ::testing::TestWithParam<const char*> {};

TEST_P(ParaLifecycle, EveryEndPathWritesBackAndParaSeesOnlyItsSessions) {
  PB_REQUIRE_DOCKER();
  const std::string image = test_image(GetParam());
  Dispatch d("para-life");
  const std::int64_t base = expiry_from_now(1);  // a believable expiry: write-back refuses one past 24 hours
  const std::string canary = d.import_login("para", base);
  FakeApi api(300);
  const std::string url = api.base_url();

  auto env = d.env.env();
  env["PATH"] = fs::path(PB_BINARY).parent_path().string() + ":" + std::string(std::getenv("PATH"));
  // para's own docker_args: the API stand-in instead of the network, and this test's label.
  env["PARA_DOCKER_ARGS"] = "--label " + std::string(k_test_label) + "=" + d.label +
                            " --network host -e ANTHROPIC_BASE_URL=" + url + " -e HTTPS_PROXY=" + url +
                            " -e HTTP_PROXY=" + url + " -e NO_PROXY=127.0.0.1,localhost -e DISABLE_TELEMETRY=1" +
                            " -e DISABLE_AUTOUPDATER=1 -e CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1";
  const std::string wrapper = source_path("docs/examples/para-dispatch-wrapper.sh").string();
  auto wrap = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv{wrapper};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, env, "", 300);
  };
  std::set<std::string> known;  // para's sessions (state files)
  auto start = [&](const std::string& s) {
    const fs::path worktree = d.env.root() / ("worktree-" + s);
    write_file(worktree / ".initial-prompt", "say hi");
    known.insert(s);
    auto r = wrap({"start", s, image, worktree.string()});
    EXPECT_EQ(r.exit_code, 0) << s << ": " << r.err;
    // para's setup_container_workspace: docker exec into /workspace.
    EXPECT_EQ(docker_cli({"exec", "para-" + s, "sh", "-c", "test -f /workspace/.initial-prompt"}).exit_code, 0);
    // Between mounts: para's count sees its sessions, nothing of the broker's.
    std::set<std::string> sessions;
    for (const auto& k : known) sessions.insert("para-" + k);
    EXPECT_EQ(pool_count(d), sessions);
    EXPECT_TRUE(orphan_cleanup(d, known).empty());
  };
  const std::string s1 = "s1-" + d.label, s2 = "s2-" + d.label, s3 = "s3-" + d.label, s4 = "s4-" + d.label;
  start(s1);
  // During a mount: para's cleanup runs while the next session's volume and keeper are made.
  std::atomic<bool> mounting{true};
  auto cleaner = std::async(std::launch::async, [&] {
    std::vector<std::string> removed;
    while (mounting) {
      auto r = orphan_cleanup(d, known);
      removed.insert(removed.end(), r.begin(), r.end());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return removed;
  });
  start(s2);
  start(s3);
  mounting = false;
  EXPECT_TRUE(cleaner.get().empty()) << "para's cleanup removed one of the broker's containers";

  // The agent: VS Code's task runs claude with the initial prompt as the image's user.
  auto agent = std::async(std::launch::async, [&] {
    return docker_cli({"exec", "-w", "/workspace", "para-" + s1, "sh", "-c",
                       "timeout 30 claude -p \"$(cat /workspace/.initial-prompt)\" </dev/null >/dev/null 2>&1"},
                      60);
  });
  while (agent.wait_for(std::chrono::milliseconds(250)) != std::future_status::ready)
    if (api.saw_authorization("Bearer " + canary)) break;
  EXPECT_TRUE(api.saw_authorization("Bearer " + canary)) << "the mounted login did not reach the API";
  docker_cli({"exec", "para-" + s1, "sh", "-c", "pkill -f claude || true"});
  agent.get();

  // Claude refreshed in s2 (rotated): para cancels it, and the rotated login reaches the vault.
  const std::string rotated = credentials_json("sk-ant-oat01-CANARY-test-rotated-" + d.label,
                                               "sk-ant-ort01-CANARY-test-rotated-" + d.label, base + 1000);
  ASSERT_EQ(docker_cli({"exec", "para-" + s2, "sh", "-c",
                        "printf '%s' '" + rotated + "' > \"$CLAUDE_CONFIG_DIR/.credentials.json\""})
                .exit_code,
            0);
  known.erase(s2);
  auto cancelled = wrap({"cancel", s2});
  EXPECT_EQ(cancelled.exit_code, 0) << cancelled.err;
  EXPECT_EQ(d.stored_expiry(), base + 1000) << "cancel threw the rotated login away";

  // para finish on the host, then the daemon's path (setsid: no terminal) after a later refresh.
  known.erase(s1);
  auto finished = wrap({"finish", s1});
  EXPECT_EQ(finished.exit_code, 0) << finished.err;
  const std::string later = credentials_json("sk-ant-oat01-CANARY-test-later-" + d.label,
                                             "sk-ant-ort01-CANARY-test-later-" + d.label, base + 2000);
  ASSERT_EQ(docker_cli({"exec", "para-" + s3, "sh", "-c",
                        "printf '%s' '" + later + "' > \"$CLAUDE_CONFIG_DIR/.credentials.json\""})
                .exit_code,
            0);
  known.erase(s3);
  auto daemon = run_process({"setsid", "-w", wrapper, "finish", s3}, env, "", 300);
  EXPECT_EQ(daemon.exit_code, 0) << daemon.err;
  EXPECT_EQ(d.stored_expiry(), base + 2000);

  // A session para forgot (crash): its cleanup removes the container, gc the rest.
  start(s4);
  known.erase(s4);
  EXPECT_EQ(orphan_cleanup(d, known), std::vector<std::string>{"para-" + s4});
  auto gc = d.env.cli({"gc", "--grace", "0"});
  EXPECT_EQ(gc.exit_code, 0) << gc.err;

  api.stop();
  EXPECT_TRUE(d.volumes().empty()) << "left behind: " << d.volumes().size() << " volume(s)";
  EXPECT_TRUE(d.containers().empty()) << "left behind: " << d.containers().size() << " container(s)";
  EXPECT_TRUE(d.files_containing(canary).empty());
  d.verify();
}

INSTANTIATE_TEST_SUITE_P(RealClaude, ParaLifecycle,
                         ::testing::Values("para-claude", "para-claude-2x", "para-claude-2x-entrypoint"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           std::string name = p.param;
                           for (char& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

TEST(ParaLifecycleFailures, TheWrapperExitsWithParaBrokersCodeAndLeavesNothing) {
  PB_REQUIRE_DOCKER();
  const std::string image = test_image("para-claude-2x");
  Dispatch d("para-fail");
  auto env = d.env.env();
  env["PATH"] = fs::path(PB_BINARY).parent_path().string() + ":" + std::string(std::getenv("PATH"));
  env["PARA_DOCKER_ARGS"] = "--label " + std::string(k_test_label) + "=" + d.label;
  const std::string wrapper = source_path("docs/examples/para-dispatch-wrapper.sh").string();
  const std::string worktree = (d.env.root() / "worktree").string();
  fs::create_directories(worktree);
  auto start = [&](const std::string& s, const std::string& img, std::map<std::string, std::string> e) {
    return run_process({wrapper, "start", s, img, worktree}, e, "", 300);
  };
  // No credential stored yet (a fresh machine).
  auto none = start("f1-" + d.label, image, env);
  EXPECT_EQ(none.exit_code, 3) << none.err;
  EXPECT_NE(none.err.find("no credentials stored"), std::string::npos) << none.err;
  d.import_login("fail");
  // Docker down (for para-broker; docker would fail the same way).
  auto down_env = env;
  down_env["DOCKER_HOST"] = "unix://" + (d.env.root() / "no-docker.sock").string();
  auto down = start("f2-" + d.label, image, down_env);
  EXPECT_EQ(down.exit_code, 5) << down.err;
  // An image without Claude Code.
  auto no_claude = start("f3-" + d.label, test_image("no-claude"), env);
  EXPECT_EQ(no_claude.exit_code, 3) << no_claude.err;
  // A hostile image: a file in its Claude config directory over the 4 MiB a mount copies.
  const fs::path ctx = d.env.root() / "hostile";
  write_file(ctx / "Dockerfile", "FROM " + image +
                                     "\nUSER root\nRUN [\"/bin/sh\", \"-c\", \"mkdir -p /home/para/.claude && head -c "
                                     "5000000 /dev/zero > /home/para/.claude/huge\"]\nUSER para\n");
  const std::string hostile = "pb-test-hostile/para-claude:" + d.label;
  auto built = docker_cli({"build", "--quiet", "--network", "none", "--label",
                           std::string(k_test_label) + "=" + d.label, "-t", hostile, ctx.string()},
                          600);
  ASSERT_EQ(built.exit_code, 0) << built.err;
  auto refused = start("f5-" + d.label, hostile, env);
  EXPECT_EQ(refused.exit_code, 7) << refused.err;
  // docker create fails after a successful mount: docker's code, and the volume goes again.
  auto bad_env = env;
  bad_env["PARA_DOCKER_ARGS"] += " --memory not-a-size";
  auto bad = start("f4-" + d.label, image, bad_env);
  EXPECT_EQ(bad.exit_code, 125) << bad.err;
  EXPECT_TRUE(d.volumes().empty()) << "the failed dispatch left " << d.volumes().size() << " volume(s)";
  EXPECT_TRUE(para_ps(d, "para-").empty());
}

}  // namespace
}  // namespace pb::test
