#include "broker/docker/engine_client.hpp"

#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>

#include "broker/docker/http_channel.hpp"
#include "core/json.hpp"

namespace pb::broker::docker {

using nlohmann::json;

int compare_api_versions(const std::string& a, const std::string& b) {
  // A daemon's version may be any text: each part saturates instead of overflowing.
  static constexpr long k_part_max = 1'000'000'000;
  auto parts = [](const std::string& v) {
    std::vector<long> out;
    std::size_t i = 0;
    while (i <= v.size()) {
      std::size_t dot = v.find('.', i);
      if (dot == std::string::npos) dot = v.size();
      long n = 0;
      for (std::size_t k = i; k < dot; ++k)
        if (std::isdigit(static_cast<unsigned char>(v[k])) != 0) n = std::min(k_part_max, n * 10 + (v[k] - '0'));
      out.push_back(n);
      i = dot + 1;
    }
    return out;
  };
  auto pa = parts(a), pb = parts(b);
  for (std::size_t i = 0; i < std::max(pa.size(), pb.size()); ++i) {
    long x = i < pa.size() ? pa[i] : 0, y = i < pb.size() ? pb[i] : 0;
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

bool append_capped(std::string& target, std::span<const std::byte> piece, std::size_t max) {
  const std::size_t room = max > target.size() ? max - target.size() : 0;
  const std::size_t keep = std::min(room, piece.size());
  target.append(reinterpret_cast<const char*>(piece.data()), keep);
  return keep < piece.size();
}

void StreamDemuxer::feed(std::span<const std::byte> bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    if (m_remaining == 0) {
      m_header[m_header_fill++] = static_cast<unsigned char>(bytes[i++]);
      if (m_header_fill == 8) {
        m_stream = m_header[0];
        m_remaining = (std::size_t{m_header[4]} << 24) | (std::size_t{m_header[5]} << 16) |
                      (std::size_t{m_header[6]} << 8) | std::size_t{m_header[7]};
        m_header_fill = 0;
      }
      continue;
    }
    std::size_t n = std::min(m_remaining, bytes.size() - i);
    if (append_capped(m_stream == 2 ? err : out, bytes.subspan(i, n), m_max)) truncated = true;
    i += n;
    m_remaining -= n;
  }
}

namespace {

constexpr std::size_t k_json_limit = 64 * 1024 * 1024;

std::string url_encode(std::string_view s) {
  static const char* k_hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((std::isalnum(c) != 0) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += k_hex[c >> 4];
      out += k_hex[c & 15];
    }
  }
  return out;
}

/// A path segment naming an image ("registry:5000/org/name:tag" keeps its '/' and ':').
std::string name_segment(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '/' || c == ':' || c == '@')
      out += c;
    else
      out += url_encode(std::string_view(&c, 1));
  }
  return out;
}

std::string label_filters(const LabelFilters& labels) {
  if (labels.empty()) return {};
  json f = {{"label", labels}};
  return "filters=" + url_encode(f.dump());
}

// Tolerant readers: fields may be missing or null in any daemon's answer.
std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
/// Whole numbers only: a float or an integer beyond int64 (which get<> would
/// cast, undefined for 1e300) reads as missing.
std::int64_t num(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() ? whole_number<std::int64_t>(*it).value_or(0) : 0;
}
bool flag(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}
const json& obj(const json& j, const char* key) {
  static const json k_empty = json::object();
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : k_empty;
}
std::vector<std::string> strings(const json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end()) return out;
  if (it->is_string()) {
    out.push_back(it->get<std::string>());
    return out;
  }
  if (!it->is_array()) return out;
  for (const auto& v : *it)
    if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}
Labels labels_of(const json& j, const char* key) {
  Labels out;
  for (const auto& [k, v] : obj(j, key).items())
    if (v.is_string()) out[k] = v.get<std::string>();
  return out;
}

