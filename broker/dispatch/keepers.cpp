// Keepers: the containers (created, never started) whose archive API reads and
// writes a volume; made with their volume, removed with it (dispatch_internal.hpp).

#include <algorithm>

#include "broker/dispatch/dispatch.hpp"
#include "broker/dispatch/dispatch_internal.hpp"
#include "broker/docker/docker_client.hpp"
#include "broker/objects/labels.hpp"

namespace pb::broker::dispatch::detail {
namespace {

/// Keepers used to be named `<volume>-keeper`, which para counts and removes
/// as one of its `para-*` containers: one found is removed (it is never
/// started and the volume stays), and keeper_for() makes it again under its
/// new name. A container of that name that is not this volume's keeper is not
/// ours to touch.
Status retire_legacy_keeper(DockerClient& docker, const std::string& volume) {
  auto info = docker.container_inspect(legacy_keeper_name(volume));
  if (!info) {
    if (info.error().kind == ErrorKind::not_found) return {};
    return std::move(info).error();
  }
  if (!labels::has_role(info->labels, Role::keeper) || label_of(info->labels, labels::k_volume) != volume ||
      info->state.running)
    return {};
  auto s = docker.container_remove(info->id, true, false);
  if (!s && s.error().kind != ErrorKind::not_found) return s;
  return {};
}

}  // namespace

Result<std::string> keeper_for(DockerClient& docker, const std::string& image, const std::string& volume,
                               const std::vector<KeeperMount>& mounts, const std::string& credential_id,
                               bool likely_exists) {
  auto is_keeper = [&](const ContainerInfo& info) {
    const bool mounts_all = std::all_of(mounts.begin(), mounts.end(), [&](const KeeperMount& k) {
      return std::any_of(info.mounts.begin(), info.mounts.end(), [&](const MountInfo& mi) {
        return mi.type == "volume" && mi.name == k.volume && mi.destination == k.target;
      });
    });
    return labels::has_role(info.labels, Role::keeper) && label_of(info.labels, labels::k_volume) == volume &&
           mounts_all && !info.state.running;
  };
  auto refuse = [&] {
    return fail(ErrorKind::conflict, "container " + keeper_name(volume) + " exists but is not the keeper of volume " +
                                         volume + "; remove it or let para-broker gc decide");
  };
  if (likely_exists) {
    auto info = docker.container_inspect(keeper_name(volume));
    if (info) {
      if (!is_keeper(*info)) return refuse();
      return info->id;
    }
    if (info.error().kind != ErrorKind::not_found) return std::move(info).error();
    PB_TRY_STATUS(retire_legacy_keeper(docker, volume));
  }
  ContainerSpec spec;
  spec.name = keeper_name(volume);
  spec.image = image;
  spec.entrypoint = std::vector<std::string>{};
  spec.cmd = {"para-broker-keeper-is-never-started"};
  spec.network_mode = "none";
  spec.labels = labels::managed(Role::keeper);
  spec.labels[labels::k_credential] = credential_id;
  spec.labels[labels::k_volume] = volume;
  for (const auto& k : mounts) {
    MountSpec m;
    m.type = MountSpec::Type::volume;
    m.source = k.volume;
    m.target = k.target;
    m.no_copy = true;
    m.volume_labels = k.new_labels;
    spec.mounts.push_back(std::move(m));
  }
  auto id = docker.container_create(spec);
  if (id) return std::move(*id);
  if (id.error().kind == ErrorKind::not_found)
    return fail(ErrorKind::not_found, "image " + image + " is gone, so volume " + volume + " cannot be reached");
  if (id.error().kind != ErrorKind::conflict) return std::move(id).error();
  PB_TRY(ContainerInfo info, docker.container_inspect(spec.name));
  if (!is_keeper(info)) return refuse();
  return info.id;
}

Result<std::string> keeper_for(DockerClient& docker, const std::string& image, const std::string& volume,
                               const std::string& target, const std::string& credential_id, bool likely_exists,
                               const Labels& new_volume_labels) {
  return keeper_for(docker, image, volume, {{volume, target, new_volume_labels}}, credential_id, likely_exists);
}

Status remove_keeper(DockerClient& docker, const std::string& volume) {
  auto s = docker.container_remove(keeper_name(volume), true, false);
  if (!s && s.error().kind == ErrorKind::not_found) return retire_legacy_keeper(docker, volume);
  if (!s) return s;
  return {};
}

std::vector<KeeperMount> session_mounts(const std::string& cred, const std::string& login, const std::string& hold) {
  if (!is_beside_lock(login)) return {{login, k_mount_target, {}}, {hold, session_config_dir(), {}}};
  return {{lock_volume_name(cred), k_mount_target, lock_labels(cred)},
          {login, login_target(), {}},
          {hold, session_config_dir(), {}}};
}

Result<std::string> session_keeper(DockerClient& docker, const VolumeInfo& hold) {
  const std::string image = label_of(hold.labels, labels::k_image);
  const std::string login = label_of(hold.labels, labels::k_volume);
  const std::string cred = label_of(hold.labels, labels::k_credential);
  if (image.empty() || login.empty() || cred.empty())
    return fail(ErrorKind::integrity, "hold " + hold.name + " lacks the para-broker labels that say what it holds");
  return keeper_for(docker, image, hold.name, session_mounts(cred, login, hold.name), cred);
}

Result<std::string> existing_session_keeper(DockerClient& docker, const std::vector<const VolumeInfo*>& holds) {
  for (const VolumeInfo* h : holds) {
    auto config = is_config_hold(*h);
    if (!config || !*config) continue;
    auto info = docker.container_inspect(keeper_name(h->name));
    if (!info) {
      if (info.error().kind == ErrorKind::not_found) continue;
      return std::move(info).error();
    }
    if (!labels::has_role(info->labels, Role::keeper) || label_of(info->labels, labels::k_volume) != h->name ||
        info->state.running)
      continue;
    if (docker.archive_stat(info->id, session_config_dir() + "/" + k_claude_json_name)) return info->id;
  }
  return std::string();
}

Result<bool> remove_hold(DockerClient& docker, const std::string& hold) {
  auto keeper = docker.container_inspect(keeper_name(hold));
  if (!keeper && keeper.error().kind != ErrorKind::not_found) return std::move(keeper).error();
  // Only a keeper of this hold: a container that took the name is not ours to remove.
  if (keeper && labels::has_role(keeper->labels, Role::keeper) && label_of(keeper->labels, labels::k_volume) == hold) {
    if (auto s = docker.container_remove(keeper->id, true, false); !s && s.error().kind != ErrorKind::not_found)
      return std::move(s).error();
  }
  auto s = docker.volume_remove(hold, false);
  if (s || s.error().kind == ErrorKind::not_found) return true;
  if (s.error().kind == ErrorKind::conflict) return false;
  return std::move(s).error();
}

}  // namespace pb::broker::dispatch::detail
