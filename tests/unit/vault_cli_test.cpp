// The vault commands end to end through the real binary: import, list, rm,
// vault init|rekey|inspect|verify, and what must never leak.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "tests/support/test_env.hpp"

namespace fs = std::filesystem;

namespace pb {
namespace {

constexpr const char* k_canary_access = "sk-ant-oat01-CANARY-test-4c1d2e3f5a6b7c8d";
constexpr const char* k_canary_refresh = "sk-ant-ort01-CANARY-test-9e8d7c6b5a4f3e2d";

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

/// A home-like directory with a logged-in state for `email`.
fs::path make_home(const test::TestEnv& env, const std::string& tag, const std::string& email, long long expires,
                   const std::string& access = k_canary_access) {
  fs::path home = env.root() / ("src-" + tag);
  write(home / ".claude" / ".credentials.json", std::string(R"({"claudeAiOauth":{"accessToken":")") + access +
                                                    R"(","refreshToken":")" + k_canary_refresh + R"(","expiresAt":)" +
                                                    std::to_string(expires) +
                                                    R"(,"scopes":["user:inference"],"subscriptionType":"pro"}})");
  write(home / ".claude.json", R"({"numStartups":9,"projects":{"/w":{"history":["PROJECT-HISTORY-MARKER"]}},)"
                               R"("hasCompletedOnboarding":true,"oauthAccount":{"emailAddress":")" +
                                   email + R"(","accountUuid":"uuid-)" + email + R"("}})");
  return home;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

TEST(VaultCli, ImportListRemove) {
  test::TestEnv env;
  auto home = make_home(env, "a", "alice@example.com", 1790000000000);
  auto r = env.cli({"import", "--from-dir", home.string(), "--name", "work"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("created credential 'work'"), std::string::npos) << r.out;
  auto l = env.cli({"list"});
  ASSERT_EQ(l.exit_code, 0) << l.err;
  EXPECT_NE(l.out.find("work"), std::string::npos);
  EXPECT_NE(l.out.find("a***@example.com"), std::string::npos) << l.out;
  EXPECT_EQ(l.out.find("alice@"), std::string::npos);
  auto j = env.cli({"list", "--json"});
  EXPECT_NE(j.out.find("\"schema\": 1"), std::string::npos);
  EXPECT_NE(j.out.find("\"kind\": \"oauth\""), std::string::npos);
  // Same account again: updated, not duplicated.
  auto again = env.cli({"import", "--from-dir", home.string()});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("'work'"), std::string::npos) << again.out;
  EXPECT_EQ(env.cli({"rm", "nope"}).exit_code, 3);
  auto rm = env.cli({"rm", "work"});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_NE(env.cli({"list"}).out.find("no credentials stored"), std::string::npos);
  auto v = env.cli({"vault", "verify"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  for (const auto& e : fs::recursive_directory_iterator(env.vault_home())) {
    if (fs::is_directory(e.path())) {
      EXPECT_EQ(fs::status(e.path()).permissions() & fs::perms::all, fs::perms::owner_all) << e.path();
    } else {
      EXPECT_EQ(fs::status(e.path()).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write)
          << e.path();
    }
  }
}

TEST(VaultCli, CanaryNeverAppearsInPlainText) {
  test::TestEnv env;
  auto home = make_home(env, "c", "carol@example.com", 1790000000000);
  std::string all_output;
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"import", "--from-dir", home.string()},
                                             {"list"},
                                             {"list", "--json"},
                                             {"vault", "verify", "--json"},
                                             {"vault", "inspect", (env.vault_home() / "vault.json").string()}}) {
    auto r = env.cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    all_output += r.out + r.err;
  }
  for (const auto& e : fs::recursive_directory_iterator(env.vault_home())) {
    if (!fs::is_regular_file(e.path())) continue;
    auto r = env.cli({"vault", "inspect", e.path().string()});
    all_output += r.out + r.err;
    const std::string content = slurp(e.path());
    for (const char* secret : {k_canary_access, k_canary_refresh, "CANARY", "PROJECT-HISTORY-MARKER"})
      EXPECT_EQ(content.find(secret), std::string::npos) << secret << " in " << e.path();
  }
  for (const char* secret : {k_canary_access, k_canary_refresh, "CANARY"})
    EXPECT_EQ(all_output.find(secret), std::string::npos) << secret;
  EXPECT_EQ(slurp(env.key_file()).find("CANARY"), std::string::npos);
}

