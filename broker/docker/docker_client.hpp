#pragma once
// The one seam to the Docker Engine. EngineClient (engine_client.hpp) talks
// HTTP to a real daemon; tests/support has a recording fake.

#include <string>

#include "core/error.hpp"

namespace pb::broker {

struct DockerVersion {
  std::string server_version;   ///< e.g. "20.10.24"
  std::string api_version;      ///< negotiated API version in use, e.g. "1.41"
  std::string min_api_version;  ///< oldest the daemon accepts
  std::string os;               ///< "linux"
};

class DockerClient {
 public:
  virtual ~DockerClient() = default;

  /// GET /version: the daemon's version and the API version in use.
  virtual Result<DockerVersion> version() = 0;

  /// Where this client connects, for messages ("unix:///var/run/docker.sock").
  virtual std::string endpoint() const = 0;
};

}  // namespace pb::broker
