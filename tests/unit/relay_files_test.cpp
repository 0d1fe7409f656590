// relay/login_dir and relay/relay on real directories (the test runs as root,
// so owners can be set): reconcile, in-place and rename updates through the
// inotify loop, every hostile file a session could put in its own login
// volume, and the executable itself (arguments, SIGTERM, no token in its
// output).

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>  // renameat2, RENAME_EXCHANGE
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "relay/login_dir.hpp"
#include "relay/relay.hpp"

extern char** environ;

namespace pb::relay {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr std::int64_t k_hour = 3'600'000;
constexpr const char* k_canary = "CANARY-relay-7f3a";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json login(const std::string& tag, std::int64_t expires) {
  return {{"claudeAiOauth",
           {{"accessToken", std::string("sk-ant-oat01-") + k_canary + "-" + tag},
            {"refreshToken", std::string("sk-ant-ort01-") + k_canary + "-" + tag},
            {"expiresAt", expires},
            {"scopes", {"user:inference"}},
            {"subscriptionType", "max"}}}};
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Writes `text` to `p` the way Claude Code 2.x does: a temp file renamed over.
void write_by_rename(const fs::path& p, const std::string& text, uid_t uid, gid_t gid) {
  const fs::path tmp = p.string() + ".tmp-writer";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
  }
  ASSERT_EQ(chown(tmp.c_str(), uid, gid), 0);
  ASSERT_EQ(chmod(tmp.c_str(), 0600), 0);
  fs::rename(tmp, p);
}

/// Writes `text` into `p` the way Claude Code 1.0.x does: open O_TRUNC, write, close.
void write_in_place(const fs::path& p, const std::string& text) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fd);
}

std::string access_token(const fs::path& p) {
  auto j = json::parse(read_file(p), nullptr, false);
  if (!j.is_object() || !j.contains("claudeAiOauth")) return {};
  return j["claudeAiOauth"].value("accessToken", "");
}

class RelayFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "the relay's file tests set owners: run them as root";
    std::random_device rd;
    root = fs::temp_directory_path() / ("pb-relay-test-" + std::to_string(rd()));
    for (const char* d : {"a", "b", "c"}) fs::create_directories(root / d);
    ASSERT_EQ(chown((root / "b").c_str(), 1234, 1234), 0);
    ASSERT_EQ(chown((root / "c").c_str(), 1001, 1002), 0);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root, ec);
  }

  fs::path dir(const char* d) const { return root / d; }
  fs::path creds(const char* d) const { return root / d / k_credentials_file; }

  std::vector<LoginDir> open_dirs() {
    std::vector<LoginDir> dirs;
    const std::pair<const char*, std::pair<uid_t, gid_t>> specs[] = {
        {"a", {0, 0}}, {"b", {1234, 1234}}, {"c", {1001, 1002}}};
    for (const auto& [name, owner] : specs) {
      auto d = LoginDir::open(dir(name).string(), owner.first, owner.second);
      EXPECT_TRUE(d) << d.error().message;
      dirs.push_back(std::move(*d));
    }
    return dirs;
  }

  void expect_owner(const char* d, uid_t uid, gid_t gid) {
    struct stat st {};
    ASSERT_EQ(lstat(creds(d).c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_uid, uid);
    EXPECT_EQ(st.st_gid, gid);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
  }

  /// No temp file of the relay's is left in any directory.
  void expect_no_temp_files() {
    for (const char* d : {"a", "b", "c"})
      for (const auto& e : fs::directory_iterator(dir(d)))
        EXPECT_EQ(e.path().filename().string().find(".relay-"), std::string::npos) << e.path();
  }

  fs::path root;
  std::ostringstream log;
};

