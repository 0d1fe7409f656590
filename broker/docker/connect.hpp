#pragma once

#include <memory>

#include "core/error.hpp"

namespace pb::broker {
class DockerClient;
}

namespace pb::broker::docker {

/// Connects to the Docker Engine the way the docker CLI would: DOCKER_HOST
/// (unix:// or tcp://), DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, else
/// /var/run/docker.sock. Negotiates the API version on first use.
Result<std::shared_ptr<DockerClient>> connect_from_environment();

}  // namespace pb::broker::docker
