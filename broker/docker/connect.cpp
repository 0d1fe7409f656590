#include "broker/docker/connect.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
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

namespace {

/// Characters an ssh user, host or socket path may hold here: nothing ssh
/// would read as an option (a leading '-') and nothing the remote shell,
/// which runs the joined command line, would interpret.
bool ssh_word(const std::string& s, bool path) {
  if (s.empty() || s.size() > 255 || s.front() == '-') return false;
  return std::all_of(s.begin(), s.end(), [path](unsigned char c) {
    return std::isalnum(c) != 0 || c == '.' || c == '_' || c == '-' || (path && c == '/') || (!path && c == ':');
  });
}

}  // namespace

std::string redact_endpoint(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const auto authority_end = url.find('/', scheme + 3);
  const auto at = url.rfind('@', authority_end == std::string::npos ? std::string::npos : authority_end);
  if (at == std::string::npos || at < scheme + 3) return url;
  return url.substr(0, scheme + 3) + "***" + url.substr(at);
}

Result<SshTarget> parse_ssh_url(const std::string& url, const std::string& origin) {
  const auto bad = [&](const std::string& why) {
    return fail(ErrorKind::usage, "the Docker endpoint '" + printable(redact_endpoint(url)) + "' (" + origin +
                                      ") is not a usable ssh URL: " + why);
  };
  if (!url.starts_with("ssh://")) return bad("it does not start with ssh://");
  std::string rest = url.substr(6);
  if (rest.find('?') != std::string::npos) return bad("query parameters are not allowed");
  if (rest.find('#') != std::string::npos) return bad("fragments are not allowed");
  SshTarget t;
  if (const auto slash = rest.find('/'); slash != std::string::npos) {
    t.path = rest.substr(slash);
    rest.resize(slash);
    if (t.path.find_first_not_of('/') == std::string::npos) t.path.clear();
  }
  if (const auto at = rest.rfind('@'); at != std::string::npos) {
    t.user = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (t.user.find(':') != std::string::npos) return bad("a plain-text password is not supported");
    if (!t.user.empty() && !ssh_word(t.user, false)) return bad("the user name holds characters ssh could misread");
  }
  if (!rest.empty() && rest.front() == '[') {  // [v6 address]:port
    const auto close = rest.find(']');
    if (close == std::string::npos) return bad("an unclosed '['");
    t.host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return bad("text after ']' that is not a port");
    if (!rest.empty()) t.port = rest.substr(1);
  } else if (const auto colon = rest.find(':'); colon != std::string::npos) {
    t.host = rest.substr(0, colon);
    t.port = rest.substr(colon + 1);
  } else {
    t.host = rest;
  }
  if (t.host.empty()) return bad("the host name is empty");
  if (!ssh_word(t.host, false)) return bad("the host name holds characters ssh could misread");
  if (!t.port.empty()) {
    unsigned port = 0;
    auto [end, ec] = std::from_chars(t.port.data(), t.port.data() + t.port.size(), port);
    if (ec != std::errc() || end != t.port.data() + t.port.size() || port == 0 || port > 65535)
      return bad("the port is not a number from 1 to 65535");
  }
  if (!t.path.empty() && !ssh_word(t.path, true))
    return bad("the socket path holds characters the remote shell could interpret");
  return t;
}

std::vector<std::string> ssh_arguments(const SshTarget& target, const std::filesystem::path& control_dir) {
  std::vector<std::string> a{"-o", "ConnectTimeout=30",    "-T", "-o", "BatchMode=yes", "-o", "ServerAliveInterval=15",
                             "-o", "ServerAliveCountMax=2"};
  if (!control_dir.empty())
    a.insert(a.end(), {"-o", "ControlMaster=auto", "-o", "ControlPath=" + (control_dir / "%C").string(), "-o",
                       "ControlPersist=60"});
  if (!target.user.empty()) a.insert(a.end(), {"-l", target.user});
  if (!target.port.empty()) a.insert(a.end(), {"-p", target.port});
  a.insert(a.end(), {"--", target.host, "docker"});
  if (!target.path.empty()) a.push_back("--host=unix://" + target.path);
  a.insert(a.end(), {"system", "dial-stdio"});
  return a;
}

