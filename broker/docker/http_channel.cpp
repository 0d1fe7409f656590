#include "broker/docker/http_channel.hpp"

// GCC 12 flags Asio's scheduler internals after inlining (a false positive in
// boost/asio/detail/impl/scheduler.ipp); the check stays on everywhere else.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <fcntl.h>
#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <variant>

#include "core/platform.hpp"

extern char** environ;  // NOLINT: POSIX declares it nowhere

namespace pb::broker::docker {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using Local = net::local::stream_protocol;
using Tcp = net::ip::tcp;
using TlsStream = net::ssl::stream<Tcp::socket>;
using Stream = std::variant<Local::socket, Tcp::socket, std::unique_ptr<TlsStream>>;

constexpr std::size_t k_header_limit = 64 * 1024;
constexpr std::size_t k_stream_read_size = 64 * 1024;  ///< bytes asked of the socket per read of a streamed body

/// The system's OpenSSL configuration ($OPENSSL_CONF or openssl.cnf: protocol
/// and cipher policy) for TLS, once per process: para-broker starts OpenSSL
/// without it (vault::init_crypto_library()), and only TLS has a use for it.
void load_tls_configuration() {
  static std::once_flag once;
  std::call_once(once, [] { (void)CONF_modules_load_file(nullptr, nullptr, CONF_MFLAGS_IGNORE_MISSING_FILE); });
}

template <class T>
T& deref(T& s) {
  return s;
}
template <class T>
T& deref(std::unique_ptr<T>& p) {
  return *p;
}

void close_lowest(Local::socket& s) {
  error_code ignored;
  s.close(ignored);
}
void close_lowest(Tcp::socket& s) {
  error_code ignored;
  s.close(ignored);
}
void close_lowest(TlsStream& s) {
  error_code ignored;
  s.lowest_layer().close(ignored);
}

inline void take_bytes(std::size_t&) {}
template <class First, class... Rest>
void take_bytes(std::size_t& n, First&& first, Rest&&...) {
  if constexpr (std::is_convertible_v<std::decay_t<First>, std::size_t>) n = static_cast<std::size_t>(first);
}

std::string seconds_text(std::chrono::milliseconds ms) {
  if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000) + "s";
  return std::to_string(ms.count()) + "ms";
}

std::string openssl_reason(const error_code& ec) {
  std::string msg = ec.message();
  if (ec.category() == net::error::get_ssl_category()) {
    const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
    if (reason != nullptr) msg = reason;
  }
  return msg;
}

bool is_ip_address(const std::string& host) {
  error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

/// The ssh child of an ssh:// channel, as the docker CLI's connection helper
/// runs it: its stdin and stdout are one end of a socket pair (the channel
/// speaks HTTP over the other end), its stderr an unlinked temporary file
/// kept for the sentence when the connection fails (a file, not a pipe: what
/// ssh writes there during a long stream, a chatty LogLevel say, can never
/// fill a pipe nobody reads and stop it). It gets our environment without the
/// PARA_BROKER_* variables, and no terminal: with no terminal of ours either,
/// BatchMode keeps it from waiting for an answer nobody gives.
class SshProcess {
 public:
  SshProcess() = default;
  SshProcess(const SshProcess&) = delete;
  SshProcess& operator=(const SshProcess&) = delete;
  ~SshProcess() { stop(); }

  /// Starts ssh; the channel's end of the socket pair, or why not.
  Result<int> start(const SshTarget& target) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0)
      return fail(ErrorKind::failure, std::string("cannot make a socket pair for ssh: ") + std::strerror(errno));
    const int err = stderr_file();
    if (err < 0) {
      const int e = errno;
      ::close(pair[0]);
      ::close(pair[1]);
      return fail(ErrorKind::failure,
                  std::string("cannot make a temporary file for ssh's messages: ") + std::strerror(e));
    }
    // Close-on-exec at once (the child's ends reach it through dup2, which
    // clears the flag), and the spawn closes everything else of ours.
    for (int fd : {pair[0], pair[1], err}) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    std::vector<std::string> args = ssh_arguments(target, ssh_control_dir());
    args.insert(args.begin(), "ssh");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e)
      if (std::strncmp(*e, "PARA_BROKER_", 12) != 0) envp.push_back(*e);
    envp.push_back(nullptr);
    // Every setup call must succeed: a child that would get our stdin or
    // every descriptor of ours is not started.
    int setup = 0;
    posix_spawn_file_actions_t actions;
    setup |= posix_spawn_file_actions_init(&actions);
    setup |= posix_spawn_file_actions_adddup2(&actions, pair[1], STDIN_FILENO);
    setup |= posix_spawn_file_actions_adddup2(&actions, pair[1], STDOUT_FILENO);
    setup |= posix_spawn_file_actions_adddup2(&actions, err, STDERR_FILENO);
    posix_spawnattr_t attr;
    setup |= posix_spawnattr_init(&attr);
    // A session of its own, as the docker CLI starts ssh: no terminal to
    // prompt on or be stopped by, and a Ctrl-C meant for a terminal session
    // reaches the container through the stream, not ssh. (Where there is no
    // POSIX_SPAWN_SETSID, a process group of its own; BatchMode keeps it from
    // prompting.) Signals start at their defaults and unblocked, whatever we
    // ignore or block.
