#pragma once
// The Docker Engine API implementation of DockerClient (private to broker/docker;
// everyone else gets one from connect()). What it sends and how it reads the
// answers are engine_wire.hpp's pure functions.

#include <memory>
#include <string>

#include "broker/docker/connect.hpp"
#include "broker/docker/docker_client.hpp"
#include "broker/docker/engine_wire.hpp"

namespace pb::broker::docker {

/// A client of the engine at `config.host`; it connects on its first call.
std::shared_ptr<DockerClient> make_engine_client(const EngineConfig& config);

}  // namespace pb::broker::docker