TEST(VaultCli, RefusesMalformedOrHugeJsonAndChangesNothing) {
  test::TestEnv env;
  auto good = make_home(env, "g", "g@example.com", 1);
  ASSERT_EQ(env.cli({"import", "--from-dir", good.string()}).exit_code, 0);
  const std::string log_before = slurp(env.vault_home() / "access.log");
  auto bad = env.root() / "bad";
  write(bad / ".claude" / ".credentials.json", R"({"claudeAiOauth":{"accessToken":"sk-ant-oat01-CANARY-test-z",)");
  auto r = env.cli({"import", "--from-dir", bad.string()});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(r.err.rfind("para-broker: ", 0), 0u);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
  EXPECT_EQ(r.err.find("CANARY"), std::string::npos);
  write(bad / ".claude" / ".credentials.json", R"({"claudeAiOauth":{"accessToken":"x","refreshToken":"y"}})");
  write(bad / ".claude.json", "{\"projects\":" + std::string(100000, '[') + "}");
  EXPECT_EQ(env.cli({"import", "--from-dir", bad.string()}).exit_code, 7);
  EXPECT_EQ(slurp(env.vault_home() / "access.log"), log_before);
  auto empty = env.root() / "empty";
  fs::create_directories(empty);
  EXPECT_EQ(env.cli({"import", "--from-dir", empty.string()}).exit_code, 3);
  EXPECT_EQ(env.cli({"import"}).exit_code, 2);
}

