// Interactive attach driven through a pseudo-terminal: input reaches the
// container, output comes back, the window size follows SIGWINCH, Ctrl-C is
// delivered to the container, and the terminal mode is restored however the
// session ends.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "broker/docker/connect.hpp"
#include "broker/docker/docker_client.hpp"
#include "tests/docker/private_sshd.hpp"
#include "tests/support/test_env.hpp"

namespace pb {
namespace {

using namespace std::chrono_literals;

class DockerAttachTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PB_REQUIRE_DOCKER();
    m_label = m_env.unique("attach");
    auto c = broker::docker::connect_from_environment();
    ASSERT_TRUE(c.ok()) << c.error().message;
    m_docker = *c;
    broker::ContainerSpec spec;
    spec.image = test::busybox_image(m_label);
    spec.cmd = {"sh"};
    spec.env = {"PS1=box# "};
    spec.tty = true;
    spec.open_stdin = true;
    spec.network_mode = "none";
    spec.labels[test::k_test_label] = m_label;
    auto id = m_docker->container_create(spec);
    ASSERT_TRUE(id.ok()) << id.error().message;
    m_id = *id;

    winsize ws{};
    ws.ws_row = 24;
    ws.ws_col = 80;
    ASSERT_EQ(::openpty(&m_master, &m_slave, nullptr, nullptr, &ws), 0);
    m_pid = ::fork();
    ASSERT_GE(m_pid, 0);
    if (m_pid == 0) {
      ::setsid();
      ::ioctl(m_slave, TIOCSCTTY, 0);
      ::dup2(m_slave, 0);
      ::dup2(m_slave, 1);
      ::dup2(m_slave, 2);
      ::close(m_master);
      if (m_slave > 2) ::close(m_slave);
      ::execl(PB_ATTACH_HELPER, PB_ATTACH_HELPER, m_id.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ASSERT_TRUE(wait_for_raw_mode()) << "the helper never put the terminal in raw mode; output: " << m_seen;
  }

  void TearDown() override {
    if (m_pid > 0 && !m_reaped) {
      ::kill(m_pid, SIGKILL);
      ::waitpid(m_pid, nullptr, 0);
    }
    if (m_master >= 0) ::close(m_master);
    if (m_slave >= 0) ::close(m_slave);
    test::remove_labelled(m_label);
  }

  bool canonical() const {
    termios t{};
    return ::tcgetattr(m_slave, &t) == 0 && (t.c_lflag & ICANON) != 0 && (t.c_lflag & ECHO) != 0 &&
           (t.c_lflag & ISIG) != 0;
  }

  bool wait_for_raw_mode() {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!canonical()) return true;
      pump(50ms);
    }
    return false;
  }

  /// Reads what the helper wrote to the terminal for up to `d`.
  void pump(std::chrono::milliseconds d) {
    pollfd p{m_master, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(d.count())) > 0 && (p.revents & POLLIN) != 0) {
      char buf[4096];
      ssize_t n = ::read(m_master, buf, sizeof buf);
      if (n > 0) m_seen.append(buf, static_cast<std::size_t>(n));
    }
  }

  /// Waits until `text` appears in the output after what earlier expects consumed.
  bool expect(const std::string& text, std::chrono::seconds timeout = 20s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto pos = m_seen.find(text, m_consumed);
      if (pos != std::string::npos) {
        m_consumed = pos + text.size();
        return true;
      }
      if (std::chrono::steady_clock::now() >= deadline) return false;
      pump(100ms);
    }
  }

  void type(const std::string& s) { ASSERT_EQ(::write(m_master, s.data(), s.size()), static_cast<ssize_t>(s.size())); }

  /// Waits for the helper to exit; its exit status or -1.
  int wait_exit(std::chrono::seconds timeout = 20s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      pid_t r = ::waitpid(m_pid, &status, WNOHANG);
      if (r == m_pid) {
        m_reaped = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      pump(50ms);
    }
    return -1;
  }

  test::TestEnv m_env;
  std::string m_label;
  std::shared_ptr<broker::DockerClient> m_docker;
  std::string m_id;
  int m_master = -1, m_slave = -1;
  pid_t m_pid = -1;
  bool m_reaped = false;
  std::string m_seen;
  std::size_t m_consumed = 0;
};