std::optional<std::string> base64_decode(const std::string& in) {
  std::string out((in.size() / 4 + 1) * 3, '\0');
  std::string padded = in;
  while (padded.size() % 4 != 0) padded += '=';
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(padded.data()), static_cast<int>(padded.size()));
  if (n < 0) return std::nullopt;
  std::size_t len = static_cast<std::size_t>(n);
  if (!padded.empty() && padded.back() == '=') --len;
  if (padded.size() > 1 && padded[padded.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

ImageInfo parse_image(const json& j) {
  ImageInfo i;
  i.id = str(j, "Id");
  i.repo_tags = strings(j, "RepoTags");
  const json& c = obj(j, "Config");
  i.user = str(c, "User");
  i.env = strings(c, "Env");
  i.entrypoint = strings(c, "Entrypoint");
  i.cmd = strings(c, "Cmd");
  i.labels = labels_of(c, "Labels");
  i.working_dir = str(c, "WorkingDir");
  i.layers = strings(obj(j, "RootFS"), "Layers");
  i.size = num(j, "Size");
  i.created = str(j, "Created");
  return i;
}

VolumeInfo parse_volume(const json& j) {
  return {str(j, "Name"), str(j, "Driver"), str(j, "Mountpoint"), labels_of(j, "Labels")};
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

class EngineClient;

/// A streamed response body, read straight off the connection.
class BodyReader final : public ByteReader {
 public:
  explicit BodyReader(std::unique_ptr<HttpChannel> channel) : m_channel(std::move(channel)) {}
  Result<std::size_t> read(std::span<std::byte> out) override { return m_channel->read_body(out); }

 private:
  std::unique_ptr<HttpChannel> m_channel;
};

class EngineClient final : public DockerClient, public std::enable_shared_from_this<EngineClient> {
 public:
  explicit EngineClient(EngineConfig config) : m_config(std::move(config)) {}

  std::string endpoint() const override { return m_config.host; }
  std::string endpoint_origin() const override { return m_config.origin; }
  std::optional<std::string> insecure_transport() const override { return m_config.insecure_reason(); }

  Status ping() override {
    PB_TRY(auto r, call("GET", "/_ping", {}, "check that Docker answers", false));
    return expect(r, "check that Docker answers");
  }

  Result<DockerVersion> version() override {
    PB_TRY(DockerVersion v, fetch_version());
    PB_TRY(v.api_version, choose_api(v.server_api_version, v.min_api_version));
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
    PB_TRY(auto r, call("GET", "/images/" + name_segment(name) + "/json", {}, op, known));
    PB_TRY_STATUS(expect(r, op));
    if (!known) learn_api_version(r);
    PB_TRY(json j, parse(r.body, op));
    return parse_image(j);
  }

  Result<std::vector<ImageSummary>> image_list(const LabelFilters& labels) override {
    std::string q = label_filters(labels);
    PB_TRY(json j, get_json("/images/json" + (q.empty() ? "" : "?" + q), "list images"));
    std::vector<ImageSummary> out;
    if (!j.is_array()) return out;
    for (const auto& e : j) {
      out.push_back({str(e, "Id"), strings(e, "RepoTags"), labels_of(e, "Labels"), num(e, "Size"), num(e, "Created")});
    }
    return out;
  }

  Result<std::unique_ptr<ByteReader>> image_export(const std::string& name) override {
    const std::string op = "export image '" + printable(name) + "'";
    PB_TRY(auto channel, stream_get("/images/" + name_segment(name) + "/get", op));
    return std::unique_ptr<ByteReader>(std::make_unique<BodyReader>(std::move(channel)));
  }

  Status image_remove(const std::string& name, bool force) override {
    const std::string op = "remove image '" + printable(name) + "'";
    PB_TRY(auto r, call("DELETE", "/images/" + name_segment(name) + (force ? "?force=1" : ""), {}, op));
    return expect(r, op);
  }

  // ------------------------------------------------------------ containers

  Result<std::string> container_create(const ContainerSpec& spec) override {
    const std::string op = "create a container from image '" + printable(spec.image) + "'";
    PB_TRY_STATUS(create_labelled_volumes_on_podman(spec));
    json body = {{"Image", spec.image},
                 {"Tty", spec.tty},
                 {"OpenStdin", spec.open_stdin},
                 {"StdinOnce", false},
                 {"AttachStdin", spec.open_stdin},
                 {"AttachStdout", true},
                 {"AttachStderr", true}};
    if (!spec.cmd.empty()) body["Cmd"] = spec.cmd;
    // An empty list clears the image's entrypoint only when sent as [""].
    if (spec.entrypoint)
      body["Entrypoint"] = spec.entrypoint->empty() ? std::vector<std::string>{""} : *spec.entrypoint;
    if (!spec.env.empty()) body["Env"] = spec.env;
    if (!spec.user.empty()) body["User"] = spec.user;
    if (!spec.working_dir.empty()) body["WorkingDir"] = spec.working_dir;
    body["Labels"] = spec.labels;
    json host = {{"AutoRemove", spec.auto_remove}, {"ReadonlyRootfs", spec.read_only_rootfs}};
    if (!spec.network_mode.empty()) {
      host["NetworkMode"] = spec.network_mode;
      if (spec.network_mode == "none") body["NetworkDisabled"] = true;
    }
    if (!spec.extra_hosts.empty()) host["ExtraHosts"] = spec.extra_hosts;
    if (spec.memory_bytes > 0) host["Memory"] = spec.memory_bytes;
    if (spec.pids_limit > 0) host["PidsLimit"] = spec.pids_limit;
    if (!spec.cap_drop.empty()) host["CapDrop"] = spec.cap_drop;
    if (!spec.cap_add.empty()) host["CapAdd"] = spec.cap_add;
    if (!spec.security_opt.empty()) host["SecurityOpt"] = spec.security_opt;
    json mounts = json::array();
    for (const auto& m : spec.mounts) {
      const char* type = m.type == MountSpec::Type::volume ? "volume"
                         : m.type == MountSpec::Type::bind ? "bind"
                                                           : "tmpfs";
      json jm = {{"Type", type}, {"Target", m.target}, {"ReadOnly", m.read_only}};
      if (!m.source.empty()) jm["Source"] = m.source;
      if (m.type == MountSpec::Type::volume && (m.no_copy || !m.volume_labels.empty())) {
        json vo = json::object();
        if (m.no_copy) vo["NoCopy"] = true;
        if (!m.volume_labels.empty()) vo["Labels"] = m.volume_labels;
        jm["VolumeOptions"] = vo;
      }
      mounts.push_back(jm);
    }
    if (!mounts.empty()) host["Mounts"] = mounts;
    body["HostConfig"] = host;
    std::string target = "/containers/create";
    if (!spec.name.empty()) target += "?name=" + url_encode(spec.name);
    PB_TRY(auto r, call("POST", target, body.dump(), op));
    PB_TRY_STATUS(expect(r, op));
    PB_TRY(json j, parse(r.body, op));
    std::string id = str(j, "Id");
    if (id.empty()) return fail(ErrorKind::api, "Docker did not return an ID when asked to " + op);
    return id;
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
    PB_TRY(auto channel, open_channel(cfg, op));
    auto r =
        channel->round_trip({"POST", prefix + "/containers/" + url_encode(id) + "/wait", {}, {}, false}, k_json_limit);
    if (!r.ok() && r.error().kind == ErrorKind::timeout)
      return fail(ErrorKind::timeout,
                  "container " + short_id(id) + " did not exit within " + std::to_string(timeout.count()) + "s");
    if (!r.ok()) return std::move(r).error();
    PB_TRY_STATUS(expect(*r, op));
    PB_TRY(json j, parse(r->body, op));
    return WaitResult{num(j, "StatusCode"), str(obj(j, "Error"), "Message")};
  }

  Status container_kill(const std::string& id, const std::string& signal) override {
    const std::string op = "kill container " + short_id(id);
    PB_TRY(auto r, call("POST", "/containers/" + url_encode(id) + "/kill?signal=" + url_encode(signal), {}, op));
    return expect(r, op);
  }

  Status container_remove(const std::string& id, bool force, bool volumes) override {
    const std::string op = "remove container " + short_id(id);
    std::string q = std::string("?force=") + (force ? "1" : "0") + "&v=" + (volumes ? "1" : "0");
    PB_TRY(auto r, call("DELETE", "/containers/" + url_encode(id) + q, {}, op));
    return expect(r, op);
  }

  Result<Logs> container_logs(const std::string& id, const LogOptions& options) override {
    const std::string op = "read the logs of container " + short_id(id);
    PB_TRY(ContainerInfo info, container_inspect(id));
    std::string q = std::string("?stdout=") + (options.stdout_stream ? "1" : "0") +
                    "&stderr=" + (options.stderr_stream ? "1" : "0");
    PB_TRY(auto channel, stream_get("/containers/" + url_encode(id) + "/logs" + q, op));
    Logs logs;
    StreamDemuxer demux(options.max_bytes);
    std::array<std::byte, 65536> buf{};
    for (;;) {
      PB_TRY(std::size_t n, channel->read_body(buf));
      if (n == 0) break;
      std::span<const std::byte> piece(buf.data(), n);
      if (info.tty) {
        if (append_capped(logs.out, piece, options.max_bytes)) logs.truncated = true;
      } else {
        demux.feed(piece);
      }
    }
    if (!info.tty) {
      logs.out = std::move(demux.out);
      logs.err = std::move(demux.err);
      logs.truncated = demux.truncated;
    }
    return logs;
  }

  Result<std::vector<FileChange>> container_changes(const std::string& id) override {
    PB_TRY(json j,
           get_json("/containers/" + url_encode(id) + "/changes", "list the changes in container " + short_id(id)));
    std::vector<FileChange> out;
    if (!j.is_array()) return out;
    for (const auto& e : j) {
      auto k = num(e, "Kind");
      out.push_back({str(e, "Path"), k == 1   ? FileChange::Kind::added
                                     : k == 2 ? FileChange::Kind::deleted
                                              : FileChange::Kind::modified});
    }
    return out;
  }

  Result<std::vector<ContainerSummary>> container_list(const LabelFilters& labels) override {
    std::string q = label_filters(labels);
    PB_TRY(json j, get_json("/containers/json?all=1" + (q.empty() ? "" : "&" + q), "list containers"));
    std::vector<ContainerSummary> out;
    if (!j.is_array()) return out;
    for (const auto& e : j) {
      std::vector<std::string> names;
      for (auto n : strings(e, "Names")) names.push_back(n.starts_with('/') ? n.substr(1) : n);
      out.push_back({str(e, "Id"), names, str(e, "Image"), str(e, "State"), str(e, "Status"), labels_of(e, "Labels"),
                     num(e, "Created"), str(e, "ImageID")});
    }
    return out;
  }

  Result<ContainerInfo> container_inspect(const std::string& id) override {
    PB_TRY(json j, get_json("/containers/" + url_encode(id) + "/json", "inspect container " + short_id(id)));
    ContainerInfo c;
    c.id = str(j, "Id");
    c.name = str(j, "Name");
    if (c.name.starts_with('/')) c.name.erase(0, 1);
    c.image = str(j, "Image");
    const json& s = obj(j, "State");
    c.state = {str(s, "Status"),   flag(s, "Running"), flag(s, "OOMKilled"),
               num(s, "ExitCode"), num(s, "Pid"),      str(s, "Error")};
    auto mounts = j.find("Mounts");
    if (mounts != j.end() && mounts->is_array())
      for (const auto& m : *mounts)
        c.mounts.push_back({str(m, "Type"), str(m, "Name"), str(m, "Source"), str(m, "Destination"), flag(m, "RW")});
    const json& config = obj(j, "Config");
    c.labels = labels_of(config, "Labels");
    c.user = str(config, "User");
    c.tty = flag(config, "Tty");
    return c;
  }

  // ------------------------------------------------------------ archives

  Result<PathStat> archive_stat(const std::string& id, const std::string& path) override {
    const std::string op = "look at '" + printable(path) + "' in container " + short_id(id);
    PB_TRY(auto r, call("HEAD", archive_target(id, path), {}, op));
    PB_TRY_STATUS(expect(r, op));
    return path_stat(r.headers, op);
  }

  Result<ArchiveDownload> archive_get(const std::string& id, const std::string& path) override {
    const std::string op = "copy '" + printable(path) + "' out of container " + short_id(id);
    HttpResponse head;
    PB_TRY(auto channel, stream_get_raw(archive_target(id, path), op, head));
    PB_TRY(PathStat stat, path_stat(head.headers, op));
    return ArchiveDownload{std::move(stat), std::make_unique<BodyReader>(std::move(channel))};
  }

  Result<std::unique_ptr<ByteWriter>> archive_put(const std::string& id, const std::string& path) override;
  Result<std::unique_ptr<ByteWriter>> image_import(const std::string& reference,
                                                   const std::vector<std::string>& changes) override;

  // ------------------------------------------------------------ exec

  Result<std::string> exec_create(const std::string& container_id, const ExecSpec& spec) override {
    const std::string op = "run a command in container " + short_id(container_id);
    json body = {
        {"AttachStdin", true}, {"AttachStdout", true}, {"AttachStderr", true}, {"Tty", spec.tty}, {"Cmd", spec.cmd}};
    if (!spec.env.empty()) body["Env"] = spec.env;
    if (!spec.user.empty()) body["User"] = spec.user;
    if (!spec.working_dir.empty()) body["WorkingDir"] = spec.working_dir;
    PB_TRY(auto r, call("POST", "/containers/" + url_encode(container_id) + "/exec", body.dump(), op));
    PB_TRY_STATUS(expect(r, op));
    PB_TRY(json j, parse(r.body, op));
    std::string id = str(j, "Id");
    if (id.empty()) return fail(ErrorKind::api, "Docker did not return an exec ID when asked to " + op);
    return id;
  }

  Result<ExecResult> exec_start(const std::string& exec_id, const ExecOptions& options) override {
    const std::string op = "run exec " + short_id(exec_id);
    PB_TRY(json inspect, get_json("/exec/" + url_encode(exec_id) + "/json", "inspect exec " + short_id(exec_id)));
    const bool tty = flag(obj(inspect, "ProcessConfig"), "tty");
    EngineConfig cfg = m_config;
    if (options.timeout) cfg.request_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*options.timeout);
    const auto deadline = std::chrono::steady_clock::now() + cfg.request_timeout;
    PB_TRY(std::string prefix, api_prefix());
    PB_TRY(auto channel, open_channel(cfg, op));
    json body = {{"Detach", false}, {"Tty", tty}};
    PB_TRY(HttpResponse head, channel->send_and_read_head({"POST", prefix + "/exec/" + url_encode(exec_id) + "/start",
                                                           body.dump(), "application/json", true}));
    if (head.status != 101 && head.status != 200) {
      PB_TRY_STATUS(refused_upgrade(*channel, head, op));
    }
    if (!options.input.empty()) {
      PB_TRY_STATUS(channel->raw_write(std::as_bytes(std::span(options.input))));
    }
    // EOF on stdin. Not for a TTY: closing its input hangs the session up and
    // output still in flight would be lost; the process ends on its own there.
    if (!tty) PB_TRY_STATUS(channel->raw_close_write());
    ExecResult result;
    StreamDemuxer demux(options.max_output);
    std::array<std::byte, 65536> buf{};
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) left = std::chrono::milliseconds(1);
      auto n = channel->raw_read(buf, left);
      if (!n.ok()) {
        if (n.error().kind == ErrorKind::timeout)
          return fail(ErrorKind::timeout, "the command in exec " + short_id(exec_id) + " did not finish within " +
                                              std::to_string(cfg.request_timeout.count() / 1000) + "s");
        return std::move(n).error();
      }
      if (*n == 0) break;
      std::span<const std::byte> piece(buf.data(), *n);
      if (tty) {
        if (append_capped(result.out, piece, options.max_output)) result.truncated = true;
      } else {
        demux.feed(piece);
      }
    }
    if (!tty) {
      result.out = std::move(demux.out);
      result.err = std::move(demux.err);
      result.truncated = demux.truncated;
    }
    // The stream ends as the process exits; the exit code may lag behind briefly.
    for (int attempt = 0; attempt < 50; ++attempt) {
      PB_TRY(json j, get_json("/exec/" + url_encode(exec_id) + "/json", "inspect exec " + short_id(exec_id)));
      if (!flag(j, "Running")) {
        result.exit_code = num(j, "ExitCode");
        return result;
      }
      ::usleep(20000);
    }
    return fail(ErrorKind::timeout, "exec " + short_id(exec_id) + " still runs after its output ended");
  }

  // ------------------------------------------------------------ volumes

  Result<VolumeInfo> volume_create(const std::string& name, const Labels& labels) override {
    const std::string op = "create volume '" + printable(name) + "'";
    json body = {{"Name", name}, {"Labels", labels}};
    PB_TRY(auto r, call("POST", "/volumes/create", body.dump(), op));
    PB_TRY_STATUS(expect(r, op));
    PB_TRY(json j, parse(r.body, op));
    return parse_volume(j);
  }

  Result<VolumeInfo> volume_inspect(const std::string& name) override {
    PB_TRY(json j, get_json("/volumes/" + url_encode(name), "inspect volume '" + printable(name) + "'"));
    return parse_volume(j);
  }

  Result<std::vector<VolumeInfo>> volume_list(const LabelFilters& labels, const std::string& name_part) override {
    json f = json::object();
    if (!labels.empty()) f["label"] = labels;
    if (!name_part.empty()) f["name"] = json::array({name_part});
    const std::string q = f.empty() ? std::string() : "filters=" + url_encode(f.dump());
    PB_TRY(json j, get_json("/volumes" + (q.empty() ? "" : "?" + q), "list volumes"));
    std::vector<VolumeInfo> out;
    auto it = j.find("Volumes");
    if (it == j.end() || !it->is_array()) return out;
    for (const auto& v : *it) out.push_back(parse_volume(v));
    return out;
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
    EngineConfig cfg = m_config;
    PB_TRY(auto channel, open_channel(cfg, op));
    PB_TRY(HttpResponse head, channel->send_and_read_head({"POST",
                                                           prefix + "/containers/" + url_encode(id) +
                                                               "/attach?stream=1&stdin=1&stdout=1&stderr=1",
                                                           {},
                                                           {},
                                                           true}));
    if (head.status != 101 && head.status != 200) {
      PB_TRY_STATUS(refused_upgrade(*channel, head, op));
    }
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
  friend class ArchiveUpload;

  static std::string short_id(const std::string& id) {
    std::string s = printable(id, 64);
    if (s.size() == 64 &&
        std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }))
      s.resize(12);
    return "'" + s + "'";
  }

  static std::string archive_target(const std::string& id, const std::string& path) {
    return "/containers/" + url_encode(id) + "/archive?path=" + url_encode(path);
  }

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
  /// is newer than ours says so on the first versioned call (see expect()).
  Result<std::string> negotiated() {
    {
      std::lock_guard lock(m_mutex);
      if (!m_api.empty()) return m_api;
    }
    std::string server_api;
    {
      const std::string op = "answer a ping";
      PB_TRY(auto channel, open_channel(m_config, op));
      PB_TRY(HttpResponse r, channel->round_trip({"GET", "/_ping", {}, {}, false}, k_json_limit));
      auto h = r.headers.find("api-version");
      if (r.status == 200 && h != r.headers.end()) server_api = h->second;
      if (r.headers.count("libpod-api-version") != 0) m_libpod = true;
    }
    if (server_api.empty()) {
      PB_TRY(DockerVersion v, fetch_version());
      server_api = v.server_api_version;
    }
    PB_TRY(std::string api, choose_api(server_api, {}));
    std::lock_guard lock(m_mutex);
    if (m_api.empty()) m_api = api;
    return m_api;
  }

  /// Takes the API version from a response's Api-Version header, when none is chosen yet.
  void learn_api_version(const HttpResponse& r) {
    if (r.headers.count("libpod-api-version") != 0) m_libpod = true;
    auto h = r.headers.find("api-version");
    if (h == r.headers.end()) return;
    auto api = choose_api(h->second, {});
    if (!api) return;  // the next versioned call negotiates, and says what is wrong
    std::lock_guard lock(m_mutex);
    if (m_api.empty()) m_api = *api;
  }

  /// GET /version: the daemon's full account of itself.
  Result<DockerVersion> fetch_version() {
    const std::string op = "report its version";
    PB_TRY(auto channel, open_channel(m_config, op));
    PB_TRY(HttpResponse r, channel->round_trip({"GET", "/version", {}, {}, false}, k_json_limit));
    PB_TRY_STATUS(expect(r, op));
    PB_TRY(json j, parse(r.body, op));
    DockerVersion v;
    v.server_version = str(j, "Version");
    v.server_api_version = str(j, "ApiVersion");
    v.min_api_version = str(j, "MinAPIVersion");
    v.os = str(j, "Os");
    v.arch = str(j, "Arch");
    // Podman answers /version with its own components; its Version is Podman's.
    if (auto c = j.find("Components"); c != j.end() && c->is_array())
      for (const auto& component : *c)
        if (component.is_object() && str(component, "Name") == "Podman Engine") v.engine = "Podman";
    return v;
  }

  /// The newest API both sides speak, or why there is none.
  Result<std::string> choose_api(const std::string& server_api, const std::string& server_min) const {
    if (server_api.empty())
      return fail(ErrorKind::api, "Docker at " + m_config.host + " did not say which API version it speaks");
    // It becomes part of every request path ("/v1.41/..."): digits and dots only.
    if (server_api.size() > 16 || server_api.find_first_not_of("0123456789.") != std::string::npos)
      return fail(ErrorKind::api, "Docker at " + m_config.host + " named an API version that is not one ('" +
                                      printable(server_api, 40) + "')");
    std::string api = compare_api_versions(server_api, k_client_api_version) < 0 ? server_api : k_client_api_version;
    if (compare_api_versions(api, k_min_api_version) < 0)
      return fail(ErrorKind::api, "Docker at " + m_config.host + " speaks API " + printable(api) + ", older than the " +
                                      k_min_api_version + " para-broker needs; upgrade Docker");
    if (!server_min.empty() && compare_api_versions(api, server_min) < 0)
      return fail(ErrorKind::api, "Docker at " + m_config.host + " no longer accepts API " + printable(api) +
                                      " (oldest " + printable(server_min) + "); upgrade para-broker");
    return api;
  }

  Result<std::string> api_prefix() {
    PB_TRY(std::string api, negotiated());
    return "/v" + api;
  }

  Result<HttpResponse> call(const std::string& method, const std::string& path, std::string body, const std::string& op,
                            bool versioned = true) {
    std::string target = path;
    if (versioned) {
      PB_TRY(std::string prefix, api_prefix());
      target = prefix + path;
    }
    PB_TRY(auto channel, open_channel(m_config, op));
    std::string type = body.empty() ? std::string() : "application/json";
    return channel->round_trip({method, target, std::move(body), type, false}, k_json_limit);
  }

  Result<json> get_json(const std::string& path, const std::string& op) {
    PB_TRY(auto r, call("GET", path, {}, op));
    PB_TRY_STATUS(expect(r, op));
    return parse(r.body, op);
  }

  Result<std::unique_ptr<HttpChannel>> stream_get_raw(const std::string& path, const std::string& op,
                                                      HttpResponse& head) {
    PB_TRY(std::string prefix, api_prefix());
    PB_TRY(auto channel, open_channel(m_config, op));
    PB_TRY(head, channel->send_and_read_head({"GET", prefix + path, {}, {}, false}));
    if (head.status >= 300) {
      std::string text;
      std::array<std::byte, 4096> buf{};
      for (int i = 0; i < 16 && text.size() < 65536; ++i) {
        auto n = channel->read_body(buf);
        if (!n.ok() || *n == 0) break;
        text.append(reinterpret_cast<const char*>(buf.data()), *n);
      }
      head.body = text;
      PB_TRY_STATUS(expect(head, op));
    }
    return channel;
  }

  Result<std::unique_ptr<HttpChannel>> stream_get(const std::string& path, const std::string& op) {
    HttpResponse head;
    return stream_get_raw(path, op, head);
  }

  static Result<json> parse(const std::string& body, const std::string& op) {
    try {
      return json::parse(body);
    } catch (const json::exception&) {
      return fail(ErrorKind::api, "Docker's answer to " + op + " is not valid JSON");
    }
  }

  static Result<PathStat> path_stat(const std::map<std::string, std::string>& headers, const std::string& op) {
    auto it = headers.find("x-docker-container-path-stat");
    if (it == headers.end()) return fail(ErrorKind::api, "Docker did not describe the path when asked to " + op);
    auto decoded = base64_decode(it->second);
    if (!decoded) return fail(ErrorKind::api, "Docker's path description for " + op + " is not base64");
    PB_TRY(json j, parse(*decoded, op));
    PathStat s;
    s.name = str(j, "name");
    s.size = num(j, "size");
    s.mode = static_cast<std::uint32_t>(num(j, "mode"));
    s.mtime = str(j, "mtime");
    s.link_target = str(j, "linkTarget");
    return s;
  }

  /// An upgrade (exec start, attach) the daemon refused: reads the bounded
  /// error body for the daemon's message and returns it as an Error.
  Status refused_upgrade(HttpChannel& channel, HttpResponse& head, const std::string& op) const {
    std::string text;
    std::array<std::byte, 4096> buf{};
    for (int i = 0; i < 16; ++i) {
      auto n = channel.read_body(buf);
      if (!n.ok() || *n == 0) break;
      text.append(reinterpret_cast<const char*>(buf.data()), *n);
    }
    head.body = text;
    return expect(head, op);
  }

 public:
  /// Turns an HTTP status into success or the matching Error kind.
  Status expect(const HttpResponse& r, const std::string& op) const {
    if (r.status >= 200 && r.status < 300) return {};
    std::string message;
    try {
      json j = json::parse(r.body);
      message = str(j, "message");
    } catch (const json::exception&) {
      message = r.body;
    }
    while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) message.pop_back();
    message = printable(message);
    if (message.empty()) message = "HTTP " + std::to_string(r.status);
    // "client version 1.43 is too old. Minimum supported API version is 1.44, ..."
    if (r.status == 400 && message.find("Minimum supported API version") != std::string::npos)
      return fail(ErrorKind::api, "Docker at " + m_config.host + " no longer accepts API " + k_client_api_version +
                                      " (" + message + "); upgrade para-broker");
    switch (r.status) {
      case 404:
        return fail(ErrorKind::not_found, "Docker could not " + op + ": " + message);
      case 409:
        return fail(ErrorKind::conflict, "Docker could not " + op + ": " + message);
      default:
        return fail(ErrorKind::api, "Docker could not " + op + " (HTTP " + std::to_string(r.status) + "): " + message);
    }
  }

  const EngineConfig& config() const { return m_config; }

 private:
  EngineConfig m_config;
  std::mutex m_mutex;
  std::string m_api;                  ///< negotiated version, empty until the first call
  std::atomic<bool> m_libpod{false};  ///< the engine is Podman (its responses carry Libpod-Api-Version)
};