TEST_F(RelayFiles, ReadsOnlyASingleLinkedRegularFile) {
  auto dirs = open_dirs();
  EXPECT_EQ(dirs[0].read().status, FileRead::Status::absent);
  write_in_place(creds("a"), "{}");
  auto r = dirs[0].read();
  EXPECT_EQ(r.status, FileRead::Status::ok);
  EXPECT_EQ(r.text.str(), "{}");

  // A hardlink to another file: not a login, whichever name is read.
  write_in_place(dir("b") / "elsewhere", login("x", now_ms()).dump());
  ASSERT_EQ(link((dir("b") / "elsewhere").c_str(), creds("b").c_str()), 0);
  EXPECT_EQ(dirs[1].read().reason, "it has more than one link");
  fs::remove(creds("b"));

  // A symbolic link, even to a genuine login next to it.
  fs::create_symlink(dir("b") / "elsewhere", creds("b"));
  EXPECT_EQ(dirs[1].read().reason, "it is a symbolic link");
  fs::remove(creds("b"));

  // A FIFO: refused without blocking (nobody writes to it).
  ASSERT_EQ(mkfifo(creds("b").c_str(), 0600), 0);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(dirs[1].read().reason, "it is not a regular file");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  fs::remove(creds("b"));

  // A device (/dev/zero's numbers: it would read forever), a directory.
  ASSERT_EQ(mknod(creds("b").c_str(), S_IFCHR | 0600, makedev(1, 5)), 0);
  EXPECT_EQ(dirs[1].read().reason, "it is not a regular file");
  fs::remove(creds("b"));
  fs::create_directory(creds("b"));
  EXPECT_EQ(dirs[1].read().reason, "it is not a regular file");
  fs::remove(creds("b"));

  // Larger than 64 KiB.
  write_in_place(creds("b"), std::string(k_max_file_size + 1, ' '));
  EXPECT_EQ(dirs[1].read().reason, "it is larger than 64 KiB");
}

TEST_F(RelayFiles, OpensADirectoryButNotALinkToOne) {
  fs::create_directory_symlink(dir("a"), root / "link");
  EXPECT_FALSE(LoginDir::open((root / "link").string(), 0, 0));
  EXPECT_FALSE(LoginDir::open((root / "missing").string(), 0, 0));
  write_in_place(root / "file", "x");
  EXPECT_FALSE(LoginDir::open((root / "file").string(), 0, 0));
}

TEST_F(RelayFiles, ReplaceSetsOwnerAndModeAndPutsNothingOverAChangedFile) {
  auto dirs = open_dirs();
  write_by_rename(creds("b"), "old", 1234, 1234);
  const auto judged = dirs[1].read();
  auto done = dirs[1].replace("new", judged);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_TRUE(*done);
  EXPECT_EQ(read_file(creds("b")), "new");
  expect_owner("b", 1234, 1234);

  // The target's session rewrote it after the relay read it: nothing is put over it.
  const auto stale = dirs[1].read();
  write_in_place(creds("b"), "the session's own");
  done = dirs[1].replace("relay's", stale);
  ASSERT_TRUE(done);
  EXPECT_FALSE(*done);
  EXPECT_EQ(read_file(creds("b")), "the session's own");

  // A symbolic link in its place is replaced, not followed.
  write_in_place(root / "outside", "outside");
  fs::remove(creds("c"));
  fs::create_symlink(root / "outside", creds("c"));
  done = dirs[2].replace("copied", dirs[2].read());
  ASSERT_TRUE(done);
  EXPECT_TRUE(*done);
  EXPECT_EQ(read_file(root / "outside"), "outside");
  EXPECT_FALSE(fs::is_symlink(creds("c")));
  expect_owner("c", 1001, 1002);
  expect_no_temp_files();
}

TEST_F(RelayFiles, ReconcileCopiesTheNewestLoginIntoEveryOlderOne) {
  const auto t = now_ms();
  json a = login("a", t + k_hour);
  a["mcpOAuth"] = {{"a-server", {{"accessToken", "a-mcp"}}}};
  json b = login("b", t + 2 * k_hour);
  b["mcpOAuth"] = {{"b-server", {{"accessToken", "b-mcp"}}}};
  b["plantedKey"] = "from b";
  write_by_rename(creds("a"), a.dump(), 0, 0);
  write_by_rename(creds("b"), b.dump(), 1234, 1234);
  // c has no login yet.
  Relay relay(open_dirs(), "", nullptr, log);
  relay.reconcile();

  for (const char* d : {"a", "c"}) EXPECT_EQ(access_token(creds(d)), b["claudeAiOauth"]["accessToken"]) << d;
  const auto out_a = json::parse(read_file(creds("a")));
  EXPECT_EQ(out_a["mcpOAuth"], a["mcpOAuth"]);  // a keeps its own
  EXPECT_FALSE(out_a.contains("plantedKey"));
  const auto out_c = json::parse(read_file(creds("c")));
  EXPECT_EQ(out_c.size(), 1u);  // nothing but the login
  EXPECT_EQ(read_file(creds("b")), b.dump());
  expect_owner("a", 0, 0);
  expect_owner("c", 1001, 1002);
  expect_no_temp_files();
  const std::string dir_b = dir("b").string();
  EXPECT_NE(log.str().find("relay: " + dir_b + " -> " + dir("a").string() + " (expires "), std::string::npos)
      << log.str();
  EXPECT_NE(log.str().find("relay: " + dir_b + " -> " + dir("c").string() + " (expires "), std::string::npos);
  // a's own login had not expired: a planted replay could be behind such a copy, so it is said.
  EXPECT_NE(log.str().find("relay: " + dir("a").string() + ": its unexpired login (expires "), std::string::npos)
      << log.str();
  EXPECT_EQ(log.str().find("relay: " + dir("c").string() + ": its unexpired"), std::string::npos) << log.str();
  EXPECT_EQ(log.str().find(k_canary), std::string::npos) << log.str();

  // A second reconcile has nothing to do.
  log.str("");
  relay.reconcile();
  EXPECT_EQ(log.str(), "");
}

