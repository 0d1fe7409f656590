#pragma once
// A stand-in Docker daemon for fuzz targets: a unix socket in a private
// temporary directory, served by one thread. Each connection reads one
// request (head, and a Content-Length or chunked body), answers with what the
// handler returns for it, half-closes, and keeps the connection until the
// client hangs up.
// The real client (broker/docker) connects to endpoint() as to dockerd, so
// the fuzz input travels the whole way: socket, Beast parser, JSON reading.

#include <atomic>
#include <filesystem>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <thread>

namespace pb::fuzz {

/// One request as the daemon saw it: "GET /v1.43/_ping HTTP/1.1" and its head.
struct SeenRequest {
  std::string method;
  std::string target;
  std::string head;
};

class FakeDaemon {
 public:
  using Handler = std::function<std::string(const SeenRequest&)>;

  FakeDaemon();
  ~FakeDaemon();
  FakeDaemon(const FakeDaemon&) = delete;
  FakeDaemon& operator=(const FakeDaemon&) = delete;

  /// "unix:///tmp/pb-fuzz-XXXXXX/docker.sock".
  std::string endpoint() const { return "unix://" + m_socket.string(); }
  /// Sets what the daemon answers from now on (raw bytes of an HTTP response).
  void set_handler(Handler handler);

 private:
  void serve();
  void serve_one(int fd);

  std::filesystem::path m_dir;
  std::filesystem::path m_socket;
  int m_listen = -1;
  std::atomic<bool> m_stop{false};
  std::mutex m_mutex;
  Handler m_handler;
  std::thread m_thread;
};

/// "HTTP/1.1 <status> X\r\n<headers>Content-Length: N\r\n\r\n<body>".
std::string http_answer(unsigned status, const std::string& headers, std::string_view body);

/// The process-wide daemon (started on first use, stopped at exit).
FakeDaemon& daemon();

}  // namespace pb::fuzz