/// A chunked PUT of a tar stream into a container.
class ArchiveUpload final : public ByteWriter {
 public:
  ArchiveUpload(std::shared_ptr<EngineClient> client, std::unique_ptr<HttpChannel> channel, std::string op)
      : m_client(std::move(client)), m_channel(std::move(channel)), m_op(std::move(op)) {}

  Status write(std::span<const std::byte> bytes) override {
    if (m_done) return fail(ErrorKind::failure, "the upload to " + m_op + " is already finished");
    Status s = m_channel->write_chunk(bytes);
    if (!s.ok()) return early_answer(std::move(s).error());
    return {};
  }

  Status finish() override {
    if (m_done) return fail(ErrorKind::failure, "the upload to " + m_op + " is already finished");
    m_done = true;
    auto r = m_channel->finish_chunked(k_json_limit);
    if (!r.ok()) return early_answer(std::move(r).error());
    return m_client->expect(*r, m_op);
  }

 private:
  /// The daemon may refuse (404, 400) before reading the body; its answer says why.
  Error early_answer(Error transport) {
    m_done = true;
    auto r = m_channel->read_early_response(k_json_limit);
    if (r.ok()) {
      Status s = m_client->expect(*r, m_op);
      if (!s.ok()) return std::move(s).error();
    }
    return transport;
  }

