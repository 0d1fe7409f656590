#include "core/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/c_handles.hpp"
#include "core/platform.hpp"

extern char** environ;  // NOLINT: POSIX declares it for the program, not in a header

namespace pb {
namespace {

/// Waits for `pid` (retrying on EINTR); its exit status, or -1 when a signal ended it.
int reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class SpawnActions {
 public:
  SpawnActions() { m_ok = ::posix_spawn_file_actions_init(&m_actions) == 0; }
  ~SpawnActions() {
    if (m_ok) ::posix_spawn_file_actions_destroy(&m_actions);
  }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
  bool ok() const noexcept { return m_ok; }
  posix_spawn_file_actions_t* get() noexcept { return &m_actions; }

 private:
  posix_spawn_file_actions_t m_actions{};
  bool m_ok = false;
};

}  // namespace

Result<ChildOutput> run_for_output(const std::vector<std::string>& argv, const ChildLimits& limits) {
  if (argv.empty()) return fail(ErrorKind::usage, "no program to run");
  const std::string& name = argv.front();
  int fds[2];
  // pipe() and then FD_CLOEXEC (pipe2 is not POSIX): no other thread spawns meanwhile.
  if (::pipe(fds) != 0) return fail(ErrorKind::failure, "making a pipe for " + name + " failed");
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  if (::fcntl(read_end.get(), F_SETFD, FD_CLOEXEC) != 0 || ::fcntl(write_end.get(), F_SETFD, FD_CLOEXEC) != 0)
    return fail(ErrorKind::failure, "making a pipe for " + name + " failed");

  SpawnActions actions;
  if (!actions.ok() || ::posix_spawn_file_actions_addopen(actions.get(), 0, "/dev/null", O_RDONLY, 0) != 0 ||
      ::posix_spawn_file_actions_adddup2(actions.get(), write_end.get(), 1) != 0 ||
      ::posix_spawn_file_actions_addopen(actions.get(), 2, "/dev/null", O_WRONLY, 0) != 0)
    return fail(ErrorKind::failure, "preparing to run " + name + " failed");
  // The helper gets nothing else of ours (no lock, no vault file).
  short flags = 0;
  posix_spawnattr_t attr;
  if (::posix_spawnattr_init(&attr) != 0) return fail(ErrorKind::failure, "preparing to run " + name + " failed");
  const bool prepared =
      platform::spawn_closes_other_fds(actions.get(), &flags) == 0 && ::posix_spawnattr_setflags(&attr, flags) == 0;
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = prepared ? ::posix_spawnp(&pid, name.c_str(), actions.get(), &attr, args.data(), environ) : EINVAL;
  ::posix_spawnattr_destroy(&attr);
  write_end.reset();
  if (rc != 0) {
    if (rc == ENOENT || rc == EACCES || rc == ENOEXEC)
      return fail(ErrorKind::not_found, "the program " + name + " was not found on PATH");
    return fail(ErrorKind::failure, "starting " + name + " failed");
  }
  // Some implementations report an exec failure as exit status 127 instead.

  ChildOutput result;
  const auto deadline = std::chrono::steady_clock::now() + limits.timeout;
  std::uint8_t chunk[16384];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    pollfd p{read_end.get(), POLLIN, 0};
    const int ready = left > 0 ? ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60000))) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0 && left <= 60000) {
      ::kill(pid, SIGKILL);
      reap(pid);
      secure_wipe(chunk, sizeof chunk);
      return fail(ErrorKind::failure, name + " did not finish within " + std::to_string(limits.timeout.count() / 1000) +
                                          " seconds; it was stopped");
    }
    if (ready <= 0) continue;
    const ssize_t n = ::read(read_end.get(), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // end of output (or an error reading it: what came is all there is)
    if (result.out.size() + static_cast<std::size_t>(n) > limits.max_output) {
      ::kill(pid, SIGKILL);
      reap(pid);
      secure_wipe(chunk, sizeof chunk);
      return fail(ErrorKind::unsafe_input, "the output of " + name + " was refused: it is larger than " +
                                               std::to_string(limits.max_output) + " bytes");
    }
    result.out.insert(result.out.end(), chunk, chunk + n);
  }
  secure_wipe(chunk, sizeof chunk);
  read_end.reset();
  result.exit_code = reap(pid);
  return result;
}

}  // namespace pb
