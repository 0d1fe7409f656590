// Issue 17: a local attacker who can write the vault directory (not the key)
// must not change what the vault says undetected: no silent log restart, no
// rollback of the directory or of one entry, no planted cached key, a KDF and
// passphrase that protect something, parents checked like OpenSSH's StrictModes.

#include <gtest/gtest.h>
#include <keyutils.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "core/files.hpp"
#include "tests/support/test_env.hpp"

namespace fs = std::filesystem;

namespace pb {
namespace {

constexpr long long k_early = 1790000000000;
constexpr long long k_late = 1890000000000;

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

fs::path make_home(const test::TestEnv& env, const std::string& tag, const std::string& email, long long expires,
                   const std::string& token) {
  fs::path home = env.root() / ("src-" + tag);
  write(home / ".claude" / ".credentials.json", R"({"claudeAiOauth":{"accessToken":")" + token +
                                                    R"(","refreshToken":"sk-ant-ort01-CANARY-r","expiresAt":)" +
                                                    std::to_string(expires) + R"(,"subscriptionType":"pro"}})");
  write(home / ".claude.json", R"({"hasCompletedOnboarding":true,"oauthAccount":{"emailAddress":")" + email +
                                   R"(","accountUuid":"uuid-)" + email + R"("}})");
  return home;
}