  std::shared_ptr<EngineClient> m_client;
  std::unique_ptr<HttpChannel> m_channel;
  std::string m_op;
  bool m_done = false;
};

Result<std::unique_ptr<ByteWriter>> EngineClient::archive_put(const std::string& id, const std::string& path) {
  const std::string op = "copy into '" + printable(path) + "' in container " + short_id(id);
  PB_TRY(std::string prefix, api_prefix());
  PB_TRY(auto channel, open_channel(m_config, op));
  PB_TRY_STATUS(channel->send_chunked_head({"PUT", prefix + archive_target(id, path), {}, "application/x-tar", false}));
  return std::unique_ptr<ByteWriter>(std::make_unique<ArchiveUpload>(shared_from_this(), std::move(channel), op));
}

/// The chunked POST of a root file system for /images/create?fromSrc=-. The
/// daemon answers 200 and a JSON progress stream; a failure is a line with "error".
class ImageImportUpload final : public ByteWriter {
 public:
  ImageImportUpload(std::shared_ptr<EngineClient> client, std::unique_ptr<HttpChannel> channel, std::string op)
      : m_client(std::move(client)), m_channel(std::move(channel)), m_op(std::move(op)) {}

  Status write(std::span<const std::byte> bytes) override {
    if (m_done) return fail(ErrorKind::failure, "the upload to " + m_op + " is already finished");
    Status s = m_channel->write_chunk(bytes);
    if (!s.ok()) {
      m_done = true;
      auto r = m_channel->read_early_response(k_json_limit);
      if (r.ok()) PB_TRY_STATUS(m_client->expect(*r, m_op));
      return s;
    }
    return {};
  }

