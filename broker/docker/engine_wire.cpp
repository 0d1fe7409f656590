#include "broker/docker/engine_wire.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "core/json.hpp"
#include "core/text.hpp"

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

void OutputCollector::feed(std::span<const std::byte> piece) {
  if (m_tty) {
    if (append_capped(m_demux.out, piece, m_max)) m_demux.truncated = true;
  } else {
    m_demux.feed(piece);
  }
}

void OutputCollector::take(std::string& out, std::string& err, bool& truncated) {
  out = std::move(m_demux.out);
  err = std::move(m_demux.err);
  truncated = m_demux.truncated;
}

namespace detail {
namespace {

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

/// nlohmann's exceptions stop here: a body that is not JSON is the daemon's fault, named by the operation.
Result<json> parse(const std::string& body, const std::string& op) {
  try {
    return json::parse(body);
  } catch (const json::exception&) {
    return fail(ErrorKind::api, "Docker's answer to " + op + " is not valid JSON");
  }
}

VolumeInfo volume_of(const json& j) {
  return {str(j, "Name"), str(j, "Driver"), str(j, "Mountpoint"), labels_of(j, "Labels")};
}

json mount_of(const MountSpec& m) {
  const char* type = m.type == MountSpec::Type::volume ? "volume" : m.type == MountSpec::Type::bind ? "bind" : "tmpfs";
  json jm = {{"Type", type}, {"Target", m.target}, {"ReadOnly", m.read_only}};
  if (!m.source.empty()) jm["Source"] = m.source;
  if (m.type == MountSpec::Type::volume && (m.no_copy || !m.volume_labels.empty())) {
    json vo = json::object();
    if (m.no_copy) vo["NoCopy"] = true;
    if (!m.volume_labels.empty()) vo["Labels"] = m.volume_labels;
    jm["VolumeOptions"] = vo;
  }
  return jm;
}

/// HostConfig of a container's creation; `body` gains NetworkDisabled with network "none".
json host_config_of(const ContainerSpec& spec, json& body) {
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
  if (!spec.log_max_size.empty())
    host["LogConfig"] = {{"Type", "json-file"}, {"Config", {{"max-size", spec.log_max_size}}}};
  json mounts = json::array();
  for (const auto& m : spec.mounts) mounts.push_back(mount_of(m));
  if (!mounts.empty()) host["Mounts"] = mounts;
  return host;
}

}  // namespace

// ------------------------------------------------------------ paths

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

std::string filters_query(const LabelFilters& labels, const std::string& name_part) {
  json f = json::object();
  if (!labels.empty()) f["label"] = labels;
  if (!name_part.empty()) f["name"] = json::array({name_part});
  return f.empty() ? std::string() : "filters=" + url_encode(f.dump());
}

std::string image_list_path(const LabelFilters& labels) {
  const std::string q = filters_query(labels);
  return "/images/json" + (q.empty() ? "" : "?" + q);
}

std::string container_list_path(const LabelFilters& labels) {
  const std::string q = filters_query(labels);
  return "/containers/json?all=1" + (q.empty() ? "" : "&" + q);
}

std::string volume_list_path(const LabelFilters& labels, const std::string& name_part) {
  const std::string q = filters_query(labels, name_part);
  return "/volumes" + (q.empty() ? "" : "?" + q);
}

std::string container_create_path(const std::string& name) {
  return "/containers/create" + (name.empty() ? "" : "?name=" + url_encode(name));
}

std::string container_remove_path(const std::string& id, bool force, bool volumes) {
  return "/containers/" + url_encode(id) + "?force=" + (force ? "1" : "0") + "&v=" + (volumes ? "1" : "0");
}

std::string container_logs_path(const std::string& id, const LogOptions& options) {
  return "/containers/" + url_encode(id) + "/logs?stdout=" + (options.stdout_stream ? "1" : "0") +
         "&stderr=" + (options.stderr_stream ? "1" : "0");
}

std::string archive_path(const std::string& id, const std::string& path) {
  return "/containers/" + url_encode(id) + "/archive?path=" + url_encode(path);
}

std::string image_import_path(const std::string& reference, const std::vector<std::string>& changes) {
  std::string repo = reference, tag;
  if (auto colon = reference.rfind(':');
      colon != std::string::npos && reference.find('/', colon) == std::string::npos) {
    repo = reference.substr(0, colon);
    tag = reference.substr(colon + 1);
  }
  std::string target = "/images/create?fromSrc=-&repo=" + url_encode(repo);
  if (!tag.empty()) target += "&tag=" + url_encode(tag);
  for (const auto& c : changes) target += "&changes=" + url_encode(c);
  return target;
}

// ------------------------------------------------------------ bodies

std::string container_create_body(const ContainerSpec& spec) {
  json body = {{"Image", spec.image},
               {"Tty", spec.tty},
               {"OpenStdin", spec.open_stdin},
               {"StdinOnce", false},
               {"AttachStdin", spec.open_stdin},
               {"AttachStdout", true},
               {"AttachStderr", true}};
  if (!spec.cmd.empty()) body["Cmd"] = spec.cmd;
  // An empty list clears the image's entrypoint only when sent as [""].
  if (spec.entrypoint) body["Entrypoint"] = spec.entrypoint->empty() ? std::vector<std::string>{""} : *spec.entrypoint;
  if (!spec.env.empty()) body["Env"] = spec.env;
  if (!spec.user.empty()) body["User"] = spec.user;
  if (!spec.working_dir.empty()) body["WorkingDir"] = spec.working_dir;
  body["Labels"] = spec.labels;
  body["HostConfig"] = host_config_of(spec, body);
  return body.dump();
}

std::string exec_create_body(const ExecSpec& spec) {
  json body = {
      {"AttachStdin", true}, {"AttachStdout", true}, {"AttachStderr", true}, {"Tty", spec.tty}, {"Cmd", spec.cmd}};
  if (!spec.env.empty()) body["Env"] = spec.env;
  if (!spec.user.empty()) body["User"] = spec.user;
  if (!spec.working_dir.empty()) body["WorkingDir"] = spec.working_dir;
  return body.dump();
}

std::string exec_start_body(bool tty) {
  return json{{"Detach", false}, {"Tty", tty}}.dump();
}

std::string volume_create_body(const std::string& name, const Labels& labels) {
  return json{{"Name", name}, {"Labels", labels}}.dump();
}

// ------------------------------------------------------------ answers

Result<DockerVersion> parse_version(const std::string& body, const std::string& op) {
  PB_TRY(json j, parse(body, op));
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

Result<ImageInfo> parse_image_inspect(const std::string& body, const std::string& op) {
  PB_TRY(json j, parse(body, op));
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

Result<std::vector<ImageSummary>> parse_image_list(const std::string& body, const std::string& op) {
  PB_TRY(json j, parse(body, op));
  std::vector<ImageSummary> out;
  if (!j.is_array()) return out;
  for (const auto& e : j)
    out.push_back({str(e, "Id"), strings(e, "RepoTags"), labels_of(e, "Labels"), num(e, "Size"), num(e, "Created")});
  return out;
}

Result<ContainerInfo> parse_container_inspect(const std::string& body, const std::string& op) {
  PB_TRY(json j, parse(body, op));
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

Result<std::vector<ContainerSummary>> parse_container_list(const std::string& body, const std::string& op) {
  PB_TRY(json j, parse(body, op));
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

Result<std::vector<FileChange>> parse_container_changes(const std::string& body, const std::string& op) {
  PB_TRY(json j, parse(body, op));
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

Result<WaitResult> parse_container_wait(const std::string& body, const std::string& op) {
  PB_TRY(json j, parse(body, op));
  return WaitResult{num(j, "StatusCode"), str(obj(j, "Error"), "Message")};
}

Result<VolumeInfo> parse_volume(const std::string& body, const std::string& op) {
  PB_TRY(json j, parse(body, op));
  return volume_of(j);
}

Result<std::vector<VolumeInfo>> parse_volume_list(const std::string& body, const std::string& op) {
  PB_TRY(json j, parse(body, op));
  std::vector<VolumeInfo> out;
  auto it = j.find("Volumes");
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& v : *it) out.push_back(volume_of(v));
  return out;
}

Result<std::string> parse_created_id(const std::string& body, const std::string& op, const std::string& what) {
  PB_TRY(json j, parse(body, op));
  std::string id = str(j, "Id");
  if (id.empty()) return fail(ErrorKind::api, "Docker did not return " + what + " when asked to " + op);
  return id;
}

Result<ExecState> parse_exec_inspect(const std::string& body, const std::string& op) {
  PB_TRY(json j, parse(body, op));
  return ExecState{flag(obj(j, "ProcessConfig"), "tty"), flag(j, "Running"), num(j, "ExitCode")};
}

Result<PathStat> parse_path_stat(const std::map<std::string, std::string>& headers, const std::string& op) {
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

Status import_verdict(const std::string& body, const std::string& op) {
  std::size_t start = 0;
  while (start < body.size()) {
    std::size_t end = body.find('\n', start);
    if (end == std::string::npos) end = body.size();
    json line = json::parse(body.substr(start, end - start), nullptr, false);
    if (line.is_object() && line.contains("error"))
      return fail(ErrorKind::api, "Docker could not " + op + ": " + printable(str(line, "error")));
    start = end + 1;
  }
  return {};
}

// ------------------------------------------------------------ versions and errors

Result<std::string> choose_api(const std::string& host, const std::string& server_api, const std::string& server_min) {
  if (server_api.empty()) return fail(ErrorKind::api, "Docker at " + host + " did not say which API version it speaks");
  // It becomes part of every request path ("/v1.41/..."): digits and dots only.
  if (server_api.size() > 16 || server_api.find_first_not_of("0123456789.") != std::string::npos)
    return fail(ErrorKind::api,
                "Docker at " + host + " named an API version that is not one ('" + printable(server_api, 40) + "')");
  std::string api = compare_api_versions(server_api, k_client_api_version) < 0 ? server_api : k_client_api_version;
  if (compare_api_versions(api, k_min_api_version) < 0)
    return fail(ErrorKind::api, "Docker at " + host + " speaks API " + printable(api) + ", older than the " +
                                    k_min_api_version + " para-broker needs; upgrade Docker");
  if (!server_min.empty() && compare_api_versions(api, server_min) < 0)
    return fail(ErrorKind::api, "Docker at " + host + " no longer accepts API " + printable(api) + " (oldest " +
                                    printable(server_min) + "); upgrade para-broker");
  return api;
}

std::string error_message(const std::string& body) {
  std::string message;
  try {
    json j = json::parse(body);
    message = str(j, "message");
  } catch (const json::exception&) {
    message = body;
  }
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) message.pop_back();
  return printable(message);
}

Status answer_status(unsigned status, const std::string& body, const std::string& op, const std::string& host) {
  if (status >= 200 && status < 300) return {};
  std::string message = error_message(body);
  if (message.empty()) message = "HTTP " + std::to_string(status);
  // "client version 1.43 is too old. Minimum supported API version is 1.44, ..."
  if (status == 400 && message.find("Minimum supported API version") != std::string::npos)
    return fail(ErrorKind::api, "Docker at " + host + " no longer accepts API " + k_client_api_version + " (" +
                                    message + "); upgrade para-broker");
  switch (status) {
    case 404:
      return fail(ErrorKind::not_found, "Docker could not " + op + ": " + message);
    case 409:
      return fail(ErrorKind::conflict, "Docker could not " + op + ": " + message);
    default:
      return fail(ErrorKind::api, "Docker could not " + op + " (HTTP " + std::to_string(status) + "): " + message);
  }
}

std::string short_id(const std::string& id) {
  std::string s = printable(id, 64);
  if (s.size() == 64 &&
      std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }))
    s.resize(12);
  return "'" + s + "'";
}

}  // namespace detail
}  // namespace pb::broker::docker