std::filesystem::path ssh_control_dir() {
  if (env_var("PARA_BROKER_SSH_MULTIPLEX") == std::optional<std::string>("0")) return {};
  const auto dir = Paths::from_environment().cache_dir / "ssh";
  const std::string text = dir.string();
  // ssh splits ControlPath at blanks and expands %, ${} and ~ in it.
  if (!dir.is_absolute() || !std::all_of(text.begin(), text.end(), [](unsigned char c) {
        return std::isalnum(c) != 0 || c == '/' || c == '.' || c == '_' || c == '-';
      }))
    return {};
  // A socket name holds at most 103 bytes and its NUL on macOS (107 on
  // Linux): the directory, '/', %C (40 hex digits) and ssh's temporary
  // suffix (17).
  if (text.size() > 104 - 1 - 1 - 40 - 17) return {};
  if (!ensure_private_dir(dir, "ssh control directory").ok()) return {};
  if (!check_parent_dirs(dir / "%C", "ssh control directory", true).ok()) return {};
  return dir;
}

Result<std::shared_ptr<DockerClient>> connect(const EngineConfig& config) {
  const std::string& h = config.host;
  // The docker CLI reads an ssh endpoint with Go's url.Parse, which folds the
  // scheme to lower case: SSH://host is ssh://host.
  if (h.size() > 6 && !h.starts_with("ssh://") && h.find("://") == 3 &&
      std::equal(h.begin(), h.begin() + 3, "ssh",
                 [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; })) {
    EngineConfig lower = config;
    lower.host = "ssh" + h.substr(3);
    return connect(lower);
  }
  if (h.starts_with("ssh://")) {
    PB_TRY_STATUS(parse_ssh_url(h, config.origin));
    EngineConfig c = config;
    c.tls = false;  // ssh carries the connection (the docker CLI ignores TLS settings here too)
    c.tls_verify = false;
    return make_engine_client(c);
  }
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
      return fail(ErrorKind::usage, "the Docker endpoint '" + printable(redact_endpoint(h)) + "' (" + config.origin +
                                        ") is not of the form tcp://host:port");
    EngineConfig c = config;
    c.host = "tcp://" + rest;
    return make_engine_client(c);
  }
  return fail(ErrorKind::usage, "the Docker endpoint '" + printable(redact_endpoint(h)) + "' (" + config.origin +
                                    ") is not supported; use unix:///path/to/docker.sock, tcp://host:port or "
                                    "ssh://[user@]host[:port]");
}

std::optional<std::string> EngineConfig::insecure_reason() const {
  // ssh encrypts and checks the host against the user's known_hosts.
  if (host.starts_with("unix://") || host.starts_with("ssh://")) return std::nullopt;
  if (!tls) return "plain tcp:// without TLS";
  if (!tls_verify) return "TLS that does not verify the daemon's certificate (DOCKER_TLS_VERIFY is not set)";
  return std::nullopt;
}

Status require_login_transport(const DockerClient& docker) {
  auto why = docker.insecure_transport();
  if (!why || env_var("PARA_BROKER_ALLOW_INSECURE_DOCKER") == std::optional<std::string>("1")) return {};
  return fail(ErrorKind::unsafe_input,
              "Docker at " + docker.endpoint() + " is reached over " + *why +
                  ", where a login could be read or changed on the way; use a unix socket, ssh:// or TLS with "
                  "DOCKER_TLS_VERIFY=1, or set PARA_BROKER_ALLOW_INSECURE_DOCKER=1 to accept the risk");
}

Result<std::shared_ptr<DockerClient>> connect_from_environment() {
  PB_TRY(EngineConfig config, config_from_environment());
  return connect(config);
}

}  // namespace pb::broker::docker