TEST_F(RelayFiles, HostileFilesAreNeitherCopiedNorStopTheRelay) {
  const auto t = now_ms();
  const json a = login("a", t + k_hour);
  write_by_rename(creds("a"), a.dump(), 0, 0);
  write_by_rename(creds("c"), a.dump(), 1001, 1002);
  // A clock the test moves on, past the interval between two refusal lines of one directory.
  std::int64_t clock = t;
  Relay relay(
      open_dirs(), "00000000-0000-4000-8000-0000000000a1", [&clock] { return clock; }, log);
  auto expect_unchanged = [&](const std::string& what) {
    clock += k_log_interval_ms;
    relay.changed(1);
    relay.reconcile();
    EXPECT_EQ(read_file(creds("a")), a.dump()) << what;
    EXPECT_EQ(read_file(creds("c")), a.dump()) << what;
  };

  // A far expiry.
  write_by_rename(creds("b"), login("far", t + 25 * k_hour).dump(), 1234, 1234);
  expect_unchanged("far expiry");
  // Another account.
  json other = login("other", t + 2 * k_hour);
  other["claudeAiOauth"]["accountUuid"] = "00000000-0000-4000-8000-0000000000b2";
  write_by_rename(creds("b"), other.dump(), 1234, 1234);
  expect_unchanged("another account");
  // A symbolic link to a newer login; a hardlink to one.
  write_in_place(dir("b") / "newer", login("newer", t + 2 * k_hour).dump());
  fs::remove(creds("b"));
  fs::create_symlink(dir("b") / "newer", creds("b"));
  expect_unchanged("symlink");
  fs::remove(creds("b"));
  ASSERT_EQ(link((dir("b") / "newer").c_str(), creds("b").c_str()), 0);
  expect_unchanged("hardlink");
  fs::remove(creds("b"));
  // A FIFO and a torn (empty) file.
  ASSERT_EQ(mkfifo(creds("b").c_str(), 0600), 0);
  expect_unchanged("fifo");
  fs::remove(creds("b"));
  write_in_place(creds("b"), "");
  expect_unchanged("empty");

  const std::string b_refused = "relay: " + dir("b").string() + ": refused: ";
  for (const char* reason :
       {"its expiresAt is more than 24 hours away", "its accountUuid names another account", "it is a symbolic link",
        "it has more than one link", "it is not a regular file", "it is empty (being rewritten?)"})
    EXPECT_NE(log.str().find(b_refused + reason + "\n"), std::string::npos) << reason << "\n" << log.str();
  // Each refusal is said once, though judged twice.
  EXPECT_EQ(log.str().find(b_refused + "it is a symbolic link"), log.str().rfind(b_refused + "it is a symbolic link"));
  EXPECT_EQ(log.str().find(k_canary), std::string::npos);

  // A genuine refresh after all that goes through, and a foreign key in it stays behind.
  json genuine = login("genuine", t + 2 * k_hour);
  genuine["mcpOAuth"] = {{"planted", {{"accessToken", "x"}}}};
  write_by_rename(creds("b"), genuine.dump(), 1234, 1234);
  relay.changed(1);
  for (const char* d : {"a", "c"}) {
    const auto out = json::parse(read_file(creds(d)));
    EXPECT_EQ(out["claudeAiOauth"]["accessToken"], genuine["claudeAiOauth"]["accessToken"]) << d;
    EXPECT_FALSE(out.contains("mcpOAuth")) << d;
  }
}

