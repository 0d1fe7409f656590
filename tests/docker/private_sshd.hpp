#pragma once
// A private OpenSSH server on loopback for the ssh:// tests, started and
// stopped by the test: its own host key, one authorized user key, root login
// by key only. The client side is the real `ssh` with a config of the test's
// own (known_hosts holding the server's key, that identity only), put first on
// PATH as a two-line wrapper, so para-broker runs `ssh` as it would for a user.
// The server runs `docker system dial-stdio` with this machine's docker CLI,
// which reaches the local daemon: ssh://root@127.0.0.1:PORT is this daemon.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "tests/support/test_env.hpp"

extern char** environ;  // NOLINT: POSIX declares it nowhere

namespace pb::test {

class PrivateSshd {
 public:
  /// Starts the server with its files under `dir`; throws with a sentence when it cannot.
  explicit PrivateSshd(const std::filesystem::path& dir) : m_dir(dir) {
    namespace fs = std::filesystem;
    if (!fs::exists("/usr/sbin/sshd"))
      throw std::runtime_error("these tests need OpenSSH's server: apt-get install openssh-server (scripts/setup)");
    fs::create_directories(m_dir / "bin");
    fs::create_directories("/run/sshd");  // sshd's privilege-separation directory
    for (const char* key : {"host_key", "user_key"}) {
      auto r =
          run_process({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pb-test", "-f", (m_dir / key).string()});
      if (r.exit_code != 0) throw std::runtime_error("ssh-keygen failed: " + r.err);
    }
    fs::copy_file(m_dir / "user_key.pub", m_dir / "authorized_keys");
    m_port = free_port();
    write(m_dir / "sshd_config", "ListenAddress 127.0.0.1\nPort " + std::to_string(m_port) + "\nHostKey " +
                                     (m_dir / "host_key").string() + "\nAuthorizedKeysFile " +
                                     (m_dir / "authorized_keys").string() +
                                     "\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                                     "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile " +
                                     (m_dir / "sshd.pid").string() + "\n");
    std::ifstream host_pub(m_dir / "host_key.pub");
    std::string type, key;
    host_pub >> type >> key;
    write(m_dir / "known_hosts", "[127.0.0.1]:" + std::to_string(m_port) + " " + type + " " + key + "\n");
    write(m_dir / "ssh_config", "Host *\n  IdentityFile " + (m_dir / "user_key").string() +
                                    "\n  IdentitiesOnly yes\n  UserKnownHostsFile " + (m_dir / "known_hosts").string() +
                                    "\n  StrictHostKeyChecking yes\n  GlobalKnownHostsFile /dev/null\n");
    write(m_dir / "bin" / "ssh", "#!/bin/sh\nexec /usr/bin/ssh -F " + (m_dir / "ssh_config").string() + " \"$@\"\n");
    fs::permissions(m_dir / "bin" / "ssh", fs::perms::owner_all);

    std::string config = (m_dir / "sshd_config").string(), log = (m_dir / "sshd.log").string();
    char* argv[] = {const_cast<char*>("/usr/sbin/sshd"),
                    const_cast<char*>("-D"),
                    const_cast<char*>("-f"),
                    config.data(),
                    const_cast<char*>("-E"),
                    log.data(),
                    nullptr};
    // Its log goes to -E; its descriptors 0-2 (and those of the session
    // children it forks, which outlive it while a multiplexing master holds
    // their connection) must not be the test's: ctest waits for its output
    // pipe to close.
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    ::posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    const int spawned = ::posix_spawn(&m_pid, argv[0], &actions, nullptr, argv, environ);
    ::posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) throw std::runtime_error("cannot start /usr/sbin/sshd");
    for (int i = 0; i < 100 && !accepts(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!accepts()) throw std::runtime_error("sshd did not listen on 127.0.0.1:" + std::to_string(m_port));
  }

  ~PrivateSshd() {
    if (m_pid > 0) {
      ::kill(m_pid, SIGTERM);
      ::waitpid(m_pid, nullptr, 0);
    }
  }
  PrivateSshd(const PrivateSshd&) = delete;
  PrivateSshd& operator=(const PrivateSshd&) = delete;

  /// Asks every multiplexing master whose socket is in `control_dir` (the
  /// broker's `<cache>/ssh`) to exit, so none outlives the test.
  void stop_masters(const std::filesystem::path& control_dir) const {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(control_dir, ec)) {
      if (!entry.is_socket(ec)) continue;
      run_process({"/usr/bin/ssh", "-F", (m_dir / "ssh_config").string(), "-o", "ControlPath=" + entry.path().string(),
                   "-O", "exit", "127.0.0.1"});
    }
  }

  unsigned short port() const { return m_port; }
  /// DOCKER_HOST for this server.
  std::string url() const { return "ssh://root@127.0.0.1:" + std::to_string(m_port); }
  /// Put first on PATH: its `ssh` uses the test's config.
  std::filesystem::path bin_dir() const { return m_dir / "bin"; }
  std::string path_env() const {
    const char* path = ::getenv("PATH");
    return bin_dir().string() + ":" + (path != nullptr ? path : "/usr/bin:/bin");
  }
  /// Makes the `ssh` on bin_dir() write `bytes` of chatter to stderr before
  /// it connects (as a verbose LogLevel or a long banner would).
  void make_chatty(std::size_t bytes) const {
    write(m_dir / "bin" / "ssh", "#!/bin/sh\nhead -c " + std::to_string(bytes) +
                                     " /dev/zero | tr '\\0' x >&2\nexec /usr/bin/ssh -F " +
                                     (m_dir / "ssh_config").string() + " \"$@\"\n");
    std::filesystem::permissions(m_dir / "bin" / "ssh", std::filesystem::perms::owner_all);
  }
  /// Forgets the server's host key: the next connection meets an unknown host.
  void forget_host_key() const { write(m_dir / "known_hosts", ""); }

  /// A loopback port nothing listens on right now.
  static unsigned short free_port() {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    unsigned short port = 0;
    if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port = ntohs(a.sin_port);
    ::close(s);
    return port;
  }

 private:
  static void write(const std::filesystem::path& p, const std::string& text) {
    std::ofstream(p, std::ios::trunc) << text;
    std::filesystem::permissions(p, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }

  bool accepts() const {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(m_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(s);
    return ok;
  }

  std::filesystem::path m_dir;
  unsigned short m_port = 0;
  pid_t m_pid = -1;
};

}  // namespace pb::test
