#pragma once
// One HTTP/1.1 connection to the Docker Engine (unix socket, TCP or TLS), with
// blocking calls bounded by timeouts. Private to broker/docker: Beast and Asio
// types stay in the .cpp files. A channel serves one request; the client opens
// a new one per call, so calls never share state and a broken stream never
// poisons the next request.

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "broker/docker/connect.hpp"
#include "core/error.hpp"
#include "core/text.hpp"

namespace pb::broker::docker {

struct HttpRequest {
  std::string method;  ///< "GET", "POST", "PUT", "HEAD", "DELETE"
  std::string target;  ///< "/v1.41/containers/json?all=1"
  std::string body;
  std::string content_type;  ///< set when body is not empty or chunked upload
  bool upgrade = false;      ///< ask for a hijacked raw stream (Upgrade: tcp)
};

struct HttpResponse {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  ///< names in lower case
  std::string body;
};

/// How a channel's errors are phrased: the endpoint and the operation.
struct Operation {
  std::string endpoint;  ///< "unix:///var/run/docker.sock"
  std::string what;      ///< "inspect image 'busybox'"
};

class HttpChannel {
 public:
  virtual ~HttpChannel() = default;

  /// Sends a whole request and reads a whole response (body at most `limit` bytes).
  virtual Result<HttpResponse> round_trip(const HttpRequest& request, std::size_t limit) = 0;

  /// Sends a request and reads the response head; the body follows via read_body().
  virtual Result<HttpResponse> send_and_read_head(const HttpRequest& request) = 0;
  /// Reads the next piece of the response body; 0 at its end.
  virtual Result<std::size_t> read_body(std::span<std::byte> out) = 0;

  /// Sends a request head announcing a chunked body.
  virtual Status send_chunked_head(const HttpRequest& request) = 0;
  /// Sends one chunk of the body.
  virtual Status write_chunk(std::span<const std::byte> bytes) = 0;
  /// Ends the chunked body and reads the whole response.
  virtual Result<HttpResponse> finish_chunked(std::size_t limit) = 0;
  /// After a failed write: the daemon's early answer, if it sent one.
  virtual Result<HttpResponse> read_early_response(std::size_t limit) = 0;

  /// After send_and_read_head() of an upgrade request: the raw stream.
  virtual Result<std::size_t> raw_read(std::span<std::byte> out, std::chrono::milliseconds timeout) = 0;
  virtual Status raw_write(std::span<const std::byte> bytes) = 0;
  /// Half-closes the sending side (the container sees EOF on stdin).
  virtual Status raw_close_write() = 0;

  /// Relays a hijacked TTY stream to and from the terminal fds until the
  /// stream ends, the input ends, or SIGTERM/SIGHUP/SIGINT arrives.
  /// `on_resize` runs on SIGWINCH.
  virtual Status relay_terminal(int in_fd, int out_fd, const std::function<void()>& on_resize) = 0;
};

/// Opens a connection to `config.host` (TLS handshake included).
Result<std::unique_ptr<HttpChannel>> open_channel(const EngineConfig& config, const std::string& what);

/// "Docker did not answer at …" style sentence for a transport failure.
std::string unreachable_hint(const EngineConfig& config);

}  // namespace pb::broker::docker
