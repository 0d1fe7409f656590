#include "broker/docker/connect.hpp"

#include <charconv>

#include "broker/docker/docker_client.hpp"
#include "broker/docker/engine_client.hpp"
#include "core/paths.hpp"

namespace pb::broker::docker {

Result<EngineConfig> config_from_environment() {
  EngineConfig c;
  if (auto host = env_var("DOCKER_HOST")) c.host = *host;
  auto verify = env_var("DOCKER_TLS_VERIFY");
  auto cert_path = env_var("DOCKER_CERT_PATH");
  c.tls_verify = verify.has_value();
  // The docker CLI's rules: TLS when asked for (DOCKER_TLS), when verification is
  // asked for, or when a certificate directory is given.
  c.tls = c.tls_verify || env_var("DOCKER_TLS").has_value() || cert_path.has_value();
  if (cert_path) {
    c.cert_path = *cert_path;
  } else if (auto home = env_var("HOME")) {
    c.cert_path = std::filesystem::path(*home) / ".docker";
  }
  if (auto t = env_var("PARA_BROKER_DOCKER_TIMEOUT")) {
    double seconds = 0;
    auto [end, ec] = std::from_chars(t->data(), t->data() + t->size(), seconds);
    if (ec != std::errc() || end != t->data() + t->size() || seconds <= 0 || seconds > 86400)
      return fail(ErrorKind::usage, "PARA_BROKER_DOCKER_TIMEOUT must be a number of seconds, not '" + *t + "'");
    c.request_timeout = std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
    c.connect_timeout = std::min(c.connect_timeout, c.request_timeout);
  }
  return c;
}

Result<std::shared_ptr<DockerClient>> connect(const EngineConfig& config) {
  const std::string& h = config.host;
  if (h.starts_with("unix://")) {
    if (h.size() <= 7) return fail(ErrorKind::usage, "DOCKER_HOST 'unix://' names no socket path");
    if (config.tls) {
      // The docker CLI ignores TLS settings for unix sockets; so do we.
      EngineConfig plain = config;
      plain.tls = false;
      plain.tls_verify = false;
      return make_engine_client(plain);
    }
    return make_engine_client(config);
  }
  if (h.starts_with("tcp://")) {
    std::string rest = h.substr(6);
    while (!rest.empty() && rest.back() == '/') rest.pop_back();
    if (rest.empty() || rest.find('/') != std::string::npos)
      return fail(ErrorKind::usage, "DOCKER_HOST '" + h + "' is not of the form tcp://host:port");
    EngineConfig c = config;
    c.host = "tcp://" + rest;
    return make_engine_client(c);
  }
  return fail(ErrorKind::usage,
              "DOCKER_HOST '" + h + "' is not supported; use unix:///path/to/docker.sock or tcp://host:port");
}

std::optional<std::string> EngineConfig::insecure_reason() const {
  if (host.starts_with("unix://")) return std::nullopt;
  if (!tls) return "plain tcp:// without TLS";
  if (!tls_verify) return "TLS that does not verify the daemon's certificate (DOCKER_TLS_VERIFY is not set)";
  return std::nullopt;
}

Status require_login_transport(const DockerClient& docker) {
  auto why = docker.insecure_transport();
  if (!why || env_var("PARA_BROKER_ALLOW_INSECURE_DOCKER") == std::optional<std::string>("1")) return {};
  return fail(ErrorKind::unsafe_input,
              "Docker at " + docker.endpoint() + " is reached over " + *why +
                  ", where a login could be read or changed on the way; use a unix socket or TLS with "
                  "DOCKER_TLS_VERIFY=1, or set PARA_BROKER_ALLOW_INSECURE_DOCKER=1 to accept the risk");
}

Result<std::shared_ptr<DockerClient>> connect_from_environment() {
  PB_TRY(EngineConfig config, config_from_environment());
  return connect(config);
}

}  // namespace pb::broker::docker
