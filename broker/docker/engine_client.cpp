#include "broker/docker/engine_client.hpp"

#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>
#include <thread>

namespace pb::broker::docker {

EngineClock EngineClock::system() {
  return {[] { return std::chrono::steady_clock::now(); },
          [](std::chrono::milliseconds pause) { std::this_thread::sleep_for(pause); }};
}

namespace {

using detail::short_id;
using detail::url_encode;

constexpr std::size_t k_json_limit = 64 * 1024 * 1024;

/// After an exec's output ends, how often and how long its exit code is looked for.
constexpr int k_exit_code_looks = 50;
constexpr std::chrono::milliseconds k_exit_code_pause{20};

/// The body of an error answer to a streamed request, bounded (16 reads of 4 KiB):
/// the daemon's message, not a stream someone could make endless.
std::string drain_error_body(HttpChannel& channel) {
  std::string text;
  std::array<std::byte, 4096> buf{};
  for (int i = 0; i < 16; ++i) {
    auto n = channel.read_body(buf);
    if (!n.ok() || *n == 0) break;
    text.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  return text;
}

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

/// A streamed response body, read straight off the connection.
class BodyReader final : public ByteReader {
 public:
  explicit BodyReader(std::unique_ptr<HttpChannel> channel) : m_channel(std::move(channel)) {}
  Result<std::size_t> read(std::span<std::byte> out) override { return m_channel->read_body(out); }

 private:
  std::unique_ptr<HttpChannel> m_channel;
};

/// A request body sent in chunks: a tar stream into a container (PUT
/// /containers/{id}/archive), a root file system for a new image (POST
/// /images/create?fromSrc=-). The verdict is the answer's status, then, when
/// given, `body_verdict` of its body (an import answers 200 and says in its
/// progress stream whether it failed).
class ChunkedUpload final : public ByteWriter {
 public:
  using BodyVerdict = std::function<Status(const std::string& body)>;

  ChunkedUpload(std::unique_ptr<HttpChannel> channel, std::string op, std::string host, BodyVerdict body_verdict)
      : m_channel(std::move(channel)),
        m_op(std::move(op)),
        m_host(std::move(host)),
        m_body_verdict(std::move(body_verdict)) {}

  Status write(std::span<const std::byte> bytes) override {
    if (m_done) return already_finished();
    Status s = m_channel->write_chunk(bytes);
    if (!s.ok()) return early_answer(std::move(s).error());
    return {};
  }

  Status finish() override {
    if (m_done) return already_finished();
    m_done = true;
    auto r = m_channel->finish_chunked(k_json_limit);
    if (!r.ok()) return early_answer(std::move(r).error());
    PB_TRY_STATUS(detail::answer_status(r->status, r->body, m_op, m_host));
    if (m_body_verdict) return m_body_verdict(r->body);
    return {};
  }

 private:
  Error already_finished() const { return fail(ErrorKind::failure, "the upload to " + m_op + " is already finished"); }

  /// The daemon may refuse (404, 400) before reading the body; its answer says why.
  Error early_answer(Error transport) {
    m_done = true;
    auto r = m_channel->read_early_response(k_json_limit);
    if (r.ok()) {
      Status s = detail::answer_status(r->status, r->body, m_op, m_host);
      if (!s.ok()) return std::move(s).error();
    }
    return transport;
  }

  std::unique_ptr<HttpChannel> m_channel;
  std::string m_op;
  std::string m_host;
  BodyVerdict m_body_verdict;
  bool m_done = false;
};

class EngineClient final : public DockerClient {
 public:
  EngineClient(EngineConfig config, ChannelFactory open, EngineClock clock)
      : m_config(std::move(config)), m_open(std::move(open)), m_clock(std::move(clock)) {}

  std::string endpoint() const override { return m_config.host; }
  std::string endpoint_origin() const override { return m_config.origin; }
  std::optional<std::string> insecure_transport() const override { return m_config.insecure_reason(); }

  Status ping() override {
    PB_TRY(auto r, call("GET", "/_ping", {}, "check that Docker answers", false));
    return expect(r, "check that Docker answers");
  }

  Result<DockerVersion> version() override {
    PB_TRY(DockerVersion v, fetch_version());
    PB_TRY(v.api_version, detail::choose_api(m_config.host, v.server_api_version, v.min_api_version));
    std::lock_guard lock(m_mutex);
    if (m_api.empty()) m_api = v.api_version;
    return v;
  }

  // ------------------------------------------------------------ images

  Result<ImageInfo> image_inspect(const std::string& name) override {
    const std::string op = "inspect image '" + printable(name) + "'";
    bool known = false;
    {
      std::lock_guard lock(m_mutex);
      known = !m_api.empty();
    }
    // Most commands start here. Before the API version is known, ask without a
    // version prefix (the daemon then answers in its own, and the fields read
    // here have not changed since API 1.25) and learn the version from the
    // answer's Api-Version header: one round trip instead of a ping and this.
    PB_TRY(auto r, call("GET", "/images/" + detail::name_segment(name) + "/json", {}, op, known));
    PB_TRY_STATUS(expect(r, op));
    if (!known) learn_api_version(r);
    return detail::parse_image_inspect(r.body, op);
  }

  Result<std::vector<ImageSummary>> image_list(const LabelFilters& labels) override {
    const std::string op = "list images";
    PB_TRY(std::string body, get(detail::image_list_path(labels), op));
    return detail::parse_image_list(body, op);
  }

  Result<std::unique_ptr<ByteReader>> image_export(const std::string& name) override {
    const std::string op = "export image '" + printable(name) + "'";
    HttpResponse head;
    PB_TRY(auto channel, stream_get("/images/" + detail::name_segment(name) + "/get", op, head));
    return std::unique_ptr<ByteReader>(std::make_unique<BodyReader>(std::move(channel)));
  }

  Status image_remove(const std::string& name, bool force) override {
    const std::string op = "remove image '" + printable(name) + "'";
    PB_TRY(auto r, call("DELETE", "/images/" + detail::name_segment(name) + (force ? "?force=1" : ""), {}, op));
    return expect(r, op);
  }

  Result<std::unique_ptr<ByteWriter>> image_import(const std::string& reference,
                                                   const std::vector<std::string>& changes) override {
    const std::string op = "import image '" + printable(reference) + "'";
    return upload("POST", detail::image_import_path(reference, changes), op,
                  [op](const std::string& body) { return detail::import_verdict(body, op); });
  }

  // ------------------------------------------------------------ containers

  Result<std::string> container_create(const ContainerSpec& spec) override {
    const std::string op = "create a container from image '" + printable(spec.image) + "'";
    PB_TRY_STATUS(create_labelled_volumes_on_podman(spec));
    PB_TRY(auto r, call("POST", detail::container_create_path(spec.name), detail::container_create_body(spec), op));
    PB_TRY_STATUS(expect(r, op));
    return detail::parse_created_id(r.body, op, "an ID");
  }

  Status container_start(const std::string& id) override {
    const std::string op = "start container " + short_id(id);
    PB_TRY(auto r, call("POST", "/containers/" + url_encode(id) + "/start", {}, op));
    if (r.status == 304) return {};  // already running
    return expect(r, op);
  }

  Result<WaitResult> container_wait(const std::string& id, std::chrono::seconds timeout) override {
    const std::string op = "wait for container " + short_id(id);
    EngineConfig cfg = m_config;
    cfg.request_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
    PB_TRY(std::string prefix, api_prefix());
    PB_TRY(auto channel, m_open(cfg, op));
    auto r =
        channel->round_trip({"POST", prefix + "/containers/" + url_encode(id) + "/wait", {}, {}, false}, k_json_limit);
    if (!r.ok() && r.error().kind == ErrorKind::timeout)
      return fail(ErrorKind::timeout,
                  "container " + short_id(id) + " did not exit within " + std::to_string(timeout.count()) + "s");
    if (!r.ok()) return std::move(r).error();
    PB_TRY_STATUS(expect(*r, op));
    return detail::parse_container_wait(r->body, op);
  }

  Status container_kill(const std::string& id, const std::string& signal) override {
    const std::string op = "kill container " + short_id(id);
    PB_TRY(auto r, call("POST", "/containers/" + url_encode(id) + "/kill?signal=" + url_encode(signal), {}, op));
    return expect(r, op);
  }

  Status container_remove(const std::string& id, bool force, bool volumes) override {
    const std::string op = "remove container " + short_id(id);
    PB_TRY(auto r, call("DELETE", detail::container_remove_path(id, force, volumes), {}, op));
    return expect(r, op);
  }

  Result<Logs> container_logs(const std::string& id, const LogOptions& options) override {
    const std::string op = "read the logs of container " + short_id(id);
    PB_TRY(ContainerInfo info, container_inspect(id));
    HttpResponse head;
    PB_TRY(auto channel, stream_get(detail::container_logs_path(id, options), op, head));
    OutputCollector output(info.tty, options.max_bytes);
    std::array<std::byte, 65536> buf{};
    for (;;) {
      PB_TRY(std::size_t n, channel->read_body(buf));
      if (n == 0) break;
      output.feed(std::span<const std::byte>(buf.data(), n));
    }
    Logs logs;
    output.take(logs.out, logs.err, logs.truncated);
    return logs;
  }

  Result<std::vector<FileChange>> container_changes(const std::string& id) override {
    const std::string op = "list the changes in container " + short_id(id);
    PB_TRY(std::string body, get("/containers/" + url_encode(id) + "/changes", op));
    return detail::parse_container_changes(body, op);
  }

  Result<std::vector<ContainerSummary>> container_list(const LabelFilters& labels) override {
    const std::string op = "list containers";
    PB_TRY(std::string body, get(detail::container_list_path(labels), op));
    return detail::parse_container_list(body, op);
  }

  Result<ContainerInfo> container_inspect(const std::string& id) override {
    const std::string op = "inspect container " + short_id(id);
    PB_TRY(std::string body, get("/containers/" + url_encode(id) + "/json", op));
    return detail::parse_container_inspect(body, op);
  }

  // ------------------------------------------------------------ archives

  Result<PathStat> archive_stat(const std::string& id, const std::string& path) override {
    const std::string op = "look at '" + printable(path) + "' in container " + short_id(id);
    PB_TRY(auto r, call("HEAD", detail::archive_path(id, path), {}, op));
    PB_TRY_STATUS(expect(r, op));
    return detail::parse_path_stat(r.headers, op);
  }

  Result<ArchiveDownload> archive_get(const std::string& id, const std::string& path) override {
    const std::string op = "copy '" + printable(path) + "' out of container " + short_id(id);
    HttpResponse head;
    PB_TRY(auto channel, stream_get(detail::archive_path(id, path), op, head));
    PB_TRY(PathStat stat, detail::parse_path_stat(head.headers, op));
    return ArchiveDownload{std::move(stat), std::make_unique<BodyReader>(std::move(channel))};
  }

  Result<std::unique_ptr<ByteWriter>> archive_put(const std::string& id, const std::string& path) override {
    const std::string op = "copy into '" + printable(path) + "' in container " + short_id(id);
    return upload("PUT", detail::archive_path(id, path), op, {});
  }

  // ------------------------------------------------------------ exec

  Result<std::string> exec_create(const std::string& container_id, const ExecSpec& spec) override {
    const std::string op = "run a command in container " + short_id(container_id);
    PB_TRY(auto r,
           call("POST", "/containers/" + url_encode(container_id) + "/exec", detail::exec_create_body(spec), op));
    PB_TRY_STATUS(expect(r, op));
    return detail::parse_created_id(r.body, op, "an exec ID");
  }

  Result<ExecResult> exec_start(const std::string& exec_id, const ExecOptions& options) override {
    PB_TRY(detail::ExecState state, exec_inspect(exec_id));
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

  // ------------------------------------------------------------ volumes

  Result<VolumeInfo> volume_create(const std::string& name, const Labels& labels) override {
    const std::string op = "create volume '" + printable(name) + "'";
    PB_TRY(auto r, call("POST", "/volumes/create", detail::volume_create_body(name, labels), op));
    PB_TRY_STATUS(expect(r, op));
    return detail::parse_volume(r.body, op);
  }

  Result<VolumeInfo> volume_inspect(const std::string& name) override {
    const std::string op = "inspect volume '" + printable(name) + "'";
    PB_TRY(std::string body, get("/volumes/" + url_encode(name), op));
    return detail::parse_volume(body, op);
  }

  Result<std::vector<VolumeInfo>> volume_list(const LabelFilters& labels, const std::string& name_part) override {
    const std::string op = "list volumes";
    PB_TRY(std::string body, get(detail::volume_list_path(labels, name_part), op));
    return detail::parse_volume_list(body, op);
  }

  Status volume_remove(const std::string& name, bool force) override {
    const std::string op = "remove volume '" + printable(name) + "'";
    PB_TRY(auto r, call("DELETE", "/volumes/" + url_encode(name) + (force ? "?force=1" : ""), {}, op));
    return expect(r, op);
  }

  // ------------------------------------------------------------ attach

  Status container_resize(const std::string& id, unsigned rows, unsigned cols) override {
    const std::string op = "resize the terminal of container " + short_id(id);
    PB_TRY(auto r,
           call("POST",
                "/containers/" + url_encode(id) + "/resize?h=" + std::to_string(rows) + "&w=" + std::to_string(cols),
                {}, op));
    return expect(r, op);
  }

  Status attach_terminal(const std::string& id, const TerminalOptions& options) override {
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

 private:
  /// Podman's Docker-compatible API creates the volume a mount names, as
  /// Docker does, but drops the mount's VolumeOptions.Labels (measured with
  /// Podman 4.3.1): a keeper's volume would be unlabelled, so nothing would
  /// know it as para-broker's. On Podman such volumes are created first, with
  /// their labels (an existing volume is left as it is, as Docker leaves it).
  Status create_labelled_volumes_on_podman(const ContainerSpec& spec) {
    const bool labels_wanted = std::any_of(spec.mounts.begin(), spec.mounts.end(), [](const MountSpec& m) {
      return m.type == MountSpec::Type::volume && !m.volume_labels.empty();
    });
    if (!labels_wanted) return {};
    PB_TRY(std::string api, negotiated());
    (void)api;
    if (!m_libpod.load()) return {};
    for (const auto& m : spec.mounts) {
      if (m.type != MountSpec::Type::volume || m.volume_labels.empty()) continue;
      PB_TRY(VolumeInfo v, volume_create(m.source, m.volume_labels));
      (void)v;
    }
    return {};
  }

  /// The API version to use, negotiated once: from the Api-Version header of
  /// GET /_ping (what the docker CLI does; the daemon answers it without
  /// gathering anything), else from GET /version. A daemon whose oldest API
  /// is newer than ours says so on the first versioned call (see
  /// detail::answer_status()).
  Result<std::string> negotiated() {
    {
      std::lock_guard lock(m_mutex);
      if (!m_api.empty()) return m_api;
    }
    std::string server_api;
    {
      const std::string op = "answer a ping";
      PB_TRY(auto channel, m_open(m_config, op));
      PB_TRY(HttpResponse r, channel->round_trip({"GET", "/_ping", {}, {}, false}, k_json_limit));
      auto h = r.headers.find("api-version");
      if (r.status == 200 && h != r.headers.end()) server_api = h->second;
      if (r.headers.count("libpod-api-version") != 0) m_libpod = true;
    }
    if (server_api.empty()) {
      PB_TRY(DockerVersion v, fetch_version());
      server_api = v.server_api_version;
    }
    PB_TRY(std::string api, detail::choose_api(m_config.host, server_api, {}));
    std::lock_guard lock(m_mutex);
    if (m_api.empty()) m_api = api;
    return m_api;
  }

  /// Takes the API version from a response's Api-Version header, when none is chosen yet.
  void learn_api_version(const HttpResponse& r) {
    if (r.headers.count("libpod-api-version") != 0) m_libpod = true;
    auto h = r.headers.find("api-version");
    if (h == r.headers.end()) return;
    auto api = detail::choose_api(m_config.host, h->second, {});
    if (!api) return;  // the next versioned call negotiates, and says what is wrong
    std::lock_guard lock(m_mutex);
    if (m_api.empty()) m_api = *api;
  }

  /// GET /version: the daemon's full account of itself.
  Result<DockerVersion> fetch_version() {
    const std::string op = "report its version";
    PB_TRY(auto channel, m_open(m_config, op));
    PB_TRY(HttpResponse r, channel->round_trip({"GET", "/version", {}, {}, false}, k_json_limit));
    PB_TRY_STATUS(expect(r, op));
    return detail::parse_version(r.body, op);
  }

  Result<std::string> api_prefix() {
    PB_TRY(std::string api, negotiated());
    return "/v" + api;
  }

  /// One request and its whole answer on a connection of its own.
  Result<HttpResponse> call(const std::string& method, const std::string& path, std::string body, const std::string& op,
                            bool versioned = true) {
    std::string target = path;
    if (versioned) {
      PB_TRY(std::string prefix, api_prefix());
      target = prefix + path;
    }
    PB_TRY(auto channel, m_open(m_config, op));
    std::string type = body.empty() ? std::string() : "application/json";
    return channel->round_trip({method, target, std::move(body), type, false}, k_json_limit);
  }

  /// The body of a successful GET.
  Result<std::string> get(const std::string& path, const std::string& op) {
    PB_TRY(auto r, call("GET", path, {}, op));
    PB_TRY_STATUS(expect(r, op));
    return std::move(r.body);
  }

  /// A GET whose body is then read off the returned connection; `head` is the answer's head.
  Result<std::unique_ptr<HttpChannel>> stream_get(const std::string& path, const std::string& op, HttpResponse& head) {
    PB_TRY(std::string prefix, api_prefix());
    PB_TRY(auto channel, m_open(m_config, op));
    PB_TRY(head, channel->send_and_read_head({"GET", prefix + path, {}, {}, false}));
    if (head.status >= 300) PB_TRY_STATUS(refused(*channel, head, op));
    return channel;
  }

  /// A request whose body is pushed through the returned writer.
  Result<std::unique_ptr<ByteWriter>> upload(const std::string& method, const std::string& path, const std::string& op,
                                             ChunkedUpload::BodyVerdict body_verdict) {
    PB_TRY(std::string prefix, api_prefix());
    PB_TRY(auto channel, m_open(m_config, op));
    PB_TRY_STATUS(channel->send_chunked_head({method, prefix + path, {}, "application/x-tar", false}));
    return std::unique_ptr<ByteWriter>(
        std::make_unique<ChunkedUpload>(std::move(channel), op, m_config.host, std::move(body_verdict)));
  }

  /// Sends an upgrade request (exec start, attach); a refusal is an Error with the daemon's message.
  Status upgrade(HttpChannel& channel, const HttpRequest& request, const std::string& op) const {
    PB_TRY(HttpResponse head, channel.send_and_read_head(request));
    if (head.status != 101 && head.status != 200) return refused(channel, head, op);
    return {};
  }

  /// A streamed request the daemon refused: the bounded error body read for its message, as an Error.
  Status refused(HttpChannel& channel, HttpResponse& head, const std::string& op) const {
    head.body = drain_error_body(channel);
    return expect(head, op);
  }

  Result<detail::ExecState> exec_inspect(const std::string& exec_id) {
    const std::string op = "inspect exec " + short_id(exec_id);
    PB_TRY(std::string body, get("/exec/" + url_encode(exec_id) + "/json", op));
    return detail::parse_exec_inspect(body, op);
  }

  /// Starts an exec on a hijacked connection (its timeout `timeout`), sends
  /// `input` and, unless it has a TTY, closes its stdin.
  Result<std::unique_ptr<HttpChannel>> exec_stream(const std::string& exec_id, bool tty, const std::string& input,
                                                   std::chrono::milliseconds timeout) {
    const std::string op = "run exec " + short_id(exec_id);
    EngineConfig cfg = m_config;
    cfg.request_timeout = timeout;
    PB_TRY(std::string prefix, api_prefix());
    PB_TRY(auto channel, m_open(cfg, op));
    PB_TRY_STATUS(upgrade(*channel,
                          {"POST", prefix + "/exec/" + url_encode(exec_id) + "/start", detail::exec_start_body(tty),
                           "application/json", true},
                          op));
    if (!input.empty()) PB_TRY_STATUS(channel->raw_write(std::as_bytes(std::span(input))));
    // EOF on stdin. Not for a TTY: closing its input hangs the session up and
    // output still in flight would be lost; the process ends on its own there.
    if (!tty) PB_TRY_STATUS(channel->raw_close_write());
    return channel;
  }

  /// Reads an exec's output until its stream ends or `deadline` passes.
  Status read_exec_output(HttpChannel& channel, const std::string& exec_id, bool tty, std::size_t max_output,
                          std::chrono::steady_clock::time_point deadline, std::chrono::milliseconds timeout,
                          ExecResult& result) {
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

  /// Turns an HTTP status into success or the matching Error kind.
  Status expect(const HttpResponse& r, const std::string& op) const {
    return detail::answer_status(r.status, r.body, op, m_config.host);
  }

  EngineConfig m_config;
  ChannelFactory m_open;
  EngineClock m_clock;
  std::mutex m_mutex;
  std::string m_api;                  ///< negotiated version, empty until the first call
  std::atomic<bool> m_libpod{false};  ///< the engine is Podman (its responses carry Libpod-Api-Version)
};

}  // namespace

std::shared_ptr<DockerClient> make_engine_client(const EngineConfig& config) {
  return make_engine_client(config, open_channel, EngineClock::system());
}

std::shared_ptr<DockerClient> make_engine_client(const EngineConfig& config, ChannelFactory open, EngineClock clock) {
  return std::make_shared<EngineClient>(config, std::move(open), std::move(clock));
}

}  // namespace pb::broker::docker
