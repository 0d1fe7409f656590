// EngineClient (engine_internal.hpp): one request, one whole answer. Images,
// containers and volumes, and the API version, negotiated once.

#include <algorithm>
#include <thread>

#include "broker/docker/engine_internal.hpp"

namespace pb::broker::docker {

EngineClock EngineClock::system() {
  return {[] { return std::chrono::steady_clock::now(); },
          [](std::chrono::milliseconds pause) { std::this_thread::sleep_for(pause); }};
}

std::shared_ptr<DockerClient> make_engine_client(const EngineConfig& config) {
  return make_engine_client(config, open_channel, EngineClock::system());
}

std::shared_ptr<DockerClient> make_engine_client(const EngineConfig& config, ChannelFactory open, EngineClock clock) {
  return std::make_shared<detail::EngineClient>(config, std::move(open), std::move(clock));
}

namespace detail {

Status EngineClient::ping() {
  PB_TRY(auto r, call("GET", "/_ping", {}, "check that Docker answers", false));
  return expect(r, "check that Docker answers");
}

Result<DockerVersion> EngineClient::version() {
  PB_TRY(DockerVersion v, fetch_version());
  PB_TRY(v.api_version, choose_api(m_config.host, v.server_api_version, v.min_api_version));
  std::lock_guard lock(m_mutex);
  if (m_api.empty()) m_api = v.api_version;
  return v;
}

Result<ImageInfo> EngineClient::image_inspect(const std::string& name) {
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
  return parse_image_inspect(r.body, op);
}

Result<std::vector<ImageSummary>> EngineClient::image_list(const LabelFilters& labels) {
  const std::string op = "list images";
  PB_TRY(std::string body, get(image_list_path(labels), op));
  return parse_image_list(body, op);
}

Status EngineClient::image_remove(const std::string& name, bool force) {
  const std::string op = "remove image '" + printable(name) + "'";
  PB_TRY(auto r, call("DELETE", "/images/" + name_segment(name) + (force ? "?force=1" : ""), {}, op));
  return expect(r, op);
}

Result<std::string> EngineClient::container_create(const ContainerSpec& spec) {
  const std::string op = "create a container from image '" + printable(spec.image) + "'";
  PB_TRY_STATUS(create_labelled_volumes_on_podman(spec));
  PB_TRY(auto r, call("POST", container_create_path(spec.name), container_create_body(spec), op));
  PB_TRY_STATUS(expect(r, op));
  return parse_created_id(r.body, op, "an ID");
}

Status EngineClient::container_start(const std::string& id) {
  const std::string op = "start container " + short_id(id);
  PB_TRY(auto r, call("POST", "/containers/" + url_encode(id) + "/start", {}, op));
  if (r.status == 304) return {};  // already running
  return expect(r, op);
}

Result<WaitResult> EngineClient::container_wait(const std::string& id, std::chrono::seconds timeout) {
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
  return parse_container_wait(r->body, op);
}

Status EngineClient::container_kill(const std::string& id, const std::string& signal) {
  const std::string op = "kill container " + short_id(id);
  PB_TRY(auto r, call("POST", "/containers/" + url_encode(id) + "/kill?signal=" + url_encode(signal), {}, op));
  return expect(r, op);
}

Status EngineClient::container_remove(const std::string& id, bool force, bool volumes) {
  const std::string op = "remove container " + short_id(id);
  PB_TRY(auto r, call("DELETE", container_remove_path(id, force, volumes), {}, op));
  return expect(r, op);
}

Result<std::vector<FileChange>> EngineClient::container_changes(const std::string& id) {
  const std::string op = "list the changes in container " + short_id(id);
  PB_TRY(std::string body, get("/containers/" + url_encode(id) + "/changes", op));
  return parse_container_changes(body, op);
}

Result<std::vector<ContainerSummary>> EngineClient::container_list(const LabelFilters& labels) {
  const std::string op = "list containers";
  PB_TRY(std::string body, get(container_list_path(labels), op));
  return parse_container_list(body, op);
}

Result<ContainerInfo> EngineClient::container_inspect(const std::string& id) {
  const std::string op = "inspect container " + short_id(id);
  PB_TRY(std::string body, get("/containers/" + url_encode(id) + "/json", op));
  return parse_container_inspect(body, op);
}

Result<PathStat> EngineClient::archive_stat(const std::string& id, const std::string& path) {
  const std::string op = "look at '" + printable(path) + "' in container " + short_id(id);
  PB_TRY(auto r, call("HEAD", archive_path(id, path), {}, op));
  PB_TRY_STATUS(expect(r, op));
  return parse_path_stat(r.headers, op);
}

Result<VolumeInfo> EngineClient::volume_create(const std::string& name, const Labels& labels) {
  const std::string op = "create volume '" + printable(name) + "'";
  PB_TRY(auto r, call("POST", "/volumes/create", volume_create_body(name, labels), op));
  PB_TRY_STATUS(expect(r, op));
  return parse_volume(r.body, op);
}

Result<VolumeInfo> EngineClient::volume_inspect(const std::string& name) {
  const std::string op = "inspect volume '" + printable(name) + "'";
  PB_TRY(std::string body, get("/volumes/" + url_encode(name), op));
  return parse_volume(body, op);
}

Result<std::vector<VolumeInfo>> EngineClient::volume_list(const LabelFilters& labels, const std::string& name_part) {
  const std::string op = "list volumes";
  PB_TRY(std::string body, get(volume_list_path(labels, name_part), op));
  return parse_volume_list(body, op);
}

Status EngineClient::volume_remove(const std::string& name, bool force) {
  const std::string op = "remove volume '" + printable(name) + "'";
  PB_TRY(auto r, call("DELETE", "/volumes/" + url_encode(name) + (force ? "?force=1" : ""), {}, op));
  return expect(r, op);
}

/// Podman's Docker-compatible API creates the volume a mount names, as
/// Docker does, but drops the mount's VolumeOptions.Labels (measured with
/// Podman 4.3.1): a keeper's volume would be unlabelled, so nothing would
/// know it as para-broker's. On Podman such volumes are created first, with
/// their labels (an existing volume is left as it is, as Docker leaves it).
Status EngineClient::create_labelled_volumes_on_podman(const ContainerSpec& spec) {
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
/// answer_status()).
Result<std::string> EngineClient::negotiated() {
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
  PB_TRY(std::string api, choose_api(m_config.host, server_api, {}));
  std::lock_guard lock(m_mutex);
  if (m_api.empty()) m_api = api;
  return m_api;
}

/// Takes the API version from a response's Api-Version header, when none is chosen yet.
void EngineClient::learn_api_version(const HttpResponse& r) {
  if (r.headers.count("libpod-api-version") != 0) m_libpod = true;
  auto h = r.headers.find("api-version");
  if (h == r.headers.end()) return;
  auto api = choose_api(m_config.host, h->second, {});
  if (!api) return;  // the next versioned call negotiates, and says what is wrong
  std::lock_guard lock(m_mutex);
  if (m_api.empty()) m_api = *api;
}

/// GET /version: the daemon's full account of itself.
Result<DockerVersion> EngineClient::fetch_version() {
  const std::string op = "report its version";
  PB_TRY(auto channel, m_open(m_config, op));
  PB_TRY(HttpResponse r, channel->round_trip({"GET", "/version", {}, {}, false}, k_json_limit));
  PB_TRY_STATUS(expect(r, op));
  return parse_version(r.body, op);
}

Result<std::string> EngineClient::api_prefix() {
  PB_TRY(std::string api, negotiated());
  return "/v" + api;
}

/// One request and its whole answer on a connection of its own.
Result<HttpResponse> EngineClient::call(const std::string& method, const std::string& path, std::string body,
                                        const std::string& op, bool versioned) {
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
Result<std::string> EngineClient::get(const std::string& path, const std::string& op) {
  PB_TRY(auto r, call("GET", path, {}, op));
  PB_TRY_STATUS(expect(r, op));
  return std::move(r.body);
}

/// Turns an HTTP status into success or the matching Error kind.
Status EngineClient::expect(const HttpResponse& r, const std::string& op) const {
  return answer_status(r.status, r.body, op, m_config.host);
}

}  // namespace detail
}  // namespace pb::broker::docker