  Status finish() override {
    if (m_done) return fail(ErrorKind::failure, "the upload to " + m_op + " is already finished");
    m_done = true;
    PB_TRY(HttpResponse r, m_channel->finish_chunked(k_json_limit));
    PB_TRY_STATUS(m_client->expect(r, m_op));
    std::size_t start = 0;
    while (start < r.body.size()) {
      std::size_t end = r.body.find('\n', start);
      if (end == std::string::npos) end = r.body.size();
      json line = json::parse(r.body.substr(start, end - start), nullptr, false);
      if (line.is_object() && line.contains("error"))
        return fail(ErrorKind::api, "Docker could not " + m_op + ": " + printable(str(line, "error")));
      start = end + 1;
    }
    return {};
  }

 private:
  std::shared_ptr<EngineClient> m_client;
  std::unique_ptr<HttpChannel> m_channel;
  std::string m_op;
  bool m_done = false;
};

Result<std::unique_ptr<ByteWriter>> EngineClient::image_import(const std::string& reference,
                                                               const std::vector<std::string>& changes) {
  const std::string op = "import image '" + printable(reference) + "'";
  std::string repo = reference, tag;
  if (auto colon = reference.rfind(':');
      colon != std::string::npos && reference.find('/', colon) == std::string::npos) {
    repo = reference.substr(0, colon);
    tag = reference.substr(colon + 1);
  }
  std::string target = "/images/create?fromSrc=-&repo=" + url_encode(repo);
  if (!tag.empty()) target += "&tag=" + url_encode(tag);
  for (const auto& c : changes) target += "&changes=" + url_encode(c);
  PB_TRY(std::string prefix, api_prefix());
  PB_TRY(auto channel, open_channel(m_config, op));
  PB_TRY_STATUS(channel->send_chunked_head({"POST", prefix + target, {}, "application/x-tar", false}));
  return std::unique_ptr<ByteWriter>(std::make_unique<ImageImportUpload>(shared_from_this(), std::move(channel), op));
}

}  // namespace

std::shared_ptr<DockerClient> make_engine_client(const EngineConfig& config) {
  return std::make_shared<EngineClient>(config);
}

}  // namespace pb::broker::docker
