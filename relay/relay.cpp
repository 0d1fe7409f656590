#include "relay/relay.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>

#include "relay/args.hpp"

namespace pb::relay {
namespace {

constexpr std::uint32_t k_file_events = IN_CLOSE_WRITE | IN_MOVED_TO;
// The directory itself going away (deleted, moved, unmounted): open it again.
constexpr std::uint32_t k_dir_events = IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED;
constexpr int k_copy_attempts = 3;

std::int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Relay::Relay(std::vector<LoginDir> dirs, std::string account_uuid, Clock now_ms, std::ostream& log)
    : m_dirs(std::move(dirs)),
      m_account_uuid(std::move(account_uuid)),
      m_now(now_ms ? std::move(now_ms) : Clock(system_now_ms)),
      m_log(log),
      m_refusals(m_dirs.size()),
      m_refusal_lines(m_dirs.size()),
      m_copy_lines(m_dirs.size()),
      m_note_lines(m_dirs.size()),
      m_active(m_dirs.size(), true),
      m_watched(m_dirs.size(), false) {}

int Relay::add_watch(int inotify_fd, const char* path, std::uint32_t mask) {
  return inotify_add_watch(inotify_fd, path, mask);
}

void Relay::say(const std::string& line) {
  m_log << "relay: " << line << '\n' << std::flush;
}

void Relay::say_limited(LineLimit& limit, std::string line) {
  const std::int64_t now = m_now();
  if (now < limit.next_ms) {
    ++limit.suppressed;
    return;
  }
  if (limit.suppressed != 0) line += " (" + std::to_string(limit.suppressed) + " more suppressed)";
  limit.suppressed = 0;
  limit.next_ms = now + k_log_interval_ms;
  say(line);
}

void Relay::accepted(std::size_t index) {
  m_refusals[index].clear();
}

void Relay::note_refusal(std::size_t index, const std::string& reason) {
  // The reasons are a few fixed phrases (and errno's texts): the set stays small.
  if (!m_refusals[index].insert(reason).second) return;
  say_limited(m_refusal_lines[index], m_dirs[index].path() + ": refused: " + reason);
}

Judgement Relay::judge(const FileRead& r) const {
  switch (r.status) {
    case FileRead::Status::ok:
      return judge_login(r.text.view(), m_now(), m_account_uuid);
    case FileRead::Status::absent:
      return Judgement{std::nullopt, "there is no " + std::string(k_credentials_file)};
    case FileRead::Status::refused:
      break;
  }
  return Judgement{std::nullopt, r.reason};
}

void Relay::reconcile() {
  std::optional<std::size_t> best;
  std::optional<Login> best_login;
  for (std::size_t i = 0; i < m_dirs.size(); ++i) {
    if (!m_active[i]) continue;
    const FileRead r = m_dirs[i].read();
    Judgement j = judge(r);
    if (!j.login) {
      if (r.status != FileRead::Status::absent) note_refusal(i, j.reason);
      continue;
    }
    accepted(i);
    if (!best_login || j.login->expires_at > best_login->expires_at) {
      best = i;
      best_login = std::move(j.login);
    }
  }
  if (best) propagate(*best, *best_login, true);
}

bool Relay::changed(std::size_t index) {
  if (index >= m_dirs.size() || !m_active[index]) return false;
  const FileRead r = m_dirs[index].read();
  const Judgement j = judge(r);
  if (!j.login) {
    if (r.status == FileRead::Status::absent) return false;
    note_refusal(index, j.reason);
    return true;
  }
  accepted(index);
  return propagate(index, *j.login, false);
}

bool Relay::propagate(std::size_t from, const Login& login, bool reconciling) {
  bool wrote = false;
  std::vector<Fd> unsynced;  // every copy visible first, then durable
  for (std::size_t to = 0; to < m_dirs.size(); ++to)
    if (to != from && m_active[to]) wrote = copy_into(from, to, login, reconciling, unsynced) || wrote;
  for (const auto& fd : unsynced)
    if (fd) fsync(fd.get());
  return wrote;
}

bool Relay::copy_into(std::size_t from, std::size_t to, const Login& login, bool reconciling,
                      std::vector<Fd>& unsynced) {
  const std::string route = m_dirs[from].path() + " -> " + m_dirs[to].path();
  for (int attempt = 0; attempt < k_copy_attempts; ++attempt) {
    const FileRead current = m_dirs[to].read();
    const Judgement held = judge(current);
    if (!is_newer(login, held)) return false;
    // Only a directory without the file gets a fresh one; a file that is not a
    // JSON object (half written in place, garbage, not a regular file) is left
    // alone until its next event or re-check, its keys kept.
    std::optional<SecretString> text;
    if (current.status == FileRead::Status::absent)
      text = compose(login, std::nullopt);
    else if (current.status == FileRead::Status::ok)
      text = compose(login, current.text.view());
    if (!text) {
      note_refusal(to, held.reason);
      return false;
    }
    if (text->view().size() > k_max_file_size) {
      say_limited(m_copy_lines[to], route + ": not copied: the target's file would be larger than 64 KiB");
      return true;
    }
    auto done = m_dirs[to].replace(text->view(), current, &unsynced);
    if (!done) {
      say_limited(m_copy_lines[to], route + ": copy failed: " + done.error().message);
      return true;
    }
    if (*done) {
      say_limited(m_copy_lines[to], route + " (expires " + utc(login.expires_at) + ")");
      // A planted replay (expiresAt up to 24 hours away) wins over genuine refreshes for up to
      // 16 hours; a re-check that puts another pair over an unexpired one says so.
      if (reconciling && held.login && held.login->expires_at > m_now())
        say_limited(m_note_lines[to], m_dirs[to].path() + ": its unexpired login (expires " +
                                          utc(held.login->expires_at) + ") was replaced by " + m_dirs[from].path() +
                                          "'s, which expires later");
      return true;
    }
    // The target changed while the copy was written: judge it again.
  }
  say_limited(m_copy_lines[to], route + ": not copied: the target kept changing");
  return true;
}

// Watches a directory's path and makes sure the watch is on the directory
// this relay holds open: the path could have been replaced in between. A
// directory that cannot be opened is no longer served (the re-check tries
// it again); one that is open but cannot be watched is served by the
// re-check alone, and its watch is tried again at every re-check.
bool Relay::watch(std::size_t i, bool quiet) {
  int error = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const int wd = add_watch(m_inotify.get(), m_dirs[i].path().c_str(),
                             k_file_events | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW);
    if (wd < 0) error = errno;
    if (wd >= 0 && m_dirs[i].path_is_current()) {
      m_watch_dir[wd] = i;
      m_watched[i] = true;
      return true;
    }
    if (wd >= 0) inotify_rm_watch(m_inotify.get(), wd);
    if (wd < 0 && m_dirs[i].path_is_current()) break;  // the watch itself fails, on the directory held
    if (auto r = m_dirs[i].reopen(); !r) {
      m_active[i] = false;
      m_watched[i] = false;
      say(m_dirs[i].path() + ": cannot be opened (" + r.error().message + "); no longer served");
      return false;
    }
  }
  m_watched[i] = false;
  if (!quiet)
    say(m_dirs[i].path() + ": cannot be watched (" +
        (error != 0 ? std::string(std::strerror(error)) : std::string("its path keeps changing")) +
        "); served by the re-check alone");
  return false;
}

bool Relay::any_active() const {
  return std::find(m_active.begin(), m_active.end(), true) != m_active.end();
}

bool Relay::start() {
  m_watch_dir.clear();
  m_inotify = Fd(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!m_inotify) {
    say(std::string("cannot start inotify: ") + std::strerror(errno));
    return false;
  }
  std::string served;
  for (std::size_t i = 0; i < m_dirs.size(); ++i)
    if (watch(i, false))
      served += (served.empty() ? "" : ", ") + m_dirs[i].path() + " (" + std::to_string(m_dirs[i].uid()) + ":" +
                std::to_string(m_dirs[i].gid()) + ")";
  if (!any_active()) return false;
  for (std::size_t i = 0; i < m_dirs.size(); ++i)
    if (m_active[i])
      if (const std::size_t n = m_dirs[i].remove_stale_temps(); n > 0)
        say(m_dirs[i].path() + ": removed " + std::to_string(n) + " temp file(s) a stopped relay left");
  reconcile();
  say("watching " + served);
  return true;
}

void Relay::retry_unserved() {
  for (std::size_t i = 0; i < m_dirs.size(); ++i) {
    if (!m_active[i] && m_dirs[i].reopen()) {
      m_active[i] = true;
      if (watch(i, false)) say(m_dirs[i].path() + ": served again");
    } else if (m_active[i] && !m_watched[i] && watch(i, true)) {
      say(m_dirs[i].path() + ": watched again");
    }
  }
}

bool Relay::drain_events(std::vector<bool>& pending, std::vector<bool>& lost) {
  alignas(inotify_event) char buf[16 * 1024];
  bool overflow = false;
  for (;;) {
    const ssize_t len = ::read(m_inotify.get(), buf, sizeof buf);
    if (len < 0 && errno == EINTR) continue;
    if (len <= 0) break;  // EAGAIN: drained
    for (char* p = buf; p < buf + len;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(p);
      p += sizeof(inotify_event) + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) {
        overflow = true;
        continue;
      }
      auto it = m_watch_dir.find(ev->wd);
      if (it == m_watch_dir.end()) continue;
      if (ev->mask & k_dir_events) {
        lost[it->second] = true;
        if (ev->mask & IN_IGNORED) m_watch_dir.erase(it);
      } else if ((ev->mask & k_file_events) && ev->len > 0 && std::strcmp(ev->name, k_credentials_file) == 0) {
        pending[it->second] = true;
      }
    }
  }
  return overflow;
}

