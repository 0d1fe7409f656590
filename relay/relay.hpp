#pragma once
// The relay: keeps every user's copy of one credential's login up to date
// (docs/dispatch.md, "What would close the gap across users"). At start it
// copies the newest acceptable login into every directory whose login is
// older; then, on every inotify event that says a directory's
// .credentials.json was written (IN_CLOSE_WRITE: Claude Code 1.0.x rewrites
// it in place) or renamed into place (IN_MOVED_TO: 2.x), it judges that file
// and copies it into every directory whose login is older. It never
// refreshes a token and never talks to anything but its directories.
//
// Output: lines on the log for copies, refusals and failures, never a secret,
// and one once the start-up copies are done and every directory is watched:
//   relay: watching /relay/0 (0:0), /relay/1 (1234:1234)
//   relay: /relay/0 -> /relay/1 (expires 2026-12-06T15:00:00Z)
//   relay: /relay/2: refused: its expiresAt is more than 24 hours away
//
// One user can write its own volume as fast as it likes, so the relay bounds
// what that costs everyone else:
//   - a directory's refusal is said once for every reason seen since that
//     directory's last accepted login, and a directory's refusals, the copies
//     into it and the notes about it each say at most one line per
//     k_log_interval_ms; the next line that is said counts the ones held back
//     ("(3 more suppressed)");
//   - once one directory's event led to a copy or a refusal, its next events
//     within k_coalesce_ms are handled when that window ends (the loop's poll
//     timeout, no busy loop): at most about one copy per second per source,
//     while genuine refreshes come hours apart (the event of the relay's own
//     copy into a directory starts no window there);
//   - a composed file larger than k_max_file_size is not written (the target
//     could not be read back); a target whose .credentials.json is present but
//     not a JSON object (a 1.0.x in-place rewrite read mid-write, garbage, a
//     FIFO) is left alone until its next event or re-check: only a directory
//     without the file gets a fresh one.
//
// What the relay does not prevent (docs/dispatch.md, the relay paragraph):
//   - --account-uuid catches only a login whose credentials carry accountUuid,
//     which Claude Code's .credentials.json normally does not; the account
//     lives in each session's .claude.json, which the relay does not see;
//   - a user of the credential can plant a replayed login whose expiresAt is
//     up to now + 24 hours: it wins over genuine refreshes for up to 16 hours
//     (the bound write-back has too). A re-check that overwrites an unexpired
//     login with another pair says so (rate-limited).
//
// How it is run: as root (it writes every user's volume), in a container with
// no more than --cap-drop ALL --cap-add CHOWN --cap-add DAC_OVERRIDE (it sets
// a temp file's mode before giving it away, so it needs no CAP_FOWNER),
// --network none, --read-only, --security-opt no-new-privileges and a capped
// log (--log-opt max-size=1m). At start it makes itself not dumpable
// (PR_SET_DUMPABLE 0) and sets RLIMIT_CORE to 0: a crash dumps no token.

#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "relay/login_dir.hpp"
#include "relay/rules.hpp"

namespace pb::relay {

/// How often the relay re-reads every directory without an event: a safety
/// net for events inotify cannot report (a login put in place by link(2),
/// volume drivers whose files change behind the kernel's back). A re-check is
/// a reconcile: a few reads of small files, a write only when a copy is older.
inline constexpr int k_recheck_ms = 60 * 1000;
/// The least time between two lines of one kind about one directory.
inline constexpr std::int64_t k_log_interval_ms = 10 * 1000;
/// The least time between two handlings of one directory's events.
inline constexpr int k_coalesce_ms = 1000;

class Relay {
 public:
  using Clock = std::function<std::int64_t()>;  ///< now, in ms since the epoch

  Relay(std::vector<LoginDir> dirs, std::string account_uuid, Clock now_ms, std::ostream& log);
  virtual ~Relay() = default;
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  /// Copies the newest acceptable login into every directory whose login is older.
  void reconcile();
  /// Directory `index`'s .credentials.json changed: judges it and copies it
  /// onward. Whether that was work: a refusal, or a copy written or tried.
  bool changed(std::size_t index);

  /// Watches the directories (inotify), reconciles, then reacts to events
  /// until `stop_fd` becomes readable (a signalfd, or a pipe in tests);
  /// re-checks every `recheck_ms` (a directory that could not be watched is
  /// served by the re-check alone, and its watch tried again), handles one
  /// directory's events at most once per `coalesce_ms`. Returns the exit code:
  /// 0 when stopped, 1 when inotify fails or no directory is left to serve.
  int run(int stop_fd, int recheck_ms = k_recheck_ms, int coalesce_ms = k_coalesce_ms);

  const std::vector<LoginDir>& dirs() const noexcept { return m_dirs; }

 protected:
  /// inotify_add_watch(2); a seam for tests.
  virtual int add_watch(int inotify_fd, const char* path, std::uint32_t mask);

 private:
  /// One kind of line about one directory: when it may be said next, and how many were held back.
  struct LineLimit {
    std::int64_t next_ms = 0;
    std::uint64_t suppressed = 0;
  };

  Judgement judge(const FileRead& r) const;
  bool propagate(std::size_t from, const Login& login, bool reconciling);
  bool copy_into(std::size_t from, std::size_t to, const Login& login, bool reconciling, std::vector<Fd>& unsynced);
  void accepted(std::size_t index);
  void note_refusal(std::size_t index, const std::string& reason);
  void say(const std::string& line);
  void say_limited(LineLimit& limit, std::string line);
  /// Watches directory `i` (see relay.cpp); false when it is not watched.
  bool watch(std::size_t i, bool quiet);
  bool any_active() const;
  /// Watches every directory, sweeps stale temp files and reconciles; false when nothing can be served.
  bool start();
  /// The safety net: directories that could not be opened or watched are tried again.
  void retry_unserved();
  /// Reads the pending inotify events: marks directories whose login changed
  /// (`pending`) or which were lost (`lost`); true on an overflow.
  bool drain_events(std::vector<bool>& pending, std::vector<bool>& lost);
  /// Serves the directory now at the path of each lost one; true when any was replaced.
  bool replace_lost(const std::vector<bool>& lost);

  std::vector<LoginDir> m_dirs;
  std::string m_account_uuid;
  Clock m_now;
  std::ostream& m_log;
  std::vector<std::set<std::string>> m_refusals;  ///< per directory: reasons seen since its last accepted login
  std::vector<LineLimit> m_refusal_lines;         ///< per directory: its refusals
  std::vector<LineLimit> m_copy_lines;            ///< per directory: copies into it (and their failures)
  std::vector<LineLimit> m_note_lines;            ///< per directory: unexpired logins overwritten
  std::vector<bool> m_active;                     ///< per directory: still served (its path could be opened)
  std::vector<bool> m_watched;  ///< per directory: inotify watches it (else the re-check alone serves it)
  Fd m_inotify;
  std::map<int, std::size_t> m_watch_dir;  ///< inotify watch descriptor -> directory
};

/// The executable's whole life: arguments, signals, directories, run().
int run(int argc, char** argv);

}  // namespace pb::relay