#ifdef POSIX_SPAWN_SETSID
    short flags = POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
#else
    short flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
#endif
    sigset_t defaults, none;
    sigemptyset(&defaults);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGQUIT}) sigaddset(&defaults, sig);
    sigemptyset(&none);
    setup |= posix_spawnattr_setsigdefault(&attr, &defaults);
    setup |= posix_spawnattr_setsigmask(&attr, &none);
    // Nothing else of ours reaches ssh (a lock left open would outlive us in
    // a multiplexing master).
    setup |= platform::spawn_closes_other_fds(&actions, &flags);
    setup |= posix_spawnattr_setflags(&attr, flags);
    setup |= posix_spawnattr_setpgroup(&attr, 0);
    pid_t pid = -1;
    const int rc = setup != 0 ? EINVAL : ::posix_spawnp(&pid, "ssh", &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(pair[1]);
    if (rc != 0) {
      ::close(pair[0]);
      ::close(err);
      return fail(ErrorKind::unreachable, std::string("cannot run ssh to reach Docker over ssh://: ") +
                                              std::strerror(rc) + " (is an OpenSSH client on PATH?)");
    }
    m_pid = pid;
    m_err = err;
    // Asio sets SO_NOSIGPIPE only on sockets it makes: an ssh that dies while
    // we write must not end us with SIGPIPE.
    (void)platform::socket_without_sigpipe(pair[0]);
    return pair[0];
  }

  /// Why the connection ended, in ssh's words: waits up to 2 s for ssh to
  /// exit, then "ssh exited with N: <its last line>" (empty while it runs).
  std::string failure() {
    for (int i = 0; i < 40 && m_pid > 0 && !reap(false); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (m_pid > 0) return {};
    std::string said = last_line(read_stderr());
    std::string text = m_status >= 0 ? "ssh exited with " + std::to_string(m_status) : "ssh was killed";
    if (!said.empty()) text += ": " + said;
    return text;
  }

 private:
  /// Ends ssh: its stdin is closed with the channel, so it exits by itself;
  /// if not within 2 s it gets SIGTERM, then SIGKILL.
  void stop() {
    for (int i = 0; i < 40 && m_pid > 0 && !reap(false); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (m_pid > 0) {
      ::kill(m_pid, SIGTERM);
      for (int i = 0; i < 20 && !reap(false); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (m_pid > 0) {
      ::kill(m_pid, SIGKILL);
      reap(true);
    }
    if (m_err >= 0) ::close(m_err);
    m_err = -1;
  }

  bool reap(bool block) {
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(m_pid, &status, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return false;
    m_status = r == m_pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    m_pid = -1;
    return true;
  }

  /// A file for ssh's stderr: made private (0600) in the temporary
  /// directory and unlinked at once, so only the two descriptors know it.
  static int stderr_file() {
    const char* dir = std::getenv("TMPDIR");
    std::string pattern = std::string(dir != nullptr && *dir == '/' ? dir : "/tmp") + "/para-broker-ssh.XXXXXX";
    const int fd = ::mkostemp(pattern.data(), O_CLOEXEC);
    if (fd >= 0) ::unlink(pattern.c_str());
    return fd;
  }

  /// The last 4 KiB of what ssh wrote on stderr (a long banner must not hide its last line).
  std::string read_stderr() {
    std::string out;
    if (m_err < 0) return out;
    struct stat st {};
    if (::fstat(m_err, &st) != 0 || st.st_size <= 0) return out;
    const off_t from = st.st_size > 4096 ? st.st_size - 4096 : 0;
    out.resize(static_cast<std::size_t>(st.st_size - from));
    ssize_t n;
    do {
      n = ::pread(m_err, out.data(), out.size(), from);
    } while (n < 0 && errno == EINTR);
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
  }

  static std::string last_line(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    if (const auto nl = s.find_last_of("\r\n"); nl != std::string::npos) s = s.substr(nl + 1);
    if (s.size() > 300) s.resize(300);
    return printable(s);
  }

  pid_t m_pid = -1;
  int m_err = -1;
  int m_status = -1;
};

class Channel final : public HttpChannel {
 public:
  Channel(const EngineConfig& config, std::string what) : m_config(config), m_what(std::move(what)) {}

  Status open() {
    const std::string& host = m_config.host;
    if (host.starts_with("ssh://")) {
      PB_TRY(SshTarget target, parse_ssh_url(host, m_config.origin));
      m_ssh.emplace();
      PB_TRY(int fd, m_ssh->start(target));
      Local::socket sock(m_ioc);
      error_code ec;
      sock.assign(Local(), fd, ec);
      if (ec) {
        ::close(fd);
        return connect_error(ec);
      }
      m_stream.emplace<Local::socket>(std::move(sock));
      return {};
    }
    if (host.starts_with("unix://")) {
      Local::socket sock(m_ioc);
      Local::endpoint ep(host.substr(7));
      m_stream.emplace<Local::socket>(std::move(sock));
      auto& s = std::get<Local::socket>(m_stream);
      error_code ec = run([&](auto h) { s.async_connect(ep, h); }, m_config.connect_timeout);
      if (ec) return connect_error(ec);
      return {};
    }
    // tcp://host:port
    std::string rest = host.substr(6);
    auto colon = rest.rfind(':');
    std::string name = rest.substr(0, colon);
    std::string port = colon == std::string::npos ? (m_config.tls ? "2376" : "2375") : rest.substr(colon + 1);
    if (name.size() > 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
    m_host_name = name;
    Tcp::resolver resolver(m_ioc);
    Tcp::resolver::results_type results;
    error_code ec = run(
        [&](auto h) {
          resolver.async_resolve(name, port, [h, &results](error_code e, Tcp::resolver::results_type r) mutable {
            results = std::move(r);
            h(e, std::size_t{0});
          });
        },
        m_config.connect_timeout);
    if (ec) return connect_error(ec);
    Tcp::socket sock(m_ioc);
    ec = run([&](auto h) { net::async_connect(sock, results, h); }, m_config.connect_timeout,
             [&] { close_lowest(sock); });
    if (ec) return connect_error(ec);
    error_code ignored;
    sock.set_option(Tcp::no_delay(true), ignored);
    if (!m_config.tls) {
      m_stream.emplace<Tcp::socket>(std::move(sock));
      return {};
    }
    return start_tls(std::move(sock));
  }

  Result<HttpResponse> round_trip(const HttpRequest& request, std::size_t limit) override {
    PB_TRY_STATUS(send(request));
    // A HEAD answer carries Content-Length but no body.
    return read_response(limit, request.method == "HEAD");
  }

  Result<HttpResponse> send_and_read_head(const HttpRequest& request) override {
    PB_TRY_STATUS(send(request));
    m_parser.emplace();
    m_parser->header_limit(k_header_limit);
    // Not boost::none: Beast 1.74 compares a Content-Length against an empty
    // optional as "over the limit".
    m_parser->body_limit(std::numeric_limits<std::uint64_t>::max());
    if (request.method == "HEAD") m_parser->skip(true);
    error_code ec = visit_run([&](auto& s, auto h) { http::async_read_header(s, m_buffer, *m_parser, h); },
                              m_config.request_timeout);
    if (ec) return io_error(ec, "reading the answer");
    HttpResponse head = to_response(m_parser->get().base());
    if (request.upgrade) m_raw = true;
    return head;
  }

  Result<std::size_t> read_body(std::span<std::byte> out) override {
    if (!m_parser || out.empty()) return std::size_t{0};
    // Beast asks the socket for what the buffer has room for (at least 512
    // bytes): left to grow by itself, the buffer kept a 1 GiB image export at
    // two million reads of ~512 bytes. (Reserving this much for every answer
    // made a cached probe slower, measured: small answers keep 512.)
    if (m_buffer.capacity() < k_stream_read_size) m_buffer.reserve(k_stream_read_size);
    while (!m_parser->is_done()) {
      auto& body = m_parser->get().body();
      body.data = out.data();
      body.size = out.size();
      error_code ec =
          visit_run([&](auto& s, auto h) { http::async_read(s, m_buffer, *m_parser, h); }, m_config.request_timeout);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return io_error(ec, "reading the body");
      std::size_t n = out.size() - m_parser->get().body().size;
      if (n > 0) return n;
    }
    return std::size_t{0};
  }

  Status send_chunked_head(const HttpRequest& request) override {
    http::request<http::empty_body> req{verb(request.method), request.target, 11};
    set_common_fields(req, request);
    req.chunked(true);
    http::request_serializer<http::empty_body> sr{req};
    error_code ec = visit_run([&](auto& s, auto h) { http::async_write_header(s, sr, h); }, m_config.request_timeout);
    if (ec) return io_error(ec, "sending the request");
    return {};
  }

  Status write_chunk(std::span<const std::byte> bytes) override {
    if (bytes.empty()) return {};
    error_code ec = visit_run(
        [&](auto& s, auto h) {
          net::async_write(s, http::make_chunk(net::const_buffer(bytes.data(), bytes.size())), h);
        },
        m_config.request_timeout);
    if (ec) return io_error(ec, "sending the body");
    return {};
  }

  Result<HttpResponse> finish_chunked(std::size_t limit) override {
    error_code ec =
        visit_run([&](auto& s, auto h) { net::async_write(s, http::make_chunk_last(), h); }, m_config.request_timeout);
    if (ec) return io_error(ec, "ending the body");
    return read_response(limit);
  }

  Result<HttpResponse> read_early_response(std::size_t limit) override {
    if (m_broken) return fail(ErrorKind::unreachable, "no answer");
    return read_response(limit);
  }

  Result<std::size_t> raw_read(std::span<std::byte> out, std::chrono::milliseconds timeout) override {
    if (out.empty()) return std::size_t{0};
    if (m_buffer.size() > 0) {
      std::size_t n = std::min(out.size(), m_buffer.size());
      std::memcpy(out.data(), m_buffer.data().data(), n);
      m_buffer.consume(n);
      return n;
    }
    std::size_t n = 0;
    error_code ec = visit_run(
        [&](auto& s, auto h) { s.async_read_some(net::mutable_buffer(out.data(), out.size()), h); }, timeout, &n);
    if (ec == net::error::eof || ec == net::ssl::error::stream_truncated) return std::size_t{0};
    if (ec) return io_error(ec, "reading the stream");
    return n;
  }

  Status raw_write(std::span<const std::byte> bytes) override {
    error_code ec =
        visit_run([&](auto& s, auto h) { net::async_write(s, net::const_buffer(bytes.data(), bytes.size()), h); },
                  m_config.request_timeout);
    if (ec) return io_error(ec, "writing the stream");
    return {};
  }

  Status raw_close_write() override {
    error_code ec;
    std::visit(
        [&](auto& holder) {
          auto& s = deref(holder);
          using S = std::decay_t<decltype(s)>;
          if constexpr (std::is_same_v<S, TlsStream>) {
            // Send close_notify without waiting for the peer's: TLS half-close.
            ::SSL_shutdown(s.native_handle());
            // Asio flushes the engine's pending output on the next write; an empty write does it.
            std::size_t n = 0;
            ec = run([&](auto h) { s.async_write_some(net::const_buffer(nullptr, 0), h); }, m_config.request_timeout,
                     [&] { close_lowest(s); }, &n);
          } else {
            s.shutdown(net::socket_base::shutdown_send, ec);
          }
        },
        m_stream);
    if (ec) return io_error(ec, "closing the input");
    return {};
  }

  Status relay_terminal(int in_fd, int out_fd, const std::function<void()>& on_resize) override;

 private:
  template <class Start>
  error_code run(Start&& start, std::chrono::milliseconds timeout, const std::function<void()>& abort,
                 std::size_t* bytes = nullptr) {
    error_code result;
    bool done = false;
    std::size_t n = 0;
    start([&result, &done, &n](error_code ec, auto&&... rest) {
      result = ec;
      done = true;
      take_bytes(n, rest...);
    });
    m_ioc.restart();
    if (timeout.count() > 0)
      m_ioc.run_for(timeout);
    else
      m_ioc.run();
    if (!done) {
      abort();
      m_ioc.restart();
      m_ioc.run();
      m_broken = true;
      return beast::error::timeout;
    }
    if (bytes != nullptr) *bytes = n;
    return result;
  }

  template <class Start>
  error_code run(Start&& start, std::chrono::milliseconds timeout) {
    return run(std::forward<Start>(start), timeout, [this] { abort(); });
  }

  /// Runs `start(stream, handler)` on whichever stream this channel has.
  template <class Start>
  error_code visit_run(Start&& start, std::chrono::milliseconds timeout, std::size_t* bytes = nullptr) {
    return std::visit(
        [&](auto& holder) {
          auto& s = deref(holder);
          return run([&](auto h) { start(s, h); }, timeout, [this] { abort(); }, bytes);
        },
        m_stream);
  }

  void abort() {
    std::visit([](auto& holder) { close_lowest(deref(holder)); }, m_stream);
  }

  Status start_tls(Tcp::socket sock) {
    load_tls_configuration();
    net::ssl::context ctx(net::ssl::context::tls_client);
    ctx.set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 | net::ssl::context::no_sslv3 |
                    net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1);
    error_code ec;
    const auto ca = m_config.cert_path / "ca.pem";
    const auto cert = m_config.cert_path / "cert.pem";
    const auto key = m_config.cert_path / "key.pem";
    if (m_config.tls_verify) {
      ctx.load_verify_file(ca.string(), ec);
      if (ec)
        return fail(ErrorKind::unreachable, "cannot load the Docker CA certificate " + ca.string() + ": " +
                                                openssl_reason(ec) + "; check DOCKER_CERT_PATH");
      ctx.set_verify_mode(net::ssl::verify_peer | net::ssl::verify_fail_if_no_peer_cert);
    } else {
      ctx.set_verify_mode(net::ssl::verify_none);
    }
    std::error_code fec;
    if (std::filesystem::exists(cert, fec) && std::filesystem::exists(key, fec)) {
      ctx.use_certificate_chain_file(cert.string(), ec);
      if (!ec) ctx.use_private_key_file(key.string(), net::ssl::context::pem, ec);
      if (ec)
        return fail(ErrorKind::unreachable, "cannot load the Docker client certificate " + cert.string() + " / " +
                                                key.string() + ": " + openssl_reason(ec) + "; check DOCKER_CERT_PATH");
    }
    auto tls = std::make_unique<TlsStream>(std::move(sock), ctx);
    SSL* ssl = tls->native_handle();
    if (!is_ip_address(m_host_name)) SSL_set_tlsext_host_name(ssl, m_host_name.c_str());
    if (m_config.tls_verify) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      int ok = is_ip_address(m_host_name) ? X509_VERIFY_PARAM_set1_ip_asc(param, m_host_name.c_str())
                                          : X509_VERIFY_PARAM_set1_host(param, m_host_name.c_str(), 0);
      if (ok != 1) return fail(ErrorKind::unreachable, "cannot check the Docker host name '" + m_host_name + "'");
    }
    m_stream.emplace<std::unique_ptr<TlsStream>>(std::move(tls));
    auto& s = *std::get<std::unique_ptr<TlsStream>>(m_stream);
    ec = run([&](auto h) { s.async_handshake(net::ssl::stream_base::client, h); }, m_config.connect_timeout);
    if (ec == beast::error::timeout) return connect_error(ec);
    if (ec) {
      std::string why = openssl_reason(ec);
      long verify = SSL_get_verify_result(ssl);
      if (verify != X509_V_OK) why = X509_verify_cert_error_string(verify);
      return fail(ErrorKind::unreachable, "TLS handshake with Docker at " + m_config.host + " failed: " + why +
                                              "; check the certificates in DOCKER_CERT_PATH (" +
                                              m_config.cert_path.string() + ")");
    }
    return {};
  }

  static http::verb verb(const std::string& method) { return http::string_to_verb(method); }

  template <class Message>
  void set_common_fields(Message& req, const HttpRequest& request) {
    req.set(http::field::host, m_host_name.empty() ? std::string("docker") : m_host_name);
    req.set(http::field::user_agent, "para-broker/" PB_VERSION);
    if (!request.content_type.empty()) req.set(http::field::content_type, request.content_type);
    if (request.upgrade) {
      req.set(http::field::connection, "Upgrade");
      req.set(http::field::upgrade, "tcp");
    }
  }

  Status send(const HttpRequest& request) {
    http::request<http::string_body> req{verb(request.method), request.target, 11};
    set_common_fields(req, request);
    req.body() = request.body;
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT") req.prepare_payload();
    error_code ec = visit_run([&](auto& s, auto h) { http::async_write(s, req, h); }, m_config.request_timeout);
    if (ec) return io_error(ec, "sending the request");
    return {};
  }

  Result<HttpResponse> read_response(std::size_t limit, bool head_only = false) {
    http::response_parser<http::string_body> parser;
    parser.skip(head_only);
    parser.header_limit(k_header_limit);
    parser.body_limit(limit);
    error_code ec =
        visit_run([&](auto& s, auto h) { http::async_read(s, m_buffer, parser, h); }, m_config.request_timeout);
    if (ec == http::error::body_limit)
      return fail(ErrorKind::unsafe_input, "Docker's answer to " + m_what + " is larger than " +
                                               std::to_string(limit / (1024 * 1024)) + " MiB; refused");
    if (ec) return io_error(ec, "reading the answer");
    HttpResponse r = to_response(parser.get().base());
    r.body = std::move(parser.get().body());
    return r;
  }

  template <class Header>
  static HttpResponse to_response(const Header& h) {
    HttpResponse r;
    r.status = h.result_int();
    for (const auto& f : h) {
      std::string name(f.name_string());
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      r.headers[name] = std::string(f.value());
    }
    return r;
  }

  /// Over ssh, what ssh said when the connection ended ("" otherwise).
  std::string ssh_failure() {
    if (!m_ssh) return {};
    const std::string why = m_ssh->failure();
    return why.empty() ? std::string() : "; " + why;
  }

  Error connect_error(const error_code& ec) {
    m_broken = true;
    if (ec == beast::error::timeout)
      return fail(ErrorKind::timeout, "Docker at " + m_config.host + " did not accept a connection within " +
                                          seconds_text(m_config.connect_timeout) + " (to " + m_what +
                                          "); the daemon is overloaded or stuck");
    return fail(ErrorKind::unreachable,
                "Docker did not answer at " + m_config.host + ": " + ec.message() + "; " + unreachable_hint(m_config));
  }

  Error io_error(const error_code& ec, const std::string& stage) {
    m_broken = true;
    if (ec == beast::error::timeout)
      return fail(ErrorKind::timeout, "Docker at " + m_config.host + " did not answer within " +
                                          seconds_text(m_config.request_timeout) + " (" + stage + " to " + m_what +
                                          "); the daemon is overloaded or stuck (PARA_BROKER_DOCKER_TIMEOUT "
                                          "sets the limit in seconds)");
    if (m_ssh)
      return fail(ErrorKind::unreachable, "the connection to Docker at " + m_config.host + " broke while " + stage +
                                              " to " + m_what + ssh_failure() + "; " + unreachable_hint(m_config));
    return fail(ErrorKind::unreachable, "the connection to Docker at " + m_config.host + " broke while " + stage +
                                            " to " + m_what + ": " + printable(openssl_reason(ec)));
  }

  EngineConfig m_config;
  std::string m_what;
  std::string m_host_name;
  std::optional<SshProcess> m_ssh;  ///< before the stream: ends after the stream closed its stdin
  net::io_context m_ioc;
  Stream m_stream{std::in_place_index<0>, m_ioc};
  beast::flat_buffer m_buffer;
  std::optional<http::response_parser<http::buffer_body>> m_parser;
  bool m_raw = false;
  bool m_broken = false;
};

// ------------------------------------------------------------ terminal relay

/// Pumps bytes between the terminal and the hijacked stream in one thread,
/// with Asio: no locks, and TLS streams (not thread-safe) work too.
template <class S>
class Relay {
 public:
  Relay(net::io_context& ioc, S& stream, beast::flat_buffer& pending, int in_fd, int out_fd,
        const std::function<void()>& on_resize)
      : m_ioc(ioc),
        m_stream(stream),
        m_pending(pending),
        m_in(ioc),
        m_out_fd(out_fd),
        m_signals(ioc, SIGWINCH, SIGTERM, SIGHUP),
        m_on_resize(on_resize) {
    m_signals.add(SIGINT);
    int dup_fd = ::dup(in_fd);
    if (dup_fd >= 0) m_in.assign(dup_fd);
  }

  Status run() {
    if (!m_in.is_open())
      return fail(ErrorKind::failure, "cannot read the terminal: " + std::string(std::strerror(errno)));
    // Output the daemon sent together with the response head.
    if (m_pending.size() > 0) {
      if (!write_out(static_cast<const char*>(m_pending.data().data()), m_pending.size()))
        return fail(ErrorKind::failure, "cannot write to the terminal");
      m_pending.consume(m_pending.size());
    }
    read_stream();
    read_input();
    wait_signal();
    m_ioc.restart();
    m_ioc.run();
    if (!m_error.message.empty()) return m_error;
    return {};
  }

 private:
  void stop(Error e = {}) {
    if (m_stopped) return;
    m_stopped = true;
    m_error = std::move(e);
    error_code ignored;
    m_signals.cancel(ignored);
    m_in.cancel(ignored);
    close_lowest(m_stream);
  }

  bool write_out(const char* p, std::size_t n) {
    while (n > 0) {
      ssize_t w = ::write(m_out_fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }

  void read_stream() {
    m_stream.async_read_some(net::buffer(m_from_container), [this](error_code ec, std::size_t n) {
      if (m_stopped) return;
      if (n > 0 && !write_out(m_from_container.data(), n))
        return stop(fail(ErrorKind::failure, "cannot write to the terminal"));
      if (ec) return stop();  // the container's output ended (EOF) or the connection closed
      read_stream();
    });
  }

  void read_input() {
    m_in.async_read_some(net::buffer(m_from_terminal), [this](error_code ec, std::size_t n) {
      if (m_stopped) return;
      if (ec || n == 0) return stop();  // the terminal went away
      net::async_write(m_stream, net::buffer(m_from_terminal.data(), n), [this](error_code wec, std::size_t) {
        if (m_stopped) return;
        if (wec) return stop();
        read_input();
      });
    });
  }

  void wait_signal() {
    m_signals.async_wait([this](error_code ec, int sig) {
      if (m_stopped || ec) return;
      if (sig == SIGWINCH) {
        m_on_resize();
        return wait_signal();
      }
      stop(fail(ErrorKind::failure, std::string("the terminal session was interrupted by ") + ::strsignal(sig)));
    });
  }

  net::io_context& m_ioc;
  S& m_stream;
  beast::flat_buffer& m_pending;
  net::posix::stream_descriptor m_in;
  int m_out_fd;
  net::signal_set m_signals;
  const std::function<void()>& m_on_resize;
  std::array<char, 16384> m_from_container{};
  std::array<char, 4096> m_from_terminal{};
  bool m_stopped = false;
  Error m_error;
};

Status Channel::relay_terminal(int in_fd, int out_fd, const std::function<void()>& on_resize) {
  return std::visit(
      [&](auto& holder) {
        auto& s = deref(holder);
        Relay<std::decay_t<decltype(s)>> relay(m_ioc, s, m_buffer, in_fd, out_fd, on_resize);
        return relay.run();
      },
      m_stream);
}

}  // namespace

std::string unreachable_hint(const EngineConfig& config) {
  if (config.host.starts_with("unix://")) return "start dockerd or set DOCKER_HOST";
  if (config.host.starts_with("ssh://"))
    return "check that 'ssh HOST docker system dial-stdio' works from this shell without a prompt (the docker CLI "
           "runs the same)";
  return "start dockerd there or correct DOCKER_HOST";
}

Result<std::unique_ptr<HttpChannel>> open_channel(const EngineConfig& config, const std::string& what) {
  auto channel = std::make_unique<Channel>(config, what);
  PB_TRY_STATUS(channel->open());
  return std::unique_ptr<HttpChannel>(std::move(channel));
}

}  // namespace pb::broker::docker
