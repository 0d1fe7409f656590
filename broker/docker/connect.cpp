#include "broker/docker/connect.hpp"

#include <nlohmann/json.hpp>

#include "broker/docker/docker_client.hpp"
#include "broker/docker/engine_client.hpp"
#include "core/files.hpp"
#include "core/paths.hpp"
#include "core/text.hpp"
#include "vault/crypto.hpp"

namespace pb::broker::docker {

namespace {

/// Reads a small JSON file of the docker CLI's; nullopt when it does not exist.
Result<std::optional<nlohmann::json>> read_cli_json(const std::filesystem::path& path, const std::string& what) {
  auto bytes = read_file(path, 1u << 20);
  if (!bytes) {
    if (bytes.error().kind == ErrorKind::not_found) return std::optional<nlohmann::json>{};
    return fail(ErrorKind::unreachable, "cannot read " + what + " " + path.string() + ": " + bytes.error().message);
  }
  auto j = nlohmann::json::parse(bytes->begin(), bytes->end(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return fail(ErrorKind::unreachable, what + " " + path.string() + " is not a JSON object");
  return std::optional<nlohmann::json>(std::move(j));
}

Status apply_timeout(EngineConfig& c) {
  if (auto t = env_var("PARA_BROKER_DOCKER_TIMEOUT")) {
    const std::optional<double> parsed = parse_decimal(*t);
    const double seconds = parsed.value_or(0);
    if (!parsed || !(seconds > 0) || seconds > 86400)
      return fail(ErrorKind::usage, "PARA_BROKER_DOCKER_TIMEOUT must be a number of seconds, not '" + *t + "'");
    c.request_timeout = std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
    c.connect_timeout = std::min(c.connect_timeout, c.request_timeout);
  }
  return {};
}

}  // namespace

std::filesystem::path docker_config_dir() {
  if (auto d = env_var("DOCKER_CONFIG")) return *d;
  if (auto home = env_var("HOME")) return std::filesystem::path(*home) / ".docker";
  return ".docker";
}

Result<EngineConfig> context_config(const std::filesystem::path& config_dir, const std::string& name,
                                    const std::string& why) {
  EngineConfig c;
  if (name == "default") {
    c.origin = "context 'default' (" + why + "): the default socket";
    return c;
  }
  const std::string id = vault::to_hex(vault::sha256(as_bytes(name)));
  const auto meta_path = config_dir / "contexts" / "meta" / id / "meta.json";
  const std::string shown = "Docker context '" + printable(name, 80) + "' (" + why + ")";
  PB_TRY(std::optional<nlohmann::json> meta, read_cli_json(meta_path, shown + ": its metadata"));
  if (!meta)
    return fail(ErrorKind::unreachable,
                shown + " does not exist in " + (config_dir / "contexts").string() +
                    "; create it with `docker context create`, choose another, or set DOCKER_HOST");
  const nlohmann::json* docker = nullptr;
  if (auto endpoints = meta->find("Endpoints"); endpoints != meta->end() && endpoints->is_object())
    if (auto d = endpoints->find("docker"); d != endpoints->end() && d->is_object()) docker = &*d;
  if (docker == nullptr || !docker->contains("Host") || !(*docker)["Host"].is_string())
    return fail(ErrorKind::unreachable, shown + " has no Docker endpoint in " + meta_path.string());
  c.host = (*docker)["Host"].get<std::string>();
  const auto skip = docker->find("SkipTLSVerify");
  const bool skip_verify = skip != docker->end() && skip->is_boolean() && skip->get<bool>();
  // TLS material, when the context has any: the docker CLI speaks TLS then.
  const auto tls_dir = config_dir / "contexts" / "tls" / id / "docker";
  std::error_code ec;
  if (std::filesystem::exists(tls_dir / "ca.pem", ec) || std::filesystem::exists(tls_dir / "cert.pem", ec)) {
    c.tls = true;
    c.tls_verify = !skip_verify;
    c.cert_path = tls_dir;
  }  // else plain, as the docker CLI speaks to a context without TLS material
  c.origin = "context '" + printable(name, 80) + "' (" + why + ")";
  return c;
}

Result<EngineConfig> config_from_environment() {
  EngineConfig c;
  if (auto host = env_var("DOCKER_HOST")) {
    c.host = *host;
    c.origin = "DOCKER_HOST";
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
  } else {
    const auto dir = docker_config_dir();
    std::optional<std::string> name;
    std::string why;
    if (auto ctx = env_var("DOCKER_CONTEXT")) {
      name = *ctx;
      why = "DOCKER_CONTEXT";
    } else {
      PB_TRY(std::optional<nlohmann::json> cfg, read_cli_json(dir / "config.json", "the docker CLI configuration"));
      if (cfg && cfg->contains("currentContext") && (*cfg)["currentContext"].is_string() &&
          !(*cfg)["currentContext"].get<std::string>().empty()) {
        name = (*cfg)["currentContext"].get<std::string>();
        why = "currentContext of " + (dir / "config.json").string();
      }
    }
    if (name) {
      PB_TRY(c, context_config(dir, *name, why));
    } else if (auto home = env_var("HOME")) {
      c.cert_path = std::filesystem::path(*home) / ".docker";
    }
  }
  PB_TRY_STATUS(apply_timeout(c));
  return c;
}

Result<std::shared_ptr<DockerClient>> connect(const EngineConfig& config) {
  const std::string& h = config.host;
  if (h.starts_with("unix://")) {
    if (h.size() <= 7)
      return fail(ErrorKind::usage, "the Docker endpoint 'unix://' (" + config.origin + ") names no socket path");
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
      return fail(ErrorKind::usage, "the Docker endpoint '" + printable(h) + "' (" + config.origin +
                                        ") is not of the form tcp://host:port");
    EngineConfig c = config;
    c.host = "tcp://" + rest;
    return make_engine_client(c);
  }
  return fail(ErrorKind::usage, "the Docker endpoint '" + printable(h) + "' (" + config.origin +
                                    ") is not supported; use unix:///path/to/docker.sock or tcp://host:port");
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
