#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace pb::broker {
class DockerClient;
}

namespace pb::broker::docker {

/// Where and how to reach the Docker Engine.
struct EngineConfig {
  /// "unix:///var/run/docker.sock", "tcp://host:port" or "ssh://[user@]host[:port][/socket path]".
  std::string host = "unix:///var/run/docker.sock";
  bool tls = false;                 ///< tcp:// only: speak TLS
  bool tls_verify = false;          ///< check the daemon's certificate against ca.pem and the host name
  std::filesystem::path cert_path;  ///< directory with ca.pem, cert.pem, key.pem
  std::chrono::milliseconds connect_timeout{5000};
  /// Limit for one request/response; for streams, for each read or write.
  std::chrono::milliseconds request_timeout{60000};

  /// Why this endpoint was chosen, for `doctor`: "DOCKER_HOST", "context 'x'
  /// (DOCKER_CONTEXT)", "context 'x' (currentContext of <config.json>)", or
  /// "the default socket".
  std::string origin = "the default socket";

  /// Why a login must not travel over this endpoint ("plain tcp://", "TLS that
  /// does not verify the daemon"); nullopt for a unix socket, ssh:// or verified TLS.
  std::optional<std::string> insecure_reason() const;
};

/// An ssh:// endpoint, read as the docker CLI reads it (no password, query or
/// fragment). The docker CLI's connection helper reaches the engine with
/// `ssh [-l user] [-p port] -- host docker [--host=unix://path] system dial-stdio`.
struct SshTarget {
  std::string user;  ///< empty: ssh's own choice (its config, then the local user)
  std::string host;
  std::string port;  ///< empty: ssh's own choice
  std::string path;  ///< the engine's socket on the remote host; empty: its default
};

/// `url` with the user and password part, if any, replaced by "***": what
/// messages print of an endpoint.
std::string redact_endpoint(const std::string& url);

/// Parses `url` (ssh://…); `origin` says where it came from, for the message.
/// A user, host or path that could be read as an ssh option or change the
/// remote command (a leading '-', blanks, quotes, shell characters) is refused
/// with ErrorKind::usage.
Result<SshTarget> parse_ssh_url(const std::string& url, const std::string& origin);

/// The ssh argument vector (without "ssh" itself) for one connection to the
/// engine: ConnectTimeout=30 and -T as the docker CLI sets them, BatchMode=yes
/// (ssh runs without a terminal, as the docker CLI runs it: a host-key,
/// passphrase or password prompt fails at once with ssh's sentence instead of
/// waiting for an answer nobody can give), and keep-alives so that a dead
/// connection ends within 30 s; with a `control_dir`, one multiplexed
/// connection shared by the calls of a minute (ControlMaster=auto,
/// ControlPath=<control_dir>/%C, ControlPersist=60): each call would
/// otherwise pay a whole ssh handshake.
std::vector<std::string> ssh_arguments(const SshTarget& target, const std::filesystem::path& control_dir = {});

/// Where ssh:// connections keep their control sockets: `<cache>/ssh`, made
/// private (0700) under directories no one else can write (a socket planted
/// there would receive every API call, logins included). Empty, so no
/// multiplexing, when PARA_BROKER_SSH_MULTIPLEX=0, when the directory or a
/// parent fails that check, when its path holds anything but letters,
/// digits and `/ . _ -` (ssh splits and expands ControlPath), or when it is
/// too long for a socket name.
std::filesystem::path ssh_control_dir();

/// Where the docker CLI keeps its configuration: $DOCKER_CONFIG, else ~/.docker.
std::filesystem::path docker_config_dir();

/// The endpoint of Docker context `name` from the context store under
/// `config_dir` (contexts/meta/<sha256(name)>/meta.json, TLS material in
/// contexts/tls/<sha256(name)>/docker/), as the docker CLI reads it; `why`
/// names where the name came from. "default" is the default socket. An
/// unknown or unreadable context is ErrorKind::unreachable (exit 5) naming it.
Result<EngineConfig> context_config(const std::filesystem::path& config_dir, const std::string& name,
                                    const std::string& why);

/// The SPEC's transport policy, for every command that moves a login: a
/// login is sent or read only over a unix socket, ssh or TLS that verifies the
/// daemon. Otherwise ErrorKind::unsafe_input (exit 7) with one sentence naming
/// the override, unless PARA_BROKER_ALLOW_INSECURE_DOCKER=1.
Status require_login_transport(const DockerClient& docker);

/// The configuration the docker CLI would use, in its order: DOCKER_HOST (with
/// DOCKER_TLS, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, default ~/.docker), else
/// the context DOCKER_CONTEXT names, else the currentContext of
/// $DOCKER_CONFIG/config.json, else the default socket; and
/// PARA_BROKER_DOCKER_TIMEOUT (seconds) for the request timeout.
Result<EngineConfig> config_from_environment();

/// A client for `config`. Does not contact the daemon: the API version is
/// negotiated from GET /version on first use (min of ours and the daemon's).
Result<std::shared_ptr<DockerClient>> connect(const EngineConfig& config);

/// connect(config_from_environment()).
Result<std::shared_ptr<DockerClient>> connect_from_environment();

}  // namespace pb::broker::docker