bool Relay::replace_lost(const std::vector<bool>& lost) {
  bool replaced = false;
  for (std::size_t i = 0; i < m_dirs.size(); ++i) {
    if (!lost[i] || !m_active[i]) continue;
    for (auto it = m_watch_dir.begin(); it != m_watch_dir.end();) {
      if (it->second == i) {
        inotify_rm_watch(m_inotify.get(), it->first);
        it = m_watch_dir.erase(it);
      } else {
        ++it;
      }
    }
    m_watched[i] = false;
    if (auto r = m_dirs[i].reopen(); !r) {
      m_active[i] = false;
      say(m_dirs[i].path() + ": the directory is gone (" + r.error().message + "); no longer served");
      continue;
    }
    if (watch(i, false)) say(m_dirs[i].path() + ": the directory was replaced; serving the new one");
    replaced = true;  // a new directory: reconcile everything
  }
  return replaced;
}

int Relay::run(int stop_fd, int recheck_ms, int coalesce_ms) {
  if (!start()) return 1;
  // Deadlines, not poll's timeout alone: events more often than recheck_ms must not put the re-check off.
  using steady = std::chrono::steady_clock;
  const auto window = std::chrono::milliseconds(coalesce_ms);
  auto next_recheck = steady::now() + std::chrono::milliseconds(recheck_ms);
  // Per directory: when its events were last handled, and whether an event waits for its window to end.
  std::vector<steady::time_point> handled(m_dirs.size(), steady::now() - window);
  std::vector<bool> pending(m_dirs.size());
  auto reconciled = steady::now();
  bool reconcile_pending = false;
  auto reconcile_now = [&] {
    reconcile();
    reconciled = steady::now();
    reconcile_pending = false;
    std::fill(pending.begin(), pending.end(), false);  // everything was just read
  };
  for (;;) {
    auto deadline = next_recheck;
    for (std::size_t i = 0; i < m_dirs.size(); ++i)
      if (pending[i]) deadline = std::min(deadline, handled[i] + window);
    if (reconcile_pending) deadline = std::min(deadline, reconciled + window);
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - steady::now()).count();
    pollfd fds[2] = {{stop_fd, POLLIN, 0}, {m_inotify.get(), POLLIN, 0}};
    const int n = poll(fds, 2, static_cast<int>(std::max<long long>(left, 0)));
    if (n < 0) {
      if (errno == EINTR) continue;
      say(std::string("poll failed: ") + std::strerror(errno));
      return 1;
    }
    if (fds[0].revents != 0) return 0;
    if (steady::now() >= next_recheck) {
      next_recheck = steady::now() + std::chrono::milliseconds(recheck_ms);
      // The safety net: what could not be opened or watched is tried again, then everything is re-read.
      retry_unserved();
      reconcile_now();
    }
    std::vector<bool> lost(m_dirs.size());
    bool overflow = n > 0 && fds[1].revents != 0 && drain_events(pending, lost);
    if (replace_lost(lost)) overflow = true;
    if (!any_active()) return 1;
    if (overflow) reconcile_pending = true;
    const auto now = steady::now();
    if (reconcile_pending && now >= reconciled + window) reconcile_now();
    for (std::size_t i = 0; i < m_dirs.size(); ++i)
      if (pending[i] && now >= handled[i] + window) {
        pending[i] = false;
        // The window starts with work done (a copy, a refusal), not with the echo of the relay's own copy.
        if (changed(i)) handled[i] = now;
      }
  }
}

