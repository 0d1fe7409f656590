#pragma once
// The Docker Engine API implementation of DockerClient (private to broker/docker;
// everyone else gets one from connect()). What it sends and how it reads the
// answers are engine_wire.hpp's pure functions; the connections it opens and
// the time it waits on are injected, so a unit test can script both.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "broker/docker/connect.hpp"
#include "broker/docker/docker_client.hpp"
#include "broker/docker/engine_wire.hpp"
#include "broker/docker/http_channel.hpp"

namespace pb::broker::docker {

/// Opens one connection for one request: open_channel(), or a test's script.
/// `what` names the operation for the connection's error messages.
using ChannelFactory =
    std::function<Result<std::unique_ptr<HttpChannel>>(const EngineConfig& config, const std::string& what)>;

/// The time the client waits on: a stream's deadline, the pause between two
/// looks at an exec whose output has ended.
struct EngineClock {
  std::function<std::chrono::steady_clock::time_point()> now;
  std::function<void(std::chrono::milliseconds)> sleep;
  /// std::chrono::steady_clock and a real sleep.
  static EngineClock system();
};

/// A client over open_channel() and the system clock.
std::shared_ptr<DockerClient> make_engine_client(const EngineConfig& config);
/// A client whose connections come from `open` and whose time from `clock`.
std::shared_ptr<DockerClient> make_engine_client(const EngineConfig& config, ChannelFactory open, EngineClock clock);

}  // namespace pb::broker::docker