TEST_F(RelayFiles, APoisonedTargetGetsTheLoginAndKeepsItsKeysAnUnreadableOneIsLeftAlone) {
  const auto t = now_ms();
  const std::string ta = login("a", 0)["claudeAiOauth"]["accessToken"];
  const json mcp = {{"server", {{"accessToken", "b-mcp"}}}};
  write_by_rename(creds("a"), login("a", t + k_hour).dump(), 0, 0);
  json far = login("far", t + 48 * k_hour);
  far["mcpOAuth"] = mcp;
  write_by_rename(creds("b"), far.dump(), 1234, 1234);
  ASSERT_EQ(mkfifo(creds("c").c_str(), 0600), 0);
  Relay relay(open_dirs(), "", nullptr, log);
  relay.reconcile();
  // A JSON object whose login is refused: the login is replaced, the other keys stay.
  EXPECT_EQ(access_token(creds("b")), ta);
  EXPECT_EQ(json::parse(read_file(creds("b")))["mcpOAuth"], mcp);
  expect_owner("b", 1234, 1234);
  // Not a regular file: left alone.
  EXPECT_TRUE(fs::is_fifo(creds("c")));
  fs::remove(creds("c"));

  // 1.0.x rewriting c in place, read half written: left alone, not rebuilt from {} without its keys.
  json c = login("c", t - k_hour);
  c["mcpOAuth"] = mcp;
  const std::string half = c.dump().substr(0, c.dump().size() / 2);
  write_by_rename(creds("c"), half, 1001, 1002);
  relay.reconcile();
  EXPECT_EQ(read_file(creds("c")), half);
  write_in_place(creds("c"), "");
  relay.reconcile();
  EXPECT_EQ(read_file(creds("c")), "");
  // Its writer finished: an expired login of its own, which is replaced with the keys kept.
  write_in_place(creds("c"), c.dump());
  relay.reconcile();
  EXPECT_EQ(access_token(creds("c")), ta);
  EXPECT_EQ(json::parse(read_file(creds("c")))["mcpOAuth"], mcp);
  // A refused login in an object (a type the relay does not copy): replaced, keys kept.
  c["claudeAiOauth"]["isMax"] = "yes";
  write_in_place(creds("c"), c.dump());
  relay.reconcile();
  EXPECT_EQ(access_token(creds("c")), ta);
  EXPECT_EQ(json::parse(read_file(creds("c")))["mcpOAuth"], mcp);
  // No file at all: a fresh one.
  fs::remove(creds("c"));
  relay.reconcile();
  EXPECT_EQ(access_token(creds("c")), ta);
  expect_owner("c", 1001, 1002);
  EXPECT_EQ(log.str().find(k_canary), std::string::npos) << log.str();
}

TEST_F(RelayFiles, ACopyThatWouldOutgrowTheReadLimitIsNotWritten) {
  const auto t = now_ms();
  // b's login is as large as the rules allow; c keeps 60 KiB of keys of its own.
  json b = login("b", t + 2 * k_hour);
  b["claudeAiOauth"]["accessToken"] = "sk-ant-oat01-" + std::string(8000, 'A');
  b["claudeAiOauth"]["refreshToken"] = "sk-ant-ort01-" + std::string(8000, 'R');
  write_by_rename(creds("b"), b.dump(), 1234, 1234);
  json c = login("c", t + k_hour);
  c["mcpOAuth"] = {{"server", {{"accessToken", std::string(60 * 1024, 'm')}}}};
  ASSERT_LE(c.dump().size(), k_max_file_size);
  write_by_rename(creds("c"), c.dump(), 1001, 1002);
  std::int64_t clock = t;
  Relay relay(
      open_dirs(), "", [&clock] { return clock; }, log);
  for (int i = 0; i < 3; ++i, clock += k_log_interval_ms) relay.reconcile();
  // Written, c could not be read back and would lose its keys at the next copy: c keeps its own file.
  EXPECT_EQ(read_file(creds("c")), c.dump());
  EXPECT_EQ(access_token(creds("a")), b["claudeAiOauth"]["accessToken"]);
  EXPECT_NE(log.str().find("relay: " + dir("b").string() + " -> " + dir("c").string() +
                           ": not copied: the target's file would be larger than 64 KiB"),
            std::string::npos)
      << log.str();
}