int run(int argc, char** argv) {
  // A crash must not leave a core file with tokens in it, nor may anything ptrace it.
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  const rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  std::vector<std::string_view> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  auto options = parse_args(args);
  if (!options) {
    std::cerr << "para-broker-relay: " << options.error().message << "\n\n" << usage();
    return 2;
  }
  if (options->help) {
    std::cout << usage();
    return 0;
  }
  if (options->version) {
    std::cout << "para-broker-relay " << PB_VERSION << '\n';
    return 0;
  }
  signal(SIGPIPE, SIG_IGN);  // a closed stderr must not end the relay
  // SIGTERM and SIGINT arrive through a signalfd. They are blocked, so they
  // reach it even as a container's PID 1, which the kernel would otherwise
  // spare from signals it has no handler for.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  if (sigprocmask(SIG_BLOCK, &stop, nullptr) != 0) {
    std::cerr << "relay: cannot block SIGTERM: " << std::strerror(errno) << '\n';
    return 1;
  }
  Fd signals(signalfd(-1, &stop, SFD_CLOEXEC));
  if (!signals) {
    std::cerr << "relay: cannot create a signalfd: " << std::strerror(errno) << '\n';
    return 1;
  }
  std::vector<LoginDir> dirs;
  for (const auto& spec : options->dirs) {
    auto dir = LoginDir::open(spec.path, spec.uid, spec.gid);
    if (!dir) {
      std::cerr << "relay: " << dir.error().message << '\n';
      return 1;
    }
    dirs.push_back(std::move(*dir));
  }
  Relay relay(std::move(dirs), options->account_uuid, nullptr, std::cerr);
  try {
    return relay.run(signals.get());
  } catch (const std::exception&) {
    // what() is not printed: a parser's message may quote the input.
    std::cerr << "relay: stopped by an unexpected error\n";
    return 1;
  }
}

}  // namespace pb::relay
