#pragma once
// Scoped removal of the containers and volumes a command makes for itself
// (probe, import --from-image, login): removed on every path out, and a
// removal that fails is said once, with the docker command that finishes it.

#include <string>

#include "core/error.hpp"

namespace pb::broker {

class DockerClient;

/// Removes a container (force, with its anonymous volumes) when it goes out of scope.
class ContainerGuard {
 public:
  ContainerGuard(DockerClient& docker, std::string id) : m_docker(&docker), m_id(std::move(id)) {}
  ~ContainerGuard();
  ContainerGuard(const ContainerGuard&) = delete;
  ContainerGuard& operator=(const ContainerGuard&) = delete;
  /// Removes it now; the error (if any) names the container so the user can remove it.
  Status remove();
  const std::string& id() const { return m_id; }

 private:
  DockerClient* m_docker;
  std::string m_id;
  bool m_done = false;
};

/// Removes a volume when it goes out of scope.
class VolumeGuard {
 public:
  VolumeGuard(DockerClient& docker, std::string name) : m_docker(&docker), m_name(std::move(name)) {}
  ~VolumeGuard();
  VolumeGuard(const VolumeGuard&) = delete;
  VolumeGuard& operator=(const VolumeGuard&) = delete;
  /// Removes it now; the error (if any) names the volume so the user can remove it.
  Status remove();

 private:
  DockerClient* m_docker;
  std::string m_name;
  bool m_done = false;
};

}  // namespace pb::broker