TEST_F(RelayFiles, RefusalsAreSaidOncePerReasonAndAtMostOncePerIntervalPerDirectory) {
  const auto t = now_ms();
  write_by_rename(creds("a"), login("a", t + k_hour).dump(), 0, 0);
  std::int64_t clock = t;
  Relay relay(
      open_dirs(), "", [&clock] { return clock; }, log);
  relay.reconcile();
  log.str("");
  const std::string b_refused = "relay: " + dir("b").string() + ": refused: ";
  auto count = [&](const std::string& what) {
    std::size_t n = 0;
    for (auto at = log.str().find(what); at != std::string::npos; at = log.str().find(what, at + 1)) ++n;
    return n;
  };
  // A session alternating two bad files, fast: the first is said, the second held back, then neither again.
  for (int i = 0; i < 200; ++i) {
    write_in_place(creds("b"), i % 2 == 0 ? "garbage" : "");
    relay.changed(1);
    clock += 10;
  }
  EXPECT_EQ(count(b_refused), 1u) << log.str();
  // A third reason, once the interval is over: said, with the count of what was held back.
  clock += k_log_interval_ms;
  write_in_place(creds("b"), "[]");
  relay.changed(1);
  EXPECT_NE(log.str().find(b_refused + "it is not a JSON object (1 more suppressed)\n"), std::string::npos)
      << log.str();
  // Long after, the reasons already seen are still not said again ...
  clock += 100 * k_log_interval_ms;
  for (const char* bad : {"garbage", "", "[]"}) {
    write_in_place(creds("b"), bad);
    relay.changed(1);
  }
  EXPECT_EQ(count(b_refused), 2u) << log.str();
  // ... until an acceptable login comes from that directory.
  write_in_place(creds("b"), login("b", t + 2 * k_hour).dump());
  relay.changed(1);
  write_in_place(creds("b"), "garbage");
  relay.changed(1);
  EXPECT_EQ(count(b_refused), 3u) << log.str();
  // Another directory's lines are counted on their own.
  write_in_place(creds("c"), "garbage");
  relay.changed(2);
  EXPECT_EQ(count("relay: " + dir("c").string() + ": refused: "), 1u) << log.str();
}

