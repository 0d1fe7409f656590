// A session's side of the relay's Docker test, copied into a container of the
// busybox test image (static: it has no libc to speak of) and run as the
// session's user. It writes a login into its own login volume as Claude Code
// does, and watches another user's login volume for the relay's rename.
//
//   pb_relay_helper act SRC WATCH WAIT_MS rename|inplace|symlink CONTENT
//       writes CONTENT as SRC/.credentials.json (symlink: into SRC/newer.json,
//       then a symbolic link to it renamed over .credentials.json), then prints
//       "propagated_us N" when a file is renamed into WATCH within WAIT_MS,
//       else "quiet"
//   pb_relay_helper measure SRC WATCH rename|inplace COUNT FIRST_EXPIRY_MS TAG
//       COUNT logins, each expiring a second after the last, one "latency_us N"
//       per login (from the start of its write to the relay's rename into
//       WATCH); exit 0 when every one arrived within 2 s

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

namespace {

constexpr const char* k_file = ".credentials.json";

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool write_login(const std::string& dir, const std::string& mode, const std::string& text) {
  const std::string target = dir + "/" + k_file;
  if (mode == "inplace") {
    const int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    const bool ok = write_all(fd, text);
    return ::close(fd) == 0 && ok;
  }
  const std::string tmp = dir + "/" + k_file + ".tmp." + std::to_string(getpid());
  if (mode == "symlink") {
    const std::string real = dir + "/newer.json";
    const int fd = ::open(real.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || !write_all(fd, text) || ::close(fd) != 0) return false;
    ::unlink(tmp.c_str());
    return ::symlink(real.c_str(), tmp.c_str()) == 0 && ::rename(tmp.c_str(), target.c_str()) == 0;
  }
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || !write_all(fd, text) || ::close(fd) != 0) return false;
  return ::rename(tmp.c_str(), target.c_str()) == 0;
}

/// Waits up to `ms` for .credentials.json to be renamed into the watched directory.
bool wait_renamed(int inotify, int ms) {
  const auto end = now_us() + static_cast<std::int64_t>(ms) * 1000;
  alignas(inotify_event) char buf[4096];
  for (;;) {
    const auto left_ms = (end - now_us()) / 1000;
    if (left_ms < 0) return false;
    pollfd p{inotify, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left_ms) + 1) <= 0) continue;
    const ssize_t len = ::read(inotify, buf, sizeof buf);
    for (char* q = buf; len > 0 && q < buf + len;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(q);
      q += sizeof(inotify_event) + ev->len;
      if ((ev->mask & IN_MOVED_TO) && ev->len > 0 && std::strcmp(ev->name, k_file) == 0) return true;
    }
  }
}

int watch(const std::string& dir) {
  const int fd = inotify_init1(IN_CLOEXEC);
  if (fd < 0 || inotify_add_watch(fd, dir.c_str(), IN_MOVED_TO) < 0) {
    std::perror("inotify on the watched directory");
    return -1;
  }
  return fd;
}

std::string login(const std::string& tag, long long expires) {
  return R"({"claudeAiOauth":{"accessToken":"sk-ant-oat01-CANARY-relay-)" + tag +
         R"(","refreshToken":"sk-ant-ort01-CANARY-relay-)" + tag + R"(","expiresAt":)" + std::to_string(expires) +
         R"(,"scopes":["user:inference"],"subscriptionType":"max"}})";
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "act" && argc == 7) {
    const int in = watch(argv[3]);
    if (in < 0) return 2;
    const auto t0 = now_us();
    if (!write_login(argv[2], argv[5], argv[6])) {
      std::perror("writing the login");
      return 2;
    }
    if (wait_renamed(in, std::stoi(argv[4])))
      std::printf("propagated_us %lld\n", static_cast<long long>(now_us() - t0));
    else
      std::printf("quiet\n");
    return 0;
  }
  if (cmd == "measure" && argc == 8) {
    const int in = watch(argv[3]);
    if (in < 0) return 2;
    const int count = std::stoi(argv[5]);
    const long long first = std::stoll(argv[6]);
    int missed = 0;
    for (int i = 0; i < count; ++i) {
      const std::string text = login(std::string(argv[7]) + "-" + std::to_string(i), first + i * 1000LL);
      const auto t0 = now_us();
      if (!write_login(argv[2], argv[4], text)) {
        std::perror("writing the login");
        return 2;
      }
      if (wait_renamed(in, 2000)) {
        std::printf("latency_us %lld\n", static_cast<long long>(now_us() - t0));
      } else {
        std::printf("timeout\n");
        ++missed;
      }
      std::fflush(stdout);
      std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // past the relay's 1 s window per source
    }
    return missed == 0 ? 0 : 1;
  }
  std::fprintf(stderr, "usage: pb_relay_helper act|measure ...\n");
  return 2;
}
