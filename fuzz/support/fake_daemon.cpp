#include "fuzz/support/fake_daemon.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace pb::fuzz {
namespace {

constexpr std::size_t k_max_request = 1u << 20;
constexpr int k_idle_ms = 1000;

/// Reads what is there within `ms`; false at EOF, error or timeout.
bool read_some(int fd, std::string& into, int ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, ms) <= 0) return false;
  char buf[16384];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n <= 0) return false;
  into.append(buf, static_cast<std::size_t>(n));
  return true;
}

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;  // the client gave up: so be it
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

std::string http_answer(unsigned status, const std::string& headers, std::string_view body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\n" + headers + "Content-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + std::string(body);
}

FakeDaemon::FakeDaemon() {
  char tmpl[] = "/tmp/pb-fuzz-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) std::abort();
  m_dir = tmpl;
  m_socket = m_dir / "docker.sock";
  m_listen = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, m_socket.c_str(), sizeof addr.sun_path - 1);
  if (m_listen < 0 || ::bind(m_listen, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(m_listen, 16) != 0)
    std::abort();
  m_thread = std::thread([this] { serve(); });
}

FakeDaemon::~FakeDaemon() {
  m_stop = true;
  if (m_thread.joinable()) m_thread.join();
  ::close(m_listen);
  std::error_code ec;
  std::filesystem::remove_all(m_dir, ec);
}

void FakeDaemon::set_handler(Handler handler) {
  std::lock_guard lock(m_mutex);
  m_handler = std::move(handler);
}

void FakeDaemon::serve() {
  // Answered connections linger until the client hangs up (it may still send
  // a hijacked stream's input, and closing on unread data would reset the
  // stream before the client read the answer); a client may open its next
  // connection before it closes the last one, so they are watched, not waited for.
  std::vector<int> lingering;
  while (!m_stop) {
    std::vector<pollfd> fds{{m_listen, POLLIN, 0}};
    for (int fd : lingering) fds.push_back({fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), 100) <= 0) continue;
    for (std::size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      char buf[16384];
      if (::recv(fds[i].fd, buf, sizeof buf, MSG_DONTWAIT) > 0) continue;
      ::close(fds[i].fd);
      lingering.erase(std::find(lingering.begin(), lingering.end(), fds[i].fd));
    }
    if ((fds[0].revents & POLLIN) == 0) continue;
    int fd = ::accept4(m_listen, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    serve_one(fd);
    ::shutdown(fd, SHUT_WR);
    lingering.push_back(fd);
    if (lingering.size() > 64) {
      ::close(lingering.front());
      lingering.erase(lingering.begin());
    }
  }
  for (int fd : lingering) ::close(fd);
}

void FakeDaemon::serve_one(int fd) {
  std::string in;
  std::size_t head_end = std::string::npos;
  while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
    if (in.size() > k_max_request || !read_some(fd, in, k_idle_ms)) return;
  }
  SeenRequest req;
  req.head = in.substr(0, head_end + 4);
  {
    const std::string first = req.head.substr(0, req.head.find("\r\n"));
    const auto sp1 = first.find(' ');
    const auto sp2 = first.find(' ', sp1 + 1);
    req.method = first.substr(0, sp1);
    if (sp1 != std::string::npos) req.target = first.substr(sp1 + 1, sp2 - sp1 - 1);
  }
  // Take the body too, so the client never writes into a closed socket while
  // the answer is still on its way.
  const std::string head = lower(req.head);
  if (auto cl = head.find("\r\ncontent-length:"); cl != std::string::npos) {
    const std::size_t want = std::strtoul(head.c_str() + cl + 17, nullptr, 10);
    std::string body = in.substr(head_end + 4);
    while (body.size() < want && body.size() < k_max_request && read_some(fd, body, k_idle_ms)) {
    }
  } else if (head.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
    std::string body = in.substr(head_end + 4);
    while (body.find("0\r\n\r\n") == std::string::npos && body.size() < k_max_request &&
           read_some(fd, body, k_idle_ms)) {
    }
  }
  Handler handler;
  {
    std::lock_guard lock(m_mutex);
    handler = m_handler;
  }
  if (handler) write_all(fd, handler(req));
}

FakeDaemon& daemon() {
  static FakeDaemon d;
  return d;
}

}  // namespace pb::fuzz