/// Runs a Relay's loop on a thread until stop() (a pipe as its stop descriptor).
class LoopRunner {
 public:
  LoopRunner(Relay& relay, int recheck_ms = k_recheck_ms, int coalesce_ms = k_coalesce_ms) {
    if (pipe2(m_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    m_thread =
        std::thread([this, &relay, recheck_ms, coalesce_ms] { m_rc = relay.run(m_pipe[0], recheck_ms, coalesce_ms); });
  }
  ~LoopRunner() {
    stop();
    ::close(m_pipe[0]);
  }
  int stop() {
    if (m_thread.joinable()) {
      [[maybe_unused]] auto n = ::write(m_pipe[1], "x", 1);
      m_thread.join();
      ::close(m_pipe[1]);
    }
    return m_rc;
  }

 private:
  int m_pipe[2] = {-1, -1};
  std::thread m_thread;
  int m_rc = -1;
};

/// Waits up to `limit` for `p` to hold the access token `want`.
bool wait_for_token(const fs::path& p, const std::string& want, std::chrono::milliseconds limit = 2000ms) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (access_token(p) == want) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

TEST_F(RelayFiles, TheLoopCopiesRenamedAndRewrittenLogins) {
  const auto t = now_ms();
  write_by_rename(creds("a"), login("a", t + k_hour).dump(), 0, 0);
  write_by_rename(creds("b"), login("b", t + 2 * k_hour).dump(), 1234, 1234);
  std::ostringstream loop_log;
  Relay relay(open_dirs(), "", nullptr, loop_log);
  LoopRunner loop(relay);
  // Start-up reconciles.
  const std::string tb = login("b", 0)["claudeAiOauth"]["accessToken"];
  EXPECT_TRUE(wait_for_token(creds("a"), tb));
  EXPECT_TRUE(wait_for_token(creds("c"), tb));

  // 2.x: renamed into place in c.
  const json renamed = login("renamed", t + 3 * k_hour);
  write_by_rename(creds("c"), renamed.dump(), 1001, 1002);
  EXPECT_TRUE(wait_for_token(creds("a"), renamed["claudeAiOauth"]["accessToken"]));
  EXPECT_TRUE(wait_for_token(creds("b"), renamed["claudeAiOauth"]["accessToken"]));

  // 1.0.x: rewritten in place in b.
  const json in_place = login("in-place", t + 4 * k_hour);
  write_in_place(creds("b"), in_place.dump());
  EXPECT_TRUE(wait_for_token(creds("a"), in_place["claudeAiOauth"]["accessToken"]));
  EXPECT_TRUE(wait_for_token(creds("c"), in_place["claudeAiOauth"]["accessToken"]));

  // An older login renamed into a is not copied (and a keeps it: it is a's own).
  write_by_rename(creds("a"), login("older", t + k_hour).dump(), 0, 0);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(access_token(creds("b")), in_place["claudeAiOauth"]["accessToken"]);
  EXPECT_EQ(access_token(creds("c")), in_place["claudeAiOauth"]["accessToken"]);

  EXPECT_EQ(loop.stop(), 0);
  expect_owner("a", 0, 0);
  expect_owner("b", 1234, 1234);
  expect_owner("c", 1001, 1002);
  expect_no_temp_files();
  EXPECT_EQ(loop_log.str().find(k_canary), std::string::npos) << loop_log.str();
}

TEST_F(RelayFiles, TheLoopServesADirectoryThatWasReplaced) {
  const auto t = now_ms();
  write_by_rename(creds("a"), login("a", t + k_hour).dump(), 0, 0);
  std::ostringstream loop_log;
  Relay relay(open_dirs(), "", nullptr, loop_log);
  LoopRunner loop(relay);
  const std::string ta = login("a", 0)["claudeAiOauth"]["accessToken"];
  ASSERT_TRUE(wait_for_token(creds("c"), ta));

  // A new directory takes c's path, in one step (renameat2's exchange; two
  // renames would leave a moment without c, when the relay may look and find
  // it gone): the relay serves the new one.
  fs::create_directory(root / "c-old");
  ASSERT_EQ(::renameat2(AT_FDCWD, dir("c").c_str(), AT_FDCWD, (root / "c-old").c_str(), RENAME_EXCHANGE), 0)
      << std::strerror(errno);
  EXPECT_TRUE(wait_for_token(creds("c"), ta)) << loop_log.str();
  expect_owner("c", 1001, 1002);
  const json newer = login("newer", t + 2 * k_hour);
  write_by_rename(creds("c"), newer.dump(), 1001, 1002);
  EXPECT_TRUE(wait_for_token(creds("a"), newer["claudeAiOauth"]["accessToken"])) << loop_log.str();
  // The old directory is no longer written.
  EXPECT_EQ(access_token(root / "c-old" / k_credentials_file), ta);
  EXPECT_EQ(loop.stop(), 0);
  EXPECT_NE(loop_log.str().find("the directory was replaced"), std::string::npos) << loop_log.str();
}

TEST_F(RelayFiles, TempFilesAKilledRelayLeftAreRemovedAtStart) {
  const auto t = now_ms();
  write_by_rename(creds("a"), login("a", t + k_hour).dump(), 0, 0);
  const fs::path left = dir("b") / ".credentials.json.relay-0123456789abcdef";
  write_in_place(left, login("left", t + k_hour).dump());
  std::ostringstream loop_log;
  {
    Relay relay(open_dirs(), "", nullptr, loop_log);
    LoopRunner loop(relay);
    ASSERT_TRUE(wait_for_token(creds("b"), login("a", 0)["claudeAiOauth"]["accessToken"]));
    EXPECT_EQ(loop.stop(), 0);
  }
  EXPECT_FALSE(fs::exists(left)) << "a login in a temp file nobody renames";
  EXPECT_NE(loop_log.str().find(dir("b").string() + ": removed 1 temp file(s) a stopped relay left"), std::string::npos)
      << loop_log.str();
}

/// Puts `staging` in place of `target` by link(2), which inotify announces
/// only as IN_CREATE. The relay may give the directory a fresh file in the
/// moment between the removal and the link (it serves a directory without
/// one): then again.
bool link_in_place(const fs::path& staging, const fs::path& target) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    fs::remove(target);
    if (link(staging.c_str(), target.c_str()) == 0) {
      fs::remove(staging);
      return true;
    }
    if (errno != EEXIST) return false;
  }
  return false;
}

