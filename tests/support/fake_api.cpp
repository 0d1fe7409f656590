// pb_fake_api: a loopback stand-in for the Anthropic API, for end-to-end tests.
//
//   pb_fake_api --record FILE [--port 0] [--max-seconds 120]
//
// Listens on 127.0.0.1 only, prints the chosen port and a newline on stdout,
// then appends one JSON line per request to FILE:
//   {"time_ms":…,"method":"POST","target":"/v1/messages?beta=true","host":"…",
//    "authorization":"Bearer …"|null,"x_api_key":"…"|null}
// and answers every request with 401 and an Anthropic-style JSON error body.
// Tests also point HTTPS_PROXY/HTTP_PROXY here so that no request of the
// client leaves the machine: a CONNECT to this server itself (clients that
// ignore NO_PROXY tunnel even to the API at 127.0.0.1) gets 200 and the
// tunnel is served here like a plain connection; a CONNECT anywhere else gets
// 403 and the connection closes. It exits by itself after --max-seconds, or
// on SIGTERM/SIGINT.
//
// The recorded headers are test canaries by construction: this program only
// ever serves tests.

// GCC 12 flags Asio's scheduler internals after inlining (a false positive in
// boost/asio/detail/impl/scheduler.ipp); the check stays on everywhere else.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <CLI/CLI.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto k_io_timeout = std::chrono::seconds(30);
constexpr std::size_t k_body_limit = 16 * 1024 * 1024;

/// Appends request records to the file, one JSON object a line, flushed at once
/// so a test can read it while the server still runs.
class Recorder {
 public:
  explicit Recorder(const std::string& path) : m_out(path, std::ios::app) {}
  bool ok() const { return m_out.good(); }

  void record(const http::request<http::string_body>& req) {
    nlohmann::json line;
    line["time_ms"] =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    line["method"] = std::string(req.method_string());
    line["target"] = std::string(req.target());
    line["host"] = header_or_null(req, http::field::host);
    line["authorization"] = header_or_null(req, http::field::authorization);
    line["x_api_key"] = header_or_null(req, "x-api-key");
    m_out << line.dump() << '\n';
    m_out.flush();
  }

 private:
  template <class Field>
  static nlohmann::json header_or_null(const http::request<http::string_body>& req, Field field) {
    auto it = req.find(field);
    if (it == req.end()) return nullptr;
    return std::string(it->value());
  }

  std::ofstream m_out;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Recorder& recorder, unsigned short port)
      : m_stream(std::move(socket)), m_recorder(recorder), m_port(port) {}

  void start() { read(); }

 private:
  void read() {
    m_parser.emplace();
    m_parser->body_limit(k_body_limit);
    m_stream.expires_after(k_io_timeout);
    http::async_read(m_stream, m_buffer, *m_parser,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return close();
    auto req = m_parser->release();
    m_recorder.record(req);
    if (req.method() == http::verb::connect && is_self(req.target())) {
      // The tunnel ends here: answer 200 (no body, no length) and go on
      // reading requests from the same connection.
      m_tunnel_response = {};
      m_tunnel_response.version(req.version());
      m_tunnel_response.result(http::status::ok);
      m_tunnel_response.keep_alive(true);
      m_stream.expires_after(k_io_timeout);
      http::async_write(m_stream, m_tunnel_response, [self = shared_from_this()](beast::error_code wec, std::size_t) {
        if (wec) return self->close();
        self->read();
      });
      return;
    }
    const bool tunnel = req.method() == http::verb::connect;
    m_response = {};
    m_response.version(req.version());
    m_response.set(http::field::server, "pb-fake-api");
    m_response.set(http::field::content_type, "application/json");
    m_response.set("request-id", "req_pb_fake_api");
    if (tunnel) {
      m_response.result(http::status::forbidden);
      m_response.body() = R"({"type":"error","error":{"type":"permission_error","message":"no proxying from tests"}})";
      m_response.keep_alive(false);
    } else {
      m_response.result(http::status::unauthorized);
      m_response.body() = R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})";
      m_response.keep_alive(req.keep_alive());
    }
    m_response.prepare_payload();
    m_stream.expires_after(k_io_timeout);
    http::async_write(m_stream, m_response, [self = shared_from_this()](beast::error_code wec, std::size_t) {
      if (wec || !self->m_response.keep_alive()) return self->close();
      self->read();
    });
  }

  bool is_self(beast::string_view target) const {
    const std::string port = ":" + std::to_string(m_port);
    return target == "127.0.0.1" + port || target == "localhost" + port;
  }

  void close() {
    beast::error_code ignored;
    m_stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

  beast::tcp_stream m_stream;
  beast::flat_buffer m_buffer;
  std::optional<http::request_parser<http::string_body>> m_parser;
  http::response<http::string_body> m_response;
  http::response<http::empty_body> m_tunnel_response;
  Recorder& m_recorder;
  unsigned short m_port;
};

class Listener {
 public:
  Listener(asio::io_context& io, Recorder& recorder, unsigned short port)
      : m_io(io), m_acceptor(io), m_recorder(recorder) {
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
    m_acceptor.open(endpoint.protocol());
    m_acceptor.set_option(asio::socket_base::reuse_address(true));
    m_acceptor.bind(endpoint);
    m_acceptor.listen(asio::socket_base::max_listen_connections);
  }

  unsigned short port() const { return m_acceptor.local_endpoint().port(); }

  void accept() {
    m_acceptor.async_accept(asio::make_strand(m_io), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) std::make_shared<Session>(std::move(socket), m_recorder, port())->start();
      accept();
    });
  }

  void stop() {
    beast::error_code ignored;
    m_acceptor.close(ignored);
  }

 private:
  asio::io_context& m_io;
  tcp::acceptor m_acceptor;
  Recorder& m_recorder;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Loopback stand-in for the Anthropic API: records auth headers, answers 401"};
  unsigned short port = 0;
  std::string record;
  int max_seconds = 120;
  app.add_option("--port", port, "TCP port on 127.0.0.1 (0 picks a free one)");
  app.add_option("--record", record, "Append one JSON line per request to this file")->required();
  app.add_option("--max-seconds", max_seconds, "Exit after this many seconds")->check(CLI::Range(1, 3600));
  CLI11_PARSE(app, argc, argv);

  Recorder recorder(record);
  if (!recorder.ok()) {
    std::cerr << "pb_fake_api: cannot open the record file " << record << "\n";
    return 1;
  }
  try {
    asio::io_context io;
    Listener listener(io, recorder, port);
    listener.accept();

    asio::steady_timer deadline(io, std::chrono::seconds(max_seconds));
    deadline.async_wait([&](beast::error_code ec) {
      if (!ec) io.stop();
    });
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](beast::error_code, int) { io.stop(); });

    std::cout << listener.port() << std::endl;
    io.run();
    listener.stop();
  } catch (const std::exception& e) {
    std::cerr << "pb_fake_api: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
