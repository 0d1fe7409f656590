// The locks of a credential: the host's flock that para-broker holds while it
// changes the credential's volumes, and the lock volume where the sessions of
// every user take Claude Code's refresh locks (dispatch_internal.hpp).

#include <filesystem>

#include "broker/dispatch/dispatch.hpp"
#include "broker/dispatch/dispatch_internal.hpp"
#include "broker/docker/docker_client.hpp"
#include "broker/objects/labels.hpp"
#include "core/files.hpp"
#include "vault/vault.hpp"

namespace fs = std::filesystem;

namespace pb::broker::dispatch::detail {

Result<FileLock> lock_credential(const vault::Vault& v, const std::string& credential_id) {
  const fs::path dir = v.options().home / "locks";
  PB_TRY_STATUS(ensure_private_dir(dir, "vault lock directory"));
  return FileLock::acquire(dir / (credential_id + ".lock"), FileLock::Mode::exclusive);
}

Labels lock_labels(const std::string& cred) {
  Labels l = labels::managed(Role::lock);
  l[labels::k_credential] = cred;
  l[labels::k_target] = k_mount_target;
  return l;
}

Result<bool> remove_lock_if_unused(DockerClient& docker, const std::vector<VolumeInfo>& logins, const std::string& cred,
                                   const std::string& except) {
  for (const auto& vol : logins)
    if (vol.name != except && is_beside_lock(vol.name) && label_of(vol.labels, labels::k_credential) == cred)
      return false;
  auto lock = docker.volume_inspect(lock_volume_name(cred));
  if (!lock) {
    if (lock.error().kind == ErrorKind::not_found) return false;
    return std::move(lock).error();
  }
  if (!labels::has_role(lock->labels, Role::lock) || label_of(lock->labels, labels::k_credential) != cred) return false;
  auto s = docker.volume_remove(lock->name, false);
  if (s) return true;
  if (s.error().kind == ErrorKind::not_found || s.error().kind == ErrorKind::conflict) return false;
  return std::move(s).error();
}

}  // namespace pb::broker::dispatch::detail
