// EngineClient (engine_internal.hpp): the hijacked connections. A command run
// in a container (exec) and a terminal attached to one.

#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <array>

#include "broker/docker/engine_internal.hpp"

namespace pb::broker::docker::detail {

namespace {

/// After an exec's output ends, how often and how long its exit code is looked for.
constexpr int k_exit_code_looks = 50;
constexpr std::chrono::milliseconds k_exit_code_pause{20};

/// Restores the terminal's mode when it goes out of scope, on every path.
class RawTerminal {
 public:
  explicit RawTerminal(int fd) : m_fd(fd) {
    if (::isatty(fd) == 1 && ::tcgetattr(fd, &m_saved) == 0) {
      termios raw = m_saved;
      ::cfmakeraw(&raw);
      if (::tcsetattr(fd, TCSANOW, &raw) == 0) m_active = true;
    }
  }
  ~RawTerminal() {
    if (m_active) ::tcsetattr(m_fd, TCSANOW, &m_saved);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  int m_fd;
  termios m_saved{};
  bool m_active = false;
};

}  // namespace

Result<std::string> EngineClient::exec_create(const std::string& container_id, const ExecSpec& spec) {
  const std::string op = "run a command in container " + short_id(container_id);
  PB_TRY(auto r, call("POST", "/containers/" + url_encode(container_id) + "/exec", exec_create_body(spec), op));
  PB_TRY_STATUS(expect(r, op));
  return parse_created_id(r.body, op, "an exec ID");
}

Result<ExecResult> EngineClient::exec_start(const std::string& exec_id, const ExecOptions& options) {
  PB_TRY(ExecState state, exec_inspect(exec_id));
  const std::chrono::milliseconds timeout =
      options.timeout ? std::chrono::duration_cast<std::chrono::milliseconds>(*options.timeout)
                      : m_config.request_timeout;
  const auto deadline = m_clock.now() + timeout;
  PB_TRY(auto channel, exec_stream(exec_id, state.tty, options.input, timeout));
  ExecResult result;
  PB_TRY_STATUS(read_exec_output(*channel, exec_id, state.tty, options.max_output, deadline, timeout, result));
  // The stream ends as the process exits; the exit code may lag behind briefly.
  for (int look = 0; look < k_exit_code_looks; ++look) {
    PB_TRY(state, exec_inspect(exec_id));
    if (!state.running) {
      result.exit_code = state.exit_code;
      return result;
    }
    m_clock.sleep(k_exit_code_pause);
  }
  return fail(ErrorKind::timeout, "exec " + short_id(exec_id) + " still runs after its output ended");
}

Status EngineClient::container_resize(const std::string& id, unsigned rows, unsigned cols) {
  const std::string op = "resize the terminal of container " + short_id(id);
  PB_TRY(
      auto r,
      call("POST", "/containers/" + url_encode(id) + "/resize?h=" + std::to_string(rows) + "&w=" + std::to_string(cols),
           {}, op));
  return expect(r, op);
}

Status EngineClient::attach_terminal(const std::string& id, const TerminalOptions& options) {
  const std::string op = "attach to container " + short_id(id);
  PB_TRY(std::string prefix, api_prefix());
  PB_TRY(auto channel, m_open(m_config, op));
  PB_TRY_STATUS(upgrade(
      *channel,
      {"POST", prefix + "/containers/" + url_encode(id) + "/attach?stream=1&stdin=1&stdout=1&stderr=1", {}, {}, true},
      op));
  if (options.start) PB_TRY_STATUS(container_start(id));
  auto resize = [&] {
    winsize ws{};
    int fd = ::isatty(options.out_fd) == 1 ? options.out_fd : options.in_fd;
    if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
      // A failed resize (container already gone) must not end the session.
      (void)container_resize(id, ws.ws_row, ws.ws_col);
    }
  };
  resize();
  RawTerminal raw(options.in_fd);
  return channel->relay_terminal(options.in_fd, options.out_fd, resize);
}

/// Sends an upgrade request (exec start, attach); a refusal is an Error with the daemon's message.
Status EngineClient::upgrade(HttpChannel& channel, const HttpRequest& request, const std::string& op) const {
  PB_TRY(HttpResponse head, channel.send_and_read_head(request));
  if (head.status != 101 && head.status != 200) return refused(channel, head, op);
  return {};
}

Result<ExecState> EngineClient::exec_inspect(const std::string& exec_id) {
  const std::string op = "inspect exec " + short_id(exec_id);
  PB_TRY(std::string body, get("/exec/" + url_encode(exec_id) + "/json", op));
  return parse_exec_inspect(body, op);
}

/// Starts an exec on a hijacked connection (its timeout `timeout`), sends
/// `input` and, unless it has a TTY, closes its stdin.
Result<std::unique_ptr<HttpChannel>> EngineClient::exec_stream(const std::string& exec_id, bool tty,
                                                               const std::string& input,
                                                               std::chrono::milliseconds timeout) {
  const std::string op = "run exec " + short_id(exec_id);
  EngineConfig cfg = m_config;
  cfg.request_timeout = timeout;
  PB_TRY(std::string prefix, api_prefix());
  PB_TRY(auto channel, m_open(cfg, op));
  PB_TRY_STATUS(upgrade(
      *channel,
      {"POST", prefix + "/exec/" + url_encode(exec_id) + "/start", exec_start_body(tty), "application/json", true},
      op));
  if (!input.empty()) PB_TRY_STATUS(channel->raw_write(std::as_bytes(std::span(input))));
  // EOF on stdin. Not for a TTY: closing its input hangs the session up and
  // output still in flight would be lost; the process ends on its own there.
  if (!tty) PB_TRY_STATUS(channel->raw_close_write());
  return channel;
}

/// Reads an exec's output until its stream ends or `deadline` passes.
Status EngineClient::read_exec_output(HttpChannel& channel, const std::string& exec_id, bool tty,
                                      std::size_t max_output, std::chrono::steady_clock::time_point deadline,
                                      std::chrono::milliseconds timeout, ExecResult& result) {
  OutputCollector output(tty, max_output);
  std::array<std::byte, 65536> buf{};
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - m_clock.now());
    if (left.count() <= 0) left = std::chrono::milliseconds(1);
    auto n = channel.raw_read(buf, left);
    if (!n.ok()) {
      if (n.error().kind == ErrorKind::timeout)
        return fail(ErrorKind::timeout, "the command in exec " + short_id(exec_id) + " did not finish within " +
                                            std::to_string(timeout.count() / 1000) + "s");
      return std::move(n).error();
    }
    if (*n == 0) break;
    output.feed(std::span<const std::byte>(buf.data(), *n));
  }
  output.take(result.out, result.err, result.truncated);
  return {};
}

}  // namespace pb::broker::docker::detail