TEST(VaultCli, WrongKeyIsExit4AndLogged) {
  test::TestEnv env;
  auto home = make_home(env, "w", "w@example.com", 1);
  ASSERT_EQ(env.cli({"import", "--from-dir", home.string()}).exit_code, 0);
  const std::string good = slurp(env.key_file());
  const std::string header = slurp(env.vault_home() / "vault.json");
  write(env.key_file(), std::string(64, 'b') + "\n");
  fs::permissions(env.key_file(), fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  auto r = env.cli({"list"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("does not unlock"), std::string::npos) << r.err;
  EXPECT_EQ(env.cli({"rm", "w"}).exit_code, 4);
  EXPECT_EQ(slurp(env.vault_home() / "vault.json"), header);
  write(env.key_file(), good);
  auto l = env.cli({"list"});
  EXPECT_EQ(l.exit_code, 0);
  EXPECT_NE(l.out.find("w***@example.com"), std::string::npos) << l.out;
  ASSERT_EQ(env.cli({"rm", "w"}).exit_code, 0);  // appends, pulling the failed unlocks into the chain
  const std::string log = slurp(env.vault_home() / "access.log");
  EXPECT_NE(log.find("\"op\":\"unlock\""), std::string::npos);
  EXPECT_EQ(env.cli({"vault", "verify"}).exit_code, 0);
}

TEST(VaultCli, PassphraseVault) {
  test::TestEnv env;
  env.set_env("PARA_BROKER_PASSPHRASE", "correct horse battery");
  env.set_env("PARA_BROKER_KEY_CACHE_TTL", "0");
  ASSERT_EQ(env.cli({"vault", "init", "--passphrase"}).exit_code, 0);
  EXPECT_EQ(env.cli({"vault", "init"}).exit_code, 1);
  auto home = make_home(env, "p", "p@example.com", 1);
  ASSERT_EQ(env.cli({"import", "--from-dir", home.string()}).exit_code, 0);
  auto i = env.cli({"vault", "inspect", (env.vault_home() / "vault.json").string()});
  EXPECT_NE(i.out.find("scrypt"), std::string::npos);
  env.set_env("PARA_BROKER_PASSPHRASE", "wrong");
  auto r = env.cli({"list"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  env.set_env("PARA_BROKER_PASSPHRASE", "correct horse battery");
  env.set_env("PARA_BROKER_NEW_PASSPHRASE", "new passphrase here");
  ASSERT_EQ(env.cli({"vault", "rekey"}).exit_code, 0);
  EXPECT_EQ(env.cli({"list"}).exit_code, 4);
  env.set_env("PARA_BROKER_PASSPHRASE", "new passphrase here");
  EXPECT_EQ(env.cli({"list"}).exit_code, 0);
  EXPECT_EQ(env.cli({"vault", "verify"}).exit_code, 0);
}

/// A passphrase vault whose key is not cached, with one credential; the
/// environment for later commands has no PARA_BROKER_PASSPHRASE.
std::map<std::string, std::string> locked_passphrase_vault(test::TestEnv& env) {
  env.set_env("PARA_BROKER_PASSPHRASE", "correct horse battery daemon");
  env.set_env("PARA_BROKER_KEY_CACHE_TTL", "0");
  EXPECT_EQ(env.cli({"vault", "init", "--passphrase"}).exit_code, 0);
  EXPECT_EQ(env.cli({"import", "--from-dir", make_home(env, "d", "d@example.com", 1).string()}).exit_code, 0);
  auto e = env.env();
  e.erase("PARA_BROKER_PASSPHRASE");
  // Docker does not matter: the vault is opened first.
  e["DOCKER_HOST"] = "unix://" + (env.root() / "no-docker.sock").string();
  return e;
}

TEST(VaultCli, ReleaseFromADaemonWithoutATerminalFailsFastSayingWhatToConfigure) {
  test::TestEnv env;
  auto e = locked_passphrase_vault(env);
  // para's daemon: setsid, no controlling terminal.
  const auto start = std::chrono::steady_clock::now();
  auto r = test::run_process({"setsid", "-w", PB_BINARY, "release", "--session", "s1"}, e, "", 30);
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_NE(r.err.find("no terminal"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("PARA_BROKER_PASSPHRASE"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("para-broker vault rekey --key-file"), std::string::npos) << r.err;
  // With the passphrase in its environment, the same daemon gets past the vault (to Docker, which is not there).
  e["PARA_BROKER_PASSPHRASE"] = "correct horse battery daemon";
  auto ok = test::run_process({"setsid", "-w", PB_BINARY, "release", "--session", "s1"}, e, "", 30);
  EXPECT_EQ(ok.exit_code, 5) << ok.err;
}

TEST(VaultCli, ReleaseFromADaemonWithAKeyFileNeedsNoTerminal) {
  test::TestEnv env;
  auto home = make_home(env, "k", "k@example.com", 1);
  ASSERT_EQ(env.cli({"import", "--from-dir", home.string()}).exit_code, 0);
  auto e = env.env();
  e["DOCKER_HOST"] = "unix://" + (env.root() / "no-docker.sock").string();
  auto r = test::run_process({"setsid", "-w", PB_BINARY, "release", "--session", "s1"}, e, "", 30);
  EXPECT_EQ(r.exit_code, 5) << "past the vault, to Docker: " << r.err;
}

/// Runs `argv` in a background process group of a fresh pseudo-terminal (the
/// terminal is its controlling one, but another group is in the foreground),
/// as `para finish &` would. Returns its exit code, or -SIGTTIN when it
/// stopped to read the terminal; its stderr goes to `err_file`.
int run_in_background_of_a_terminal(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                                    const fs::path& err_file) {
  int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) return -1000;
  const std::string slave_name = ::ptsname(master);
  const pid_t leader = ::fork();
  if (leader == 0) {
    ::setsid();
    int slave = ::open(slave_name.c_str(), O_RDWR);
    if (slave < 0 || ::ioctl(slave, TIOCSCTTY, 0) != 0) ::_exit(101);
    const pid_t child = ::fork();
    if (child == 0) {
      ::setpgid(0, 0);  // a new group: not the terminal's foreground group
      int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(err, 2);
      for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      ::unsetenv("PARA_BROKER_PASSPHRASE");
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::setpgid(child, child);
    int status = 0;
    for (int waited = 0; waited < 300; ++waited) {
      const pid_t w = ::waitpid(child, &status, WUNTRACED | WNOHANG);
      if (w == child && WIFSTOPPED(status)) {
        ::kill(child, SIGKILL);
        ::waitpid(child, &status, 0);
        ::_exit(102);  // it stopped to read the terminal
      }
      if (w == child) ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 103);
      ::usleep(100 * 1000);
    }
    ::kill(child, SIGKILL);
    ::_exit(104);
  }
  int status = 0;
  ::waitpid(leader, &status, 0);
  ::close(master);
  if (!WIFEXITED(status)) return -1001;
  return WEXITSTATUS(status) == 102 ? -SIGTTIN : WEXITSTATUS(status);
}

TEST(VaultCli, ABackgroundProcessOfATerminalIsNotAskedForThePassphrase) {
  test::TestEnv env;
  auto e = locked_passphrase_vault(env);
  const fs::path err = env.root() / "stderr";
  const int code = run_in_background_of_a_terminal({PB_BINARY, "release", "--session", "s1"}, e, err);
  EXPECT_EQ(code, 4) << "-" << SIGTTIN << ": it stopped on the prompt; stderr: " << slurp(err);
  EXPECT_NE(slurp(err).find("PARA_BROKER_PASSPHRASE"), std::string::npos) << slurp(err);
}

TEST(VaultCli, CachedKeyUnlocksLaterCommandsForItsTtlOnly) {
  test::TestEnv env;
  env.set_env("PARA_BROKER_PASSPHRASE", "correct horse battery test");
  env.set_env("PARA_BROKER_KEY_CACHE_TTL", "60");
  ASSERT_EQ(env.cli({"vault", "init", "--passphrase"}).exit_code, 0);
  // A wrong passphrase is not even asked for while the kernel keyring holds the key.
  env.set_env("PARA_BROKER_PASSPHRASE", "wrong-test-passphrase");
  auto r = env.cli({"list"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::string header = slurp(env.vault_home() / "vault.json");
  const auto at = header.find("\"vault_id\": \"");
  ASSERT_NE(at, std::string::npos);
  const std::string description = "para-broker:v1:" + header.substr(at + 13, 32);
  std::ifstream keys("/proc/keys");
  int found = 0;
  for (std::string line; std::getline(keys, line);) {
    if (line.find(description) == std::string::npos) continue;
    ++found;
    std::istringstream fields(line);
    std::string id, flags, usage, timeout;
    fields >> id >> flags >> usage >> timeout;
    EXPECT_NE(timeout, "perm") << "the cached key has no timeout: " << line;
  }
  EXPECT_EQ(found, 1);
  env.set_env("PARA_BROKER_KEY_CACHE_TTL", "0");
  EXPECT_EQ(env.cli({"list"}).exit_code, 4);
}

TEST(VaultCli, TamperedEntryIsExit6NamingItOthersUsable) {
  test::TestEnv env;
  ASSERT_EQ(
      env.cli({"import", "--from-dir", make_home(env, "x", "x@example.com", 1).string(), "--name", "victim"}).exit_code,
      0);
  ASSERT_EQ(
      env.cli({"import", "--from-dir", make_home(env, "y", "y@example.com", 1).string(), "--name", "other"}).exit_code,
      0);
  fs::path victim;
  std::string victim_id;
  auto j = env.cli({"list", "--json"}).out;
  auto pos = j.find("\"name\": \"victim\"");
  ASSERT_NE(pos, std::string::npos);
  // entries are sorted by name: "other" comes first, the victim's id is the last "id" before its name.
  auto idpos = j.rfind("\"id\": \"", pos);
  victim_id = j.substr(idpos + 7, 16);
  victim = env.vault_home() / "entries" / (victim_id + ".pbe");
  const std::string original = slurp(victim);
  for (std::size_t i = 0; i < original.size(); i += original.size() / 23 + 1) {
    std::string bad = original;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    write(victim, bad);
    auto r = env.cli({"vault", "verify"});
    EXPECT_EQ(r.exit_code, 6) << "byte " << i;
    EXPECT_NE(r.err.find(victim_id), std::string::npos) << r.err;
    auto l = env.cli({"list"});
    EXPECT_NE(l.out.find("other"), std::string::npos) << "byte " << i;
  }
  write(victim, "");
  EXPECT_EQ(env.cli({"vault", "verify"}).exit_code, 6);
  auto l = env.cli({"list"});
  EXPECT_EQ(l.exit_code, 6);
  EXPECT_NE(l.out.find("other"), std::string::npos);
  EXPECT_NE(l.err.find(victim_id), std::string::npos);
  write(victim, original.substr(0, original.size() / 2));
  EXPECT_EQ(env.cli({"vault", "verify"}).exit_code, 6);
  EXPECT_EQ(env.cli({"rm", victim_id}).exit_code, 0);
  EXPECT_EQ(env.cli({"vault", "verify"}).exit_code, 0);
}

TEST(VaultCli, LogTamperingIsExit6) {
  test::TestEnv env;
  ASSERT_EQ(env.cli({"import", "--from-dir", make_home(env, "l", "l@example.com", 1).string()}).exit_code, 0);
  ASSERT_EQ(env.cli({"import", "--from-dir", make_home(env, "m", "m@example.com", 1).string()}).exit_code, 0);
  const fs::path log = env.vault_home() / "access.log";
  const std::string original = slurp(log);
  ASSERT_EQ(env.cli({"vault", "verify"}).exit_code, 0);
  std::string edited = original;
  edited.replace(edited.find("\"capture\""), 9, "\"captura\"");
  write(log, edited);
  EXPECT_EQ(env.cli({"vault", "verify"}).exit_code, 6);
  write(log, original.substr(0, original.rfind('\n', original.size() - 2) + 1));
  auto r = env.cli({"vault", "verify"});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
  write(log, original);
  EXPECT_EQ(env.cli({"vault", "verify"}).exit_code, 0);
}

TEST(VaultCli, SixteenProcessesAtOnce) {
  test::TestEnv env;
  ASSERT_EQ(env.cli({"vault", "init"}).exit_code, 0);
  std::vector<fs::path> homes;
  for (int i = 0; i < 16; ++i)
    homes.push_back(make_home(env, "p" + std::to_string(i), "user" + std::to_string(i) + "@example.com", 1000 + i));
  std::vector<std::thread> threads;
  std::vector<int> failures(16, 0);
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      // Each process imports its account twice, lists, and odd ones remove theirs again.
      const std::string name = "n" + std::to_string(i);
      for (int k = 0; k < 2; ++k)
        if (env.cli({"import", "--from-dir", homes[i].string(), "--name", name}).exit_code != 0) ++failures[i];
      if (env.cli({"list"}).exit_code != 0) ++failures[i];
      if (i % 2 == 1 && env.cli({"rm", name}).exit_code != 0) ++failures[i];
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 16; ++i) EXPECT_EQ(failures[i], 0) << "process group " << i;
  auto j = env.cli({"list", "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  std::set<std::string> names;
  std::size_t count = 0;
  for (std::size_t p = j.out.find("\"name\": \""); p != std::string::npos; p = j.out.find("\"name\": \"", p + 1)) {
    names.insert(j.out.substr(p + 9, j.out.find('"', p + 9) - p - 9));
    ++count;
  }
  std::set<std::string> expected;
  for (int i = 0; i < 16; i += 2) expected.insert("n" + std::to_string(i));
  EXPECT_EQ(names, expected);
  EXPECT_EQ(count, expected.size());
  auto v = env.cli({"vault", "verify"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("8 entries intact"), std::string::npos) << v.out;
}

}  // namespace
}  // namespace pb