TEST_F(RelayFiles, TheReCheckFindsALoginNoEventAnnounced) {
  const auto t = now_ms();
  write_by_rename(creds("a"), login("a", t + k_hour).dump(), 0, 0);
  std::ostringstream loop_log;
  Relay relay(open_dirs(), "", nullptr, loop_log);
  LoopRunner loop(relay, 200);
  const std::string ta = login("a", 0)["claudeAiOauth"]["accessToken"];
  ASSERT_TRUE(wait_for_token(creds("b"), ta));
  // Put in place by link(2): inotify says IN_CREATE, which the relay does not act on; the re-check finds it.
  const json linked = login("linked", t + 2 * k_hour);
  write_in_place(dir("b") / "staging", linked.dump());
  ASSERT_TRUE(link_in_place(dir("b") / "staging", creds("b")));
  EXPECT_TRUE(wait_for_token(creds("a"), linked["claudeAiOauth"]["accessToken"])) << loop_log.str();
  // Events more often than the re-check do not put it off.
  write_in_place(dir("c") / "staging", login("c", t + 3 * k_hour).dump());
  ASSERT_TRUE(link_in_place(dir("c") / "staging", creds("c")));
  const auto end = std::chrono::steady_clock::now() + 2s;
  bool copied = false;
  for (int i = 0; std::chrono::steady_clock::now() < end && !copied; ++i) {
    write_in_place(dir("a") / "noise", std::to_string(i));  // an event every 20 ms, for another name
    std::this_thread::sleep_for(20ms);
    copied = access_token(creds("a")) == login("c", 0)["claudeAiOauth"]["accessToken"];
  }
  EXPECT_TRUE(copied) << loop_log.str();
  EXPECT_EQ(loop.stop(), 0);
}

TEST_F(RelayFiles, TheLoopCopiesFromOneSourceAboutOncePerSecondHoweverOftenItChanges) {
  const auto t = now_ms();
  write_by_rename(creds("a"), login("a", t + k_hour).dump(), 0, 0);
  std::ostringstream loop_log;
  // A clock that moves on by a log interval whenever it is read, so that every copy is said and can be counted.
  std::atomic<std::int64_t> clock{t};
  Relay relay(
      open_dirs(), "", [&clock] { return clock += k_log_interval_ms; }, loop_log);
  LoopRunner loop(relay);
  ASSERT_TRUE(wait_for_token(creds("b"), login("a", 0)["claudeAiOauth"]["accessToken"]));
  std::this_thread::sleep_for(std::chrono::milliseconds(k_coalesce_ms + 100));  // the start-up's windows are over

  // b's session rewrites its file 30 times in about three seconds, each a later login, each
  // after the relay copied the one before (unbounded, every one would be copied).
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 30; ++i) {
    write_by_rename(creds("b"), login("storm-" + std::to_string(i), t + 2 * k_hour + i).dump(), 1234, 1234);
    std::this_thread::sleep_for(100ms);
  }
  const auto storm_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  // The last one arrives, within a window of the storm's end.
  const std::string last = login("storm-29", 0)["claudeAiOauth"]["accessToken"];
  EXPECT_TRUE(wait_for_token(creds("a"), last, 3s)) << loop_log.str();
  EXPECT_TRUE(wait_for_token(creds("c"), last, 3s)) << loop_log.str();
  EXPECT_EQ(loop.stop(), 0);
  const std::string copy_line = "relay: " + dir("b").string() + " -> " + dir("a").string() + " (expires ";
  const std::string out = loop_log.str();
  int copies = 0;
  for (auto at = out.find(copy_line); at != std::string::npos; at = out.find(copy_line, at + 1)) ++copies;
  EXPECT_GE(copies, 2);
  EXPECT_LE(copies, storm_ms / k_coalesce_ms + 2) << "a storm of " << storm_ms << " ms\n" << out;
  expect_no_temp_files();
}

/// A relay that cannot watch directory c (as when inotify's watches run out).
class RelayThatCannotWatchC : public Relay {
 public:
  using Relay::Relay;

 protected:
  int add_watch(int inotify_fd, const char* path, std::uint32_t mask) override {
    if (std::string_view(path).ends_with("/c")) {
      errno = ENOSPC;
      return -1;
    }
    return Relay::add_watch(inotify_fd, path, mask);
  }
};

TEST_F(RelayFiles, ADirectoryThatCannotBeWatchedIsStillServedByTheReCheck) {
  const auto t = now_ms();
  write_by_rename(creds("a"), login("a", t + k_hour).dump(), 0, 0);
  std::ostringstream loop_log;
  RelayThatCannotWatchC relay(open_dirs(), "", nullptr, loop_log);
  LoopRunner loop(relay, 200);
  EXPECT_TRUE(wait_for_token(creds("c"), login("a", 0)["claudeAiOauth"]["accessToken"])) << loop_log.str();
  const json newer = login("newer", t + 2 * k_hour);
  write_by_rename(creds("c"), newer.dump(), 1001, 1002);
  EXPECT_TRUE(wait_for_token(creds("a"), newer["claudeAiOauth"]["accessToken"])) << loop_log.str();
  EXPECT_TRUE(wait_for_token(creds("b"), newer["claudeAiOauth"]["accessToken"])) << loop_log.str();
  EXPECT_EQ(loop.stop(), 0);
  EXPECT_NE(loop_log.str().find("relay: " + dir("c").string() +
                                ": cannot be watched (No space left on device); served by the re-check alone"),
            std::string::npos)
      << loop_log.str();
  EXPECT_EQ(loop_log.str().find("no longer served"), std::string::npos) << loop_log.str();
}

