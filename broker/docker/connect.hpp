#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
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
};

/// The configuration the docker CLI would use: DOCKER_HOST, DOCKER_TLS,
/// DOCKER_TLS_VERIFY, DOCKER_CERT_PATH (default ~/.docker), and
/// PARA_BROKER_DOCKER_TIMEOUT (seconds) for the request timeout.
Result<EngineConfig> config_from_environment();

/// A client for `config`. Does not contact the daemon: the API version is
/// negotiated from GET /version on first use (min of ours and the daemon's).
Result<std::shared_ptr<DockerClient>> connect(const EngineConfig& config);

/// connect(config_from_environment()).
Result<std::shared_ptr<DockerClient>> connect_from_environment();

}  // namespace pb::broker::docker
