#include "tests/support/test_env.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>

extern char** environ;

namespace fs = std::filesystem;

namespace pb::test {

CommandResult run_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                          const std::string& input, int timeout_s) {
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) merged[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : env) merged[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : merged) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& a : args) argp.push_back(a.data());
  argp.push_back(nullptr);

  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argp[0], &fa, nullptr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  CommandResult result;
  if (rc != 0) {
    close(in[1]);
    close(out[0]);
    close(err[0]);
    result.exit_code = 127;
    result.err = "spawn failed: " + std::string(std::strerror(rc));
    return result;
  }
  // Write stdin in one go when it fits a pipe; large inputs are not needed by tests.
  if (!input.empty()) {
    ssize_t ignored = write(in[1], input.data(), input.size());
    (void)ignored;
  }
  close(in[1]);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  bool out_open = true, err_open = true;
  char buf[65536];
  while (out_open || err_open) {
    pollfd fds[2] = {{out_open ? out[0] : -1, POLLIN, 0}, {err_open ? err[0] : -1, POLLIN, 0}};
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      kill(pid, SIGKILL);
      result.err += "\n[test harness: timed out after " + std::to_string(timeout_s) + "s]";
      break;
    }
    int n = poll(fds, 2, static_cast<int>(std::min<long long>(left, 1000)));
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      ssize_t r = read(fds[i].fd, buf, sizeof buf);
      if (r <= 0) {
        (i == 0 ? out_open : err_open) = false;
      } else {
        (i == 0 ? result.out : result.err).append(buf, static_cast<std::size_t>(r));
      }
    }
  }
  close(out[0]);
  close(err[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

CommandResult docker_cli(const std::vector<std::string>& args, int timeout_s) {
  std::vector<std::string> argv{"docker"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, {}, "", timeout_s);
}

bool docker_available() {
  static const bool available = docker_cli({"version", "--format", "{{.Server.Version}}"}, 30).exit_code == 0;
  return available;
}

void remove_labelled(const std::string& value) {
  const std::string filter = "label=" + std::string(k_test_label) + "=" + value;
  auto ids = [](const std::string& text) {
    std::vector<std::string> v;
    std::string line;
    for (char c : text) {
      if (c == '\n') {
        if (!line.empty()) v.push_back(line);
        line.clear();
      } else {
        line += c;
      }
    }
    if (!line.empty()) v.push_back(line);
    return v;
  };
  auto containers = ids(docker_cli({"ps", "-aq", "--filter", filter}).out);
  if (!containers.empty()) {
    std::vector<std::string> a{"rm", "-f", "-v"};
    a.insert(a.end(), containers.begin(), containers.end());
    docker_cli(a);
  }
  auto volumes = ids(docker_cli({"volume", "ls", "-q", "--filter", filter}).out);
  if (!volumes.empty()) {
    std::vector<std::string> a{"volume", "rm", "-f"};
    a.insert(a.end(), volumes.begin(), volumes.end());
    docker_cli(a);
  }
  // An image with a child (a test image derived from another) is only removed
  // once the child is gone, so repeat while that makes progress.
  std::size_t before = SIZE_MAX;
  for (int pass = 0; pass < 4; ++pass) {
    auto images = ids(docker_cli({"images", "-q", "--filter", filter}).out);
    if (images.empty() || images.size() >= before) break;
    before = images.size();
    std::vector<std::string> a{"rmi", "-f"};
    a.insert(a.end(), images.begin(), images.end());
    docker_cli(a);
  }
}

std::string busybox_image(const std::string& label_value) {
  const std::string ref = "pb-test-busybox:" + label_value;
  if (docker_cli({"image", "inspect", ref}, 60).exit_code == 0) return ref;
  const std::string script =
      "set -e; d=$(mktemp -d); trap 'rm -rf \"$d\"' EXIT; mkdir -p \"$d/bin\" \"$d/tmp\" \"$d/etc\"; "
      "cp /bin/busybox \"$d/bin/busybox\"; for a in $(/bin/busybox --list); do [ \"$a\" = busybox ] || ln -sf busybox "
      "\"$d/bin/$a\"; done; "
      "printf 'root:x:0:0:root:/root:/bin/sh\\n' > \"$d/etc/passwd\"; printf 'root:x:0:\\n' > \"$d/etc/group\"; "
      "mkdir -p \"$d/root\"; tar -C \"$d\" -c . | docker import --change 'LABEL " +
      std::string(k_test_label) + "=" + label_value + "' --change 'ENV PATH=/bin' - " + ref + " >/dev/null";
  auto r = run_process({"bash", "-c", script}, {}, "", 120);
  if (r.exit_code != 0) throw std::runtime_error("building " + ref + " failed: " + r.err);
  return ref;
}

fs::path source_path(const std::string& relative) {
  return fs::path(PB_SOURCE_DIR) / relative;
}

namespace {
std::string random_hex(std::size_t n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* k_hex = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += k_hex[rng() % 16];
  return s;
}
}  // namespace

TestEnv::TestEnv() {
  m_root = fs::temp_directory_path() / ("pb-test-" + random_hex(12));
  fs::create_directories(m_root);
  fs::permissions(m_root, fs::perms::owner_all, fs::perm_options::replace);
  fs::create_directories(m_root / "home");
}

TestEnv::~TestEnv() {
  std::error_code ec;
  fs::remove_all(m_root, ec);
}

std::map<std::string, std::string> TestEnv::env() const {
  std::map<std::string, std::string> e{
      {"PARA_BROKER_HOME", vault_home().string()},
      {"PARA_BROKER_KEY_FILE", key_file().string()},
      {"PARA_BROKER_CACHE", cache_dir().string()},
      {"HOME", (m_root / "home").string()},
      {"XDG_DATA_HOME", (m_root / "home" / ".local" / "share").string()},
      {"XDG_CONFIG_HOME", (m_root / "home" / ".config").string()},
      {"XDG_CACHE_HOME", (m_root / "home" / ".cache").string()},
  };
  for (const auto& [k, v] : m_extra) e[k] = v;
  return e;
}

CommandResult TestEnv::cli(const std::vector<std::string>& args, const std::string& input, int timeout_s) const {
  std::vector<std::string> argv{PB_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, env(), input, timeout_s);
}

std::string TestEnv::unique(const std::string& prefix) const {
  return prefix + "-" + random_hex(8);
}

std::int64_t expiry_from_now(double hours) {
  const auto now =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
  return now.count() + static_cast<std::int64_t>(hours * 3600.0 * 1000.0);
}

}  // namespace pb::test
