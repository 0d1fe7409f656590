#include "broker/docker/guards.hpp"

#include <iostream>

#include "broker/docker/docker_client.hpp"

namespace pb::broker {

ContainerGuard::~ContainerGuard() {
  if (m_done) return;
  auto s = remove();
  if (!s.ok()) std::cerr << "para-broker: warning: " << s.error().message << "\n";
}

Status ContainerGuard::remove() {
  if (m_done) return {};
  m_done = true;
  auto s = m_docker->container_remove(m_id, true, true);
  if (!s.ok() && s.error().kind != ErrorKind::not_found)
    return fail(s.error().kind, "could not remove container " + m_id.substr(0, 12) + " (" + s.error().message +
                                    "); remove it with: docker rm -f " + m_id.substr(0, 12));
  return {};
}

VolumeGuard::~VolumeGuard() {
  if (m_done) return;
  auto s = remove();
  if (!s.ok()) std::cerr << "para-broker: warning: " << s.error().message << "\n";
}

Status VolumeGuard::remove() {
  if (m_done) return {};
  m_done = true;
  auto s = m_docker->volume_remove(m_name, true);
  if (!s.ok() && s.error().kind != ErrorKind::not_found)
    return fail(s.error().kind, "could not remove volume " + m_name + " (" + s.error().message +
                                    "); remove it with: docker volume rm " + m_name);
  return {};
}

}  // namespace pb::broker
