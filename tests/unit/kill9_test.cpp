// kill -9 at random moments: several para-broker processes work on one vault
// at once (import, rm, list, vault verify, audit --verify, rekey, rotate, a wrong
// key), and one of them is killed with SIGKILL every so often, until 200 have
// been killed while running. Every verify that finishes must pass while this
// goes on; afterwards the vault must verify, every credential must open, no
// temp file or unfinished rekey may be left once a writer has run, and the
// access log must verify. PB_KILL9_SEED repeats a run; PB_KILL9_KILLS changes
// the number of kills.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "tests/unit/crash_support.hpp"

extern char** environ;

namespace fs = std::filesystem;

namespace pb::test::crash {
namespace {

constexpr int k_accounts = 4;
constexpr int k_parallel = 3;
const long long k_expiries[] = {1790000000000, 1800000000000, 1810000000000, 1820000000000};

struct Child {
  pid_t pid = -1;
  std::string op;
  std::set<int> ok_codes;
  std::string must_print;  ///< when it exits normally
  fs::path out;
  std::chrono::steady_clock::time_point started{};
  std::chrono::steady_clock::time_point kill_at{};
  bool to_kill = false;
};

/// Starts para-broker with `env`, stdout and stderr to `out`.
pid_t spawn(const std::vector<std::string>& args, const std::map<std::string, std::string>& env, const fs::path& out) {
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    if (auto eq = kv.find('='); eq != std::string::npos) merged[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : env) merged[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : merged) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv{PB_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> argp;
  for (auto& a : argv) argp.push_back(a.data());
  argp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argp[0], &fa, nullptr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Kill9, RandomKillsDuringConcurrentCommandsLeaveAWholeVault) {
  const char* seed_env = std::getenv("PB_KILL9_SEED");
  const unsigned seed =
      seed_env != nullptr ? static_cast<unsigned>(std::strtoul(seed_env, nullptr, 10)) : std::random_device{}();
  const char* kills_env = std::getenv("PB_KILL9_KILLS");
  const int wanted = kills_env != nullptr ? std::atoi(kills_env) : 200;
  RecordProperty("seed", static_cast<int>(seed));
  SCOPED_TRACE("PB_KILL9_SEED=" + std::to_string(seed));
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };

  Sandbox box;
  std::vector<fs::path> logins;
  for (int a = 0; a < k_accounts; ++a)
    for (long long e : k_expiries) logins.push_back(box.login("user" + std::to_string(a) + "@example.com", e));
  auto login_of = [&](int account, int expiry) { return logins[static_cast<std::size_t>(account * 4 + expiry)]; };
  for (int a = 0; a < k_accounts; ++a) {
    auto r = box.run({"import", "--from-dir", login_of(a, 0).string(), "--name", "n" + std::to_string(a)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const auto env = box.env().env();
  auto with = [&](std::map<std::string, std::string> extra) {
    auto e = env;
    for (auto& [k, v] : extra) e[k] = v;
    return e;
  };

  auto next_command = [&](Child& c) -> std::pair<std::vector<std::string>, std::map<std::string, std::string>> {
    const int r = pick(100);
    const int a = pick(k_accounts);
    const std::string name = "n" + std::to_string(a);
    if (r < 35) {
      c.op = "import";
      c.ok_codes = {0};
      return {{"import", "--from-dir", login_of(a, pick(4)).string(), "--name", name}, env};
    }
    if (r < 50) {
      c.op = "rm";
      c.ok_codes = {0, 3};
      return {{"rm", "--force", name}, env};
    }
    if (r < 65) {
      c.op = "list";
      c.ok_codes = {0};
      return {{"list", "--json"}, env};
    }
    if (r < 80) {
      c.op = "vault verify";
      c.ok_codes = {0};
      return {{"vault", "verify"}, env};
    }
    if (r < 90) {
      c.op = "audit --verify";
      c.ok_codes = {10};  // Docker is not there: that needs attention
      c.must_print = ", chain intact";
      return {{"audit", "--verify"}, env};
    }
    if (r < 92) {
      c.op = "vault rekey";
      c.ok_codes = {0};
      return {{"vault", "rekey"}, env};
    }
    if (r < 95) {
      c.op = "vault rotate";
      c.ok_codes = {0};
      return {{"vault", "rotate"}, env};
    }
    c.op = "wrong key";
    c.ok_codes = {4};
    return {{"list"}, with(box.wrong_key())};
  };

  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::seconds(150);
  std::vector<Child> running;
  int kills = 0, finished = 0, spawned = 0;
  std::map<std::string, int> kills_by_op;
  std::map<std::string, std::pair<long long, long long>> run_time;  // op -> (total µs, runs) of finished runs
  while (kills < wanted && std::chrono::steady_clock::now() < deadline) {
    while (running.size() < static_cast<std::size_t>(k_parallel)) {
      Child c;
      auto [args, e] = next_command(c);
      c.out = box.env().root() / ("child-" + std::to_string(spawned++) + ".out");
      c.pid = spawn(args, e, c.out);
      ASSERT_GT(c.pid, 0);
      // About half are marked for a kill at a random moment of their usual run time.
      c.started = std::chrono::steady_clock::now();
      c.to_kill = pick(2) == 0;
      auto& [total, n] = run_time[c.op];
      const long long usual = n > 0 ? total / n : 20000;
      c.kill_at = c.started + std::chrono::microseconds(pick(static_cast<int>(usual * 11 / 10) + 1));
      running.push_back(std::move(c));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
    const auto now = std::chrono::steady_clock::now();
    for (auto& c : running)
      if (c.to_kill && now >= c.kill_at) {
        ::kill(c.pid, SIGKILL);
        c.to_kill = false;
      }
    for (auto it = running.begin(); it != running.end();) {
      int status = 0;
      if (::waitpid(it->pid, &status, WNOHANG) != it->pid) {
        ++it;
        continue;
      }
      if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
        ++kills;
        ++kills_by_op[it->op];
      } else {
        ++finished;
        auto& [total, n] = run_time[it->op];
        total += std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - it->started)
                     .count();
        ++n;
        const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        const std::string out = slurp(it->out);
        EXPECT_TRUE(it->ok_codes.count(code)) << it->op << " exited " << code << ":\n" << out;
        if (!it->must_print.empty() && it->ok_codes.count(code)) {
          EXPECT_NE(out.find(it->must_print), std::string::npos) << it->op << ":\n" << out;
        }
      }
      fs::remove(it->out);
      it = running.erase(it);
    }
    if (testing::Test::HasFailure()) break;
  }
  for (auto& c : running) {
    ::kill(c.pid, SIGKILL);
    ::waitpid(c.pid, nullptr, 0);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string by_op;
  for (const auto& [op, n] : kills_by_op) by_op += " " + op + "=" + std::to_string(n);
  std::cout << "[ kill -9  ] " << kills << " killed, " << finished << " finished, in " << seconds << " s;" << by_op
            << " (PB_KILL9_SEED=" << seed << ")\n";
  EXPECT_GE(kills, wanted) << "too few kills before the deadline";

  // A writer runs once more (it removes temp files and finishes the log), then everything must be whole.
  auto w = box.run({"import", "--from-dir", box.login("last@example.com", k_expiries[0]).string(), "--name", "last"});
  EXPECT_EQ(w.exit_code, 0) << w.err;
  EXPECT_EQ(box.run({"rm", "--force", "last"}).exit_code, 0);
  VaultState s = inspect(box);
  ASSERT_TRUE(s.exists);
  EXPECT_TRUE(s.verified) << s.verify_output;
  EXPECT_TRUE(s.temp_files.empty()) << "left behind: " << s.temp_files.front();
  fs::path pending_key = box.env().key_file();
  pending_key += ".new";
  EXPECT_FALSE(fs::exists(pending_key));
  EXPECT_FALSE(fs::exists(box.env().vault_home() / "rotate")) << "an unfinished rotate was left";
  for (const auto& [name, expiry] : s.expiry_by_name) {
    EXPECT_TRUE(name.size() == 2 && name[0] == 'n') << "unexpected credential " << name;
    EXPECT_NE(std::find(std::begin(k_expiries), std::end(k_expiries), expiry), std::end(k_expiries))
        << name << " has an expiry no import had: " << expiry;
  }
}

}  // namespace
}  // namespace pb::test::crash
