#pragma once
// A tiny HTTP server on a unix socket standing in for a misbehaving Docker
// daemon: answers every request with a canned response, or never answers.

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace pb::test {

class FakeDaemon {
 public:
  /// `respond(request_head)` returns the raw bytes to send; nullopt-like empty string = never answer.
  FakeDaemon(std::filesystem::path socket, std::function<std::string(const std::string&)> respond)
      : m_path(std::move(socket)), m_respond(std::move(respond)) {
    m_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, m_path.c_str(), sizeof(addr.sun_path) - 1);
    if (m_fd < 0 || ::bind(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(m_fd, 16) != 0)
      throw std::runtime_error("fake daemon cannot listen on " + m_path.string());
    if (::pipe(m_stop) != 0) throw std::runtime_error("pipe failed");
    m_thread = std::thread([this] { serve(); });
  }
  ~FakeDaemon() {
    char c = 'x';
    (void)!::write(m_stop[1], &c, 1);
    m_thread.join();
    for (int fd : m_clients) ::close(fd);
    ::close(m_fd);
    ::close(m_stop[0]);
    ::close(m_stop[1]);
    std::filesystem::remove(m_path);
  }
  FakeDaemon(const FakeDaemon&) = delete;
  FakeDaemon& operator=(const FakeDaemon&) = delete;

  std::string host() const { return "unix://" + m_path.string(); }
  int requests() const { return m_requests.load(); }

 private:
  void serve() {
    for (;;) {
      pollfd fds[2] = {{m_fd, POLLIN, 0}, {m_stop[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) continue;
      if ((fds[1].revents & POLLIN) != 0) return;
      int c = ::accept4(m_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      m_clients.push_back(c);
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        pollfd p[2] = {{c, POLLIN, 0}, {m_stop[0], POLLIN, 0}};
        if (::poll(p, 2, 5000) <= 0 || (p[1].revents & POLLIN) != 0) break;
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        head.append(buf, static_cast<std::size_t>(n));
      }
      ++m_requests;
      std::string answer = m_respond(head);
      if (!answer.empty()) {
        (void)!::write(c, answer.data(), answer.size());
        ::shutdown(c, SHUT_WR);
      }
      // Unanswered connections stay open until the server stops: a hung daemon.
    }
  }

  std::filesystem::path m_path;
  std::function<std::string(const std::string&)> m_respond;
  int m_fd = -1;
  int m_stop[2] = {-1, -1};
  std::vector<int> m_clients;
  std::atomic<int> m_requests{0};
  std::thread m_thread;
};

/// "HTTP/1.1 <status>" with a JSON body and Content-Length.
inline std::string http_answer(int status, const std::string& reason, const std::string& json) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(json.size()) + "\r\n\r\n" + json;
}

/// The same answer with a chunked body split into `pieces` chunks.
inline std::string http_chunked_answer(int status, const std::string& reason, const std::string& json,
                                       std::size_t pieces) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                    "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::size_t step = json.size() / pieces + 1;
  char hex[32];
  for (std::size_t i = 0; i < json.size(); i += step) {
    std::string part = json.substr(i, step);
    std::snprintf(hex, sizeof hex, "%zx", part.size());
    out += std::string(hex) + "\r\n" + part + "\r\n";
  }
  return out + "0\r\n\r\n";
}

}  // namespace pb::test