struct Spawned {
  pid_t pid = -1;
  fs::path err;
};

Spawned spawn_relay(const std::vector<std::string>& args, const fs::path& err) {
  std::vector<std::string> argv{PB_RELAY_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> p;
  for (auto& a : argv) p.push_back(a.data());
  p.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  Spawned s;
  s.err = err;
  if (posix_spawn(&s.pid, argv[0].c_str(), &fa, nullptr, p.data(), environ) != 0) s.pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return s;
}

int wait_exit(pid_t pid, std::chrono::seconds limit = 10s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(5ms);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST_F(RelayFiles, TheExecutableRefusesBadArgumentsWithUsage) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{},
                                               {dir("a").string() + ":0:0"},
                                               {"--bogus", "/a:0:0", "/b:0:0"},
                                               {dir("a").string() + ":0:0", dir("b").string() + ":4294967295:0"}}) {
    const auto err = root / "usage.txt";
    auto s = spawn_relay(args, err);
    ASSERT_GT(s.pid, 0);
    EXPECT_EQ(wait_exit(s.pid), 2);
    EXPECT_NE(read_file(err).find("usage: para-broker-relay"), std::string::npos) << read_file(err);
    fs::remove(err);
  }
  // A directory that is not there: exit 1, a sentence.
  auto s = spawn_relay({dir("a").string() + ":0:0", (root / "missing").string() + ":1:1"}, root / "missing.txt");
  EXPECT_EQ(wait_exit(s.pid), 1);
  EXPECT_NE(read_file(root / "missing.txt").find("cannot open the directory"), std::string::npos);
}

TEST_F(RelayFiles, TheExecutableRelaysAndExitsZeroOnSigtermWithoutPrintingAToken) {
  const auto t = now_ms();
  write_by_rename(creds("a"), login("a", t + k_hour).dump(), 0, 0);
  write_by_rename(creds("b"), login("far", t + 30 * k_hour).dump(), 1234, 1234);
  for (int sig : {SIGTERM, SIGINT}) {
    const auto err = root / ("relay-" + std::to_string(sig) + ".txt");
    auto s = spawn_relay(
        {dir("a").string() + ":0:0", dir("b").string() + ":1234:1234", dir("c").string() + ":1001:1002"}, err);
    ASSERT_GT(s.pid, 0);
    const std::string want = login(sig == SIGTERM ? "a" : "next", 0)["claudeAiOauth"]["accessToken"];
    if (sig == SIGTERM) {
      // No core file: a crash must not write its tokens to disk.
      std::this_thread::sleep_for(100ms);
      const std::string limits = read_file("/proc/" + std::to_string(s.pid) + "/limits");
      const auto at = limits.find("Max core file size");
      ASSERT_NE(at, std::string::npos) << limits;
      std::istringstream line(limits.substr(at + std::strlen("Max core file size")));
      std::string soft, hard;
      line >> soft >> hard;
      EXPECT_EQ(soft, "0");
      EXPECT_EQ(hard, "0");
    }
    if (sig == SIGINT) {
      std::this_thread::sleep_for(100ms);  // its watches are in place
      write_in_place(creds("c"), login("next", t + 2 * k_hour).dump());
      EXPECT_TRUE(wait_for_token(creds("a"), want));
    }
    EXPECT_TRUE(wait_for_token(creds("b"), want)) << read_file(err);
    EXPECT_TRUE(wait_for_token(creds("c"), want)) << read_file(err);
    kill(s.pid, sig);
    EXPECT_EQ(wait_exit(s.pid), 0) << read_file(err);
    const std::string out = read_file(err);
    EXPECT_NE(out.find("relay: " + dir("b").string() + ": refused: its expiresAt is more than 24 hours away"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find(" -> " + dir("b").string() + " (expires "), std::string::npos) << out;
    EXPECT_EQ(out.find(k_canary), std::string::npos) << out;
    EXPECT_EQ(out.find("sk-ant"), std::string::npos) << out;
    write_by_rename(creds("b"), login("far", t + 30 * k_hour).dump(), 1234, 1234);
  }
}

}  // namespace
}  // namespace pb::relay