TEST_F(DockerAttachTest, InputOutputResizeAndCtrlCThenAbortRestoresTheTerminal) {
  // Input reaches the shell and its output comes back (the typed text is echoed
  // as "$((40+2))", only the shell's answer reads "mark-42").
  type("echo mark-$((40+2))\r");
  ASSERT_TRUE(expect("mark-42")) << m_seen;

  // The size at start was forwarded.
  type("stty size\r");
  ASSERT_TRUE(expect("24 80")) << m_seen;

  // A window change reaches the container (SIGWINCH -> resize endpoint).
  winsize ws{};
  ws.ws_row = 40;
  ws.ws_col = 120;
  ASSERT_EQ(::ioctl(m_master, TIOCSWINSZ, &ws), 0);
  bool resized = false;
  for (int i = 0; i < 10 && !resized; ++i) {
    type("stty size\r");
    resized = expect("40 120", 2s);
  }
  EXPECT_TRUE(resized) << m_seen;

  // Ctrl-C is a byte for the container's TTY: it interrupts `sleep`, not the helper.
  type("sleep 60\r");
  std::this_thread::sleep_for(500ms);
  type("\x03");
  type("echo int-$((1+1))\r");
  EXPECT_TRUE(expect("int-2", 15s)) << m_seen;
  EXPECT_FALSE(canonical()) << "still attached, so still raw";

  // Abort: SIGTERM to the attached process. It ends, and the terminal is cooked again.
  ASSERT_EQ(::kill(m_pid, SIGTERM), 0);
  int rc = wait_exit();
  EXPECT_EQ(rc, 1) << m_seen;
  EXPECT_TRUE(canonical()) << "terminal mode not restored after the abort";
  EXPECT_TRUE(expect("interrupted by")) << m_seen;
}

TEST_F(DockerAttachTest, ContainerExitEndsTheSessionAndRestoresTheTerminal) {
  type("echo bye-$((3*3)); exit 0\r");
  EXPECT_TRUE(expect("bye-9")) << m_seen;
  EXPECT_EQ(wait_exit(), 0) << m_seen;
  EXPECT_TRUE(canonical()) << "terminal mode not restored after the container exited";
  auto info = m_docker->container_inspect(m_id);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_FALSE(info->state.running);
}

TEST_F(DockerAttachTest, HangUpEndsTheSessionAndRestoresTheTerminal) {
  type("echo up-$((2*5))\r");
  ASSERT_TRUE(expect("up-10")) << m_seen;
  ASSERT_EQ(::kill(m_pid, SIGHUP), 0);
  EXPECT_EQ(wait_exit(), 1) << m_seen;
  EXPECT_TRUE(canonical());
}

/// The same terminal session with the engine behind ssh:// (what `login`
/// does on a remote engine): the helper inherits DOCKER_HOST and PATH.
class DockerAttachOverSshTest : public DockerAttachTest {
 protected:
  void SetUp() override {
    PB_REQUIRE_DOCKER();
    try {
      m_sshd.emplace(m_ssh_env.root() / "sshd");
    } catch (const std::exception& e) {
      GTEST_FAIL() << e.what();
    }
    for (const char* name : {"DOCKER_HOST", "PATH", "PARA_BROKER_CACHE"})
      if (const char* v = ::getenv(name)) m_before[name] = v;
    ::setenv("DOCKER_HOST", m_sshd->url().c_str(), 1);
    ::setenv("PATH", m_sshd->path_env().c_str(), 1);
    ::setenv("PARA_BROKER_CACHE", m_ssh_env.cache_dir().c_str(), 1);
    DockerAttachTest::SetUp();
  }
  void TearDown() override {
    DockerAttachTest::TearDown();
    for (const char* name : {"DOCKER_HOST", "PATH", "PARA_BROKER_CACHE"}) {
      if (auto it = m_before.find(name); it != m_before.end())
        ::setenv(name, it->second.c_str(), 1);
      else
        ::unsetenv(name);
    }
    if (m_sshd) m_sshd->stop_masters(m_ssh_env.cache_dir() / "ssh");
    m_sshd.reset();
  }

  test::TestEnv m_ssh_env;
  std::optional<test::PrivateSshd> m_sshd;
  std::map<std::string, std::string> m_before;
};

TEST_F(DockerAttachOverSshTest, InputOutputAndTheContainersExitGoThroughSsh) {
  EXPECT_EQ(m_docker->endpoint(), m_sshd->url());
  type("echo ssh-$((40+2))\r");
  ASSERT_TRUE(expect("ssh-42")) << m_seen;
  type("stty size\r");
  ASSERT_TRUE(expect("24 80")) << m_seen;
  type("exit 0\r");
  EXPECT_EQ(wait_exit(), 0) << m_seen;
  EXPECT_TRUE(canonical()) << "terminal mode not restored";
}

}  // namespace
}  // namespace pb
