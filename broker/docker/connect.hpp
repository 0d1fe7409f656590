#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "core/error.hpp"

namespace pb::broker {
class DockerClient;
}

namespace pb::broker::docker {

/// Where and how to reach the Docker Engine.
struct EngineConfig {
  /// "unix:///var/run/docker.sock" or "tcp://host:port".
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
  /// does not verify the daemon"); nullopt for a unix socket or verified TLS.
  std::optional<std::string> insecure_reason() const;
};

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
/// login is sent or read only over a unix socket or TLS that verifies the
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
