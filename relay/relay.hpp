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
// Output: one line on the log per copy, refusal and failure, never a secret,
// and one once the start-up copies are done and every directory is watched:
//   relay: watching /relay/0 (0:0), /relay/1 (1234:1234)
//   relay: /relay/0 -> /relay/1 (expires 2026-12-06T15:00:00Z)
//   relay: /relay/2: refused: its expiresAt is more than 24 hours away
// A directory's refusal is said once until its file changes to another
// refusal or to an acceptable login (a session rewriting a bad file in a
// loop does not flood the log).

#include <cstdint>
#include <functional>
#include <ostream>
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

class Relay {
 public:
  using Clock = std::function<std::int64_t()>;  ///< now, in ms since the epoch

  Relay(std::vector<LoginDir> dirs, std::string account_uuid, Clock now_ms, std::ostream& log);

  /// Copies the newest acceptable login into every directory whose login is older.
  void reconcile();
  /// Directory `index`'s .credentials.json changed: judges it and copies it onward.
  void changed(std::size_t index);

  /// Watches the directories (inotify), reconciles, then reacts to events
  /// until `stop_fd` becomes readable (a signalfd, or a pipe in tests);
  /// re-checks every `recheck_ms`. Returns the exit code: 0 when stopped, 1
  /// when inotify fails or no directory is left to serve.
  int run(int stop_fd, int recheck_ms = k_recheck_ms);

  const std::vector<LoginDir>& dirs() const noexcept { return m_dirs; }

 private:
  Judgement judge(const FileRead& r) const;
  void propagate(std::size_t from, const Login& login);
  void copy_into(std::size_t from, std::size_t to, const Login& login);
  void note_refusal(std::size_t index, const std::string& reason);
  void say(const std::string& line);

  std::vector<LoginDir> m_dirs;
  std::string m_account_uuid;
  Clock m_now;
  std::ostream& m_log;
  std::vector<std::string> m_last_refusal;  ///< per directory: the refusal said last, or empty
  std::vector<bool> m_active;               ///< per directory: still served (its path could be opened)
};

/// The executable's whole life: arguments, signals, directories, run().
int run(int argc, char** argv);

}  // namespace pb::relay