void import(const test::TestEnv& env, const std::string& tag, const std::string& email, long long expires,
            const std::string& name = "") {
  std::vector<std::string> args{"import", "--from-dir",
                                make_home(env, tag, email, expires, "sk-ant-oat01-CANARY-" + tag).string()};
  if (!name.empty()) {
    args.push_back("--name");
    args.push_back(name);
  }
  auto r = env.cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

fs::path only_entry(const test::TestEnv& env) {
  std::vector<fs::path> found;
  for (const auto& e : fs::directory_iterator(env.vault_home() / "entries"))
    if (e.path().extension() == ".pbe") found.push_back(e.path());
  EXPECT_EQ(found.size(), 1u);
  return found.empty() ? fs::path() : found.front();
}

std::string vault_id_of(const test::TestEnv& env) {
  const std::string header = slurp(env.vault_home() / "vault.json");
  const auto at = header.find("\"vault_id\": \"");
  return at == std::string::npos ? "" : header.substr(at + 13, 32);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// ---- finding 1: the log cannot be restarted silently, and the directory cannot be rolled back

TEST(VaultIntegrity, AWipedLogIsNotRestartedByTheNextAppend) {
  test::TestEnv env;
  import(env, "a", "alice@example.com", k_early, "work");
  fs::remove(env.vault_home() / "access.log");
  fs::remove(env.vault_home() / "access.head");
  auto r = env.cli({"import", "--from-dir", make_home(env, "b", "bob@example.com", k_early, "tok-b").string()});
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_NE(r.err.find("repair-log"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(env.vault_home() / "access.log")) << "the append started a new chain";
  EXPECT_EQ(env.cli({"vault", "verify"}).exit_code, 6);
  // Only an explicit repair starts over, and it says so in the log.
  auto repaired = env.cli({"vault", "repair-log"});
  ASSERT_EQ(repaired.exit_code, 0) << repaired.err;
  const std::string log = slurp(env.vault_home() / "access.log");
  EXPECT_NE(log.find("\"op\":\"repair-log\""), std::string::npos) << log;
  EXPECT_NE(log.find("the access log is missing"), std::string::npos) << log;
  auto v = env.cli({"vault", "verify"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_EQ(env.cli({"list"}).exit_code, 0);
  import(env, "c", "carol@example.com", k_early);
}

TEST(VaultIntegrity, ACutLogWithoutItsHeadIsNotHiddenByTheNextAppend) {
  test::TestEnv env;
  import(env, "a", "alice@example.com", k_early, "work");
  import(env, "b", "bob@example.com", k_early, "other");
  ASSERT_EQ(env.cli({"rm", "--force", "other"}).exit_code, 0);
  const fs::path log = env.vault_home() / "access.log";
  auto lines = lines_of(slurp(log));
  ASSERT_GE(lines.size(), 4u);
  std::string cut;
  for (std::size_t i = 0; i + 2 < lines.size(); ++i) cut += lines[i] + "\n";
  write(log, cut);
  fs::remove(env.vault_home() / "access.head");
  auto r = env.cli({"import", "--from-dir", make_home(env, "c", "carol@example.com", k_early, "tok-c").string()});
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_EQ(slurp(log), cut) << "the append wrote to a cut log";
  auto a = env.cli({"audit", "--verify"});
  EXPECT_NE(a.exit_code, 0) << a.out;
}

TEST(VaultIntegrity, RollingBackTheWholeVaultDirectoryIsDetected) {
  test::TestEnv env;
  import(env, "a", "alice@example.com", k_early, "work");
  const fs::path saved = env.root() / "saved-vault";
  fs::copy(env.vault_home(), saved, fs::copy_options::recursive);
  import(env, "a2", "alice@example.com", k_late);
  ASSERT_EQ(env.cli({"rm", "--force", "work"}).exit_code, 0);
  fs::remove_all(env.vault_home());
  fs::copy(saved, env.vault_home(), fs::copy_options::recursive);
  fs::permissions(env.vault_home(), fs::perms::owner_all, fs::perm_options::replace);
  auto v = env.cli({"vault", "verify"});
  EXPECT_EQ(v.exit_code, 6) << v.out << v.err;
  EXPECT_NE((v.out + v.err).find("rolled back"), std::string::npos) << v.out << v.err;
  auto l = env.cli({"list"});
  EXPECT_EQ(l.exit_code, 6) << l.out << l.err;
  auto r = env.cli({"import", "--from-dir", make_home(env, "c", "carol@example.com", k_early, "tok-c").string()});
  EXPECT_EQ(r.exit_code, 6) << r.err;
}

TEST(VaultIntegrity, AKillBetweenHeadAndAnchorNeitherBricksNorHides) {
  test::TestEnv env;
  import(env, "a", "alice@example.com", k_early, "work");
  env.set_env("PARA_BROKER_CRASH_AT", "access_log.append.head_written");
  auto r = env.cli({"rm", "--force", "work"});
  ASSERT_EQ(r.exit_code, 137) << r.err;
  env.set_env("PARA_BROKER_CRASH_AT", "");
  auto v = env.cli({"vault", "verify"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(slurp(env.vault_home() / "access.log").find("\"op\":\"rm\""), std::string::npos);
  import(env, "b", "bob@example.com", k_early);
  EXPECT_EQ(env.cli({"vault", "verify"}).exit_code, 0);
}

// ---- finding 2: an old or removed entry file cannot be put back

TEST(VaultIntegrity, AnOlderCopyOfAnEntryIsRefused) {
  test::TestEnv env;
  import(env, "a", "alice@example.com", k_early, "work");
  const fs::path entry = only_entry(env);
  const std::string old = slurp(entry);
  import(env, "a2", "alice@example.com", k_late);
  ASSERT_NE(slurp(entry), old);
  write(entry, old);
  auto l = env.cli({"list"});
  EXPECT_EQ(l.exit_code, 6) << l.out;
  EXPECT_NE(l.err.find("generation"), std::string::npos) << l.err;
  auto v = env.cli({"vault", "verify"});
  EXPECT_EQ(v.exit_code, 6) << v.out;
  EXPECT_NE(env.cli({"audit", "--verify"}).exit_code, 0);
}

TEST(VaultIntegrity, ARemovedEntryPutBackIsRefused) {
  test::TestEnv env;
  import(env, "a", "alice@example.com", k_early, "work");
  const fs::path entry = only_entry(env);
  const std::string old = slurp(entry);
  ASSERT_EQ(env.cli({"rm", "--force", "work"}).exit_code, 0);
  write(entry, old);
  fs::permissions(entry, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  auto l = env.cli({"list"});
  EXPECT_EQ(l.exit_code, 6) << l.out;
  EXPECT_EQ(l.out.find("work"), std::string::npos) << "the removed credential is listed again: " << l.out;
  EXPECT_NE(l.err.find("removed"), std::string::npos) << l.err;
  EXPECT_EQ(env.cli({"vault", "verify"}).exit_code, 6);
}

// ---- a vault made before generations and anchors (by 1ae691a) keeps working, and is upgraded on its next write

void install_legacy_vault(const test::TestEnv& env) {
  const fs::path data = test::source_path("tests/unit/data/vault-v1");
  fs::create_directories(env.key_file().parent_path());
  fs::permissions(env.key_file().parent_path(), fs::perms::owner_all, fs::perm_options::replace);
  fs::copy_file(data / "vault.key", env.key_file());
  fs::permissions(env.key_file(), fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  fs::copy(data / "vault", env.vault_home(), fs::copy_options::recursive);
  fs::permissions(env.vault_home(), fs::perms::owner_all, fs::perm_options::replace);
  fs::permissions(env.vault_home() / "entries", fs::perms::owner_all, fs::perm_options::replace);
}

TEST(VaultIntegrity, AVaultOfBeforeGenerationsOpensAndIsUpgradedOnItsNextWrite) {
  test::TestEnv env;
  install_legacy_vault(env);
  const fs::path data = test::source_path("tests/unit/data/vault-v1");
  auto l = env.cli({"list"});
  ASSERT_EQ(l.exit_code, 0) << l.err;
  EXPECT_NE(l.out.find("work"), std::string::npos) << l.out;
  auto v = env.cli({"vault", "verify"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  // What its log says is enforced already: a removed entry or an older copy stays refused.
  const fs::path removed = env.vault_home() / "entries" / "e6fdef9e99576359.pbe";
  fs::copy_file(data / "other-removed.pbe", removed);
  EXPECT_EQ(env.cli({"list"}).exit_code, 6);
  fs::remove(removed);
  const fs::path work = env.vault_home() / "entries" / "353911bd65877371.pbe";
  const std::string current = slurp(work);
  write(work, slurp(data / "work-old.pbe"));
  auto old = env.cli({"list"});
  EXPECT_EQ(old.exit_code, 6) << old.out;
  write(work, current);
  ASSERT_EQ(env.cli({"list"}).exit_code, 0);
  // The next write brings the head's entries map and the anchor.
  import(env, "c", "carol@example.com", k_early, "third");
  EXPECT_TRUE(fs::exists(env.key_file().parent_path() / ("vault-" + vault_id_of(env) + ".anchor")));
  v = env.cli({"vault", "verify"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  l = env.cli({"list"});
  EXPECT_EQ(l.exit_code, 0) << l.err;
  EXPECT_NE(l.out.find("work"), std::string::npos) << l.out;
  write(work, slurp(data / "work-old.pbe"));
  EXPECT_EQ(env.cli({"list"}).exit_code, 6);
}

// ---- finding 3: a key planted in the cache is not trusted

std::vector<std::vector<std::string>> cached_keys(const std::string& vault_id) {
  std::vector<std::vector<std::string>> out;
  std::ifstream keys("/proc/keys");
  for (std::string line; std::getline(keys, line);) {
    if (line.find("para-broker:v1:" + vault_id) == std::string::npos) continue;
    std::istringstream in(line);
    std::vector<std::string> f;
    for (std::string w; in >> w;) f.push_back(w);
    out.push_back(f);
  }
  return out;
}

TEST(VaultIntegrity, APlantedCachedKeyIsNotTrusted) {
  test::TestEnv env;
  env.set_env("PARA_BROKER_PASSPHRASE", "correct horse battery test");
  env.set_env("PARA_BROKER_KEY_CACHE_TTL", "60");
  ASSERT_EQ(env.cli({"vault", "init", "--passphrase"}).exit_code, 0);
  import(env, "a", "alice@example.com", k_early, "work");
  auto keys = cached_keys(vault_id_of(env));
  ASSERT_EQ(keys.size(), 1u) << "the kernel keyring holds no cached key";
  // Ours: same uid may view, read and search it, not change its timeout or permissions.
  const unsigned long perm = std::stoul(keys[0][4], nullptr, 16);
  EXPECT_EQ(perm & KEY_USR_SETATTR, 0u) << keys[0][4];
  // Another process of this uid replaces it with a key of its own.
  std::string description = keys[0][8];
  description.pop_back();  // "…:<digest>:" in /proc/keys
  const key_serial_t real = static_cast<key_serial_t>(std::stoul(keys[0][0], nullptr, 16));
  ASSERT_EQ(keyctl_revoke(real), 0);
  const std::string planted(32, 'P');
  key_serial_t id = add_key("user", description.c_str(), planted.data(), planted.size(), KEY_SPEC_USER_KEYRING);
  ASSERT_GE(id, 0);
  keyctl_set_timeout(id, 60);
  keyctl_setperm(id, KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ | KEY_USR_SEARCH);
  auto l = env.cli({"list"});
  EXPECT_EQ(l.exit_code, 0) << l.err;
  EXPECT_NE(l.out.find("work"), std::string::npos) << l.out;
  // With a wrong passphrase the planted key does not unlock anything either.
  keyctl_revoke(id);
  id = add_key("user", description.c_str(), planted.data(), planted.size(), KEY_SPEC_USER_KEYRING);
  keyctl_set_timeout(id, 60);
  keyctl_setperm(id, KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ | KEY_USR_SEARCH);
  env.set_env("PARA_BROKER_PASSPHRASE", "wrong-test-passphrase");
  EXPECT_EQ(env.cli({"list"}).exit_code, 4);
  keyctl_revoke(id);
}

// ---- finding 4: a KDF that costs, a passphrase that protects

TEST(VaultIntegrity, NewPassphraseVaultsUseAStrongerKdfAndShortPassphrasesAreRefused) {
  test::TestEnv env;
  env.set_env("PARA_BROKER_KEY_CACHE_TTL", "0");
  env.set_env("PARA_BROKER_PASSPHRASE", "short");
  auto r = env.cli({"vault", "init", "--passphrase"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_NE(r.err.find("at least 12 characters"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(env.vault_home() / "vault.json"));
  env.set_env("PARA_BROKER_PASSPHRASE", "correct horse battery test");
  ASSERT_EQ(env.cli({"vault", "init", "--passphrase"}).exit_code, 0);
  const std::string header = slurp(env.vault_home() / "vault.json");
  EXPECT_NE(header.find("\"n\": 131072"), std::string::npos) << header;
}

// ---- finding 5: no core file of a process that holds keys

TEST(VaultIntegrity, TheBrokerLeavesNoCoreFile) {
  test::TestEnv env;
  ASSERT_EQ(env.cli({"vault", "init"}).exit_code, 0);
  // Children inherit the limit: raise the soft one, so that only para-broker's own setting can lower it.
  rlimit core{};
  ASSERT_EQ(::getrlimit(RLIMIT_CORE, &core), 0);
  core.rlim_cur = core.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_CORE, &core), 0);
  ASSERT_NE(core.rlim_cur, 0u) << "the hard core-file limit of this test is 0: it cannot tell";
  // Hold the store lock, so that a `list` waits on it where we can look at it.
  auto lock = FileLock::acquire(env.vault_home() / ".store.lock", FileLock::Mode::exclusive);
  ASSERT_TRUE(lock.ok());
  test::CommandResult listed;
  std::thread t([&] { listed = env.cli({"list"}); });
  std::string limits;
  const std::string mark = "PARA_BROKER_HOME=" + env.vault_home().string();
  // The process may be found before it runs its own start-up (a sanitizer's
  // runtime starts slowly): look again until it waits on the lock with its
  // limit lowered, or give up after a while and judge the last look.
  // (A sanitizer's runtime lowers the soft limit itself at start: both must be 0.)
  auto lowered = [](const std::string& l) {
    std::istringstream in(l);
    for (std::string line; std::getline(in, line);) {
      if (!line.starts_with("Max core file size")) continue;
      std::istringstream f(line.substr(18));
      std::string soft, hard;
      f >> soft >> hard;
      return soft == "0" && hard == "0";
    }
    return false;
  };
  for (int tries = 0; tries < 400 && !lowered(limits); ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    for (const auto& p : fs::directory_iterator("/proc")) {
      const std::string environ = slurp(p.path() / "environ");
      if (environ.find(mark + '\0') == std::string::npos) continue;
      if (slurp(p.path() / "cmdline").find("list") == std::string::npos) continue;
      if (auto l = slurp(p.path() / "limits"); !l.empty()) limits = l;
    }
  }
  { auto release = std::move(*lock); }
  t.join();
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  ASSERT_FALSE(limits.empty()) << "the waiting para-broker was not found";
  std::istringstream in(limits);
  bool seen = false;
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("Max core file size")) continue;
    std::istringstream f(line.substr(18));
    std::string soft, hard;
    f >> soft >> hard;
    EXPECT_EQ(soft, "0") << line;
    EXPECT_EQ(hard, "0") << line;
    seen = true;
  }
  EXPECT_TRUE(seen) << limits;
}

// ---- finding 6: parents are checked as OpenSSH's StrictModes does

TEST(VaultIntegrity, ParentsOthersCanWriteAreRefused) {
  test::TestEnv env;
  const fs::path open = env.root() / "open";
  fs::create_directories(open);
  fs::permissions(open, fs::perms::all, fs::perm_options::replace);  // 0777, not sticky
  env.set_env("PARA_BROKER_HOME", (open / "vault").string());
  auto r = env.cli({"vault", "init"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_NE(r.err.find("chmod go-w " + open.string()), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(open / "vault" / "vault.json"));

  // A symlink on the way that leads into such a directory.
  fs::create_directory_symlink(open, env.root() / "link");
  env.set_env("PARA_BROKER_HOME", (env.root() / "link" / "vault").string());
  EXPECT_EQ(env.cli({"vault", "init"}).exit_code, 7);

  // A key file in a directory others can write.
  env.set_env("PARA_BROKER_HOME", (env.root() / "vault").string());
  env.set_env("PARA_BROKER_KEY_FILE", (open / "vault.key").string());
  EXPECT_EQ(env.cli({"vault", "init"}).exit_code, 7);

  // An existing vault whose parent became writable by others is refused on every open.
  env.set_env("PARA_BROKER_KEY_FILE", env.key_file().string());
  ASSERT_EQ(env.cli({"vault", "init"}).exit_code, 0);
  fs::permissions(env.root(), fs::perms::group_write, fs::perm_options::add);
  EXPECT_EQ(env.cli({"list"}).exit_code, 7);
  fs::permissions(env.root(), fs::perms::group_write, fs::perm_options::remove);
  EXPECT_EQ(env.cli({"list"}).exit_code, 0);
}

TEST(VaultIntegrity, ARootStickyDirectoryLikeTmpIsAcceptedAboveAPrivateOne) {
  test::TestEnv env;
  const fs::path shared = env.root() / "shared";
  fs::create_directories(shared);
  fs::permissions(shared, fs::perms::all | fs::perms::sticky_bit, fs::perm_options::replace);
  env.set_env("PARA_BROKER_HOME", (shared / "me" / "vault").string());
  env.set_env("PARA_BROKER_KEY_FILE", (shared / "me" / "config" / "vault.key").string());
  fs::create_directories(shared / "me");
  fs::permissions(shared / "me", fs::perms::owner_all, fs::perm_options::replace);
  auto r = env.cli({"vault", "init"});
  EXPECT_EQ(r.exit_code, ::geteuid() == 0 ? 0 : 7) << r.err;  // sticky, but not root's: refused
  // Not as the key file's own directory.
  env.set_env("PARA_BROKER_HOME", (shared / "me" / "vault2").string());
  env.set_env("PARA_BROKER_KEY_FILE", (shared / "vault.key").string());
  EXPECT_EQ(env.cli({"vault", "init"}).exit_code, 7);
}

}  // namespace
}  // namespace pb
