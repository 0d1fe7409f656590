// gc (dispatch.hpp): holds whose sessions are gone, unheld login volumes,
// orphan keepers and lock volumes; gc_leftovers(): what killed probes,
// imports and logins left.

#include <map>
#include <set>
#include <utility>

#include "broker/dispatch/dispatch.hpp"
#include "broker/dispatch/dispatch_internal.hpp"
#include "broker/dispatch/relay_container.hpp"
#include "broker/docker/docker_client.hpp"
#include "broker/objects/labels.hpp"
#include "broker/objects/liveness.hpp"
#include "core/fault.hpp"
#include "core/files.hpp"
#include "vault/entry.hpp"
#include "vault/vault.hpp"

namespace pb::broker::dispatch {

using namespace detail;

namespace {

/// What a killed probe, import or login leaves: its container (each removes
/// its own on every other path) and a login's staging volume, which holds a
/// login in plain text. Judged by age, so that one in use is never taken: a
/// probe and an import finish within seconds; a running login container is
/// kept whatever its age (someone may still be logging in).
Status remove_leftovers(DockerClient& docker, const std::vector<ContainerSummary>& containers, long long now,
                        long long grace_seconds, GcResult& r) {
  for (const auto& c : containers) {
    const labels::Leftover kind = labels::leftover(c, now, grace_seconds);
    if (kind == labels::Leftover::none) continue;
    const std::string name = c.names.empty() ? c.id : c.names.front();
    if (kind == labels::Leftover::running_login) {
      r.kept.push_back(name + ": a login container still runs; stop it when no login is in progress");
      continue;
    }
    auto s = docker.container_remove(c.id, true, false);
    if (s || s.error().kind == ErrorKind::not_found) {
      r.removed_helpers.push_back(c.id);
    } else {
      r.kept.push_back(name + ": " + s.error().message);
    }
  }
  PB_TRY(std::vector<VolumeInfo> staging, docker.volume_list(labels::filter(Role::staging)));
  for (const auto& vol : staging) {
    if (!labels::carries_extra(vol.labels) || labels::is_young(vol.labels, labels::k_created_at, now, grace_seconds))
      continue;
    auto s = docker.volume_remove(vol.name, false);
    if (s || s.error().kind == ErrorKind::not_found) {
      r.removed_volumes.push_back(vol.name);
    } else if (s.error().kind == ErrorKind::conflict) {
      r.kept.push_back(vol.name + ": a login container still uses it");
    } else {
      r.kept.push_back(vol.name + ": " + s.error().message);
    }
  }
  return {};
}

}  // namespace

Result<GcResult> gc_leftovers(DockerClient& docker, long long grace_seconds) {
  GcResult r;
  PB_TRY(std::vector<ContainerSummary> containers, docker.container_list({}));
  labels::disown_inherited_roles(docker, containers);
  PB_TRY_STATUS(remove_leftovers(docker, containers, unix_now(), grace_seconds, r));
  return r;
}

namespace {

/// One gc: what the engine shows once, then each credential this vault holds
/// under its lock (holds, the relay, login volumes, keepers, the lock volume),
/// then the leftovers of killed probes, imports and logins.
class Gc {
 public:
  Gc(DockerClient& docker, vault::Vault& v, long long grace) : m_docker(docker), m_vault(v), m_grace(grace) {}
  Result<GcResult> run();

 private:
  Status observe();
  Result<std::set<std::string>> credentials();
  Status collect(const std::string& cred);
  /// Whether hold `h` stays (its login volume with it), after writing back
  /// what its session refreshed when it goes.
  void judge_hold(const VolumeInfo& h);
  void keep(const VolumeInfo& hold, std::string why);
  void relay_what_stays(const std::string& cred, const std::vector<VolumeInfo>& holds,
                        const std::vector<VolumeInfo>& logins);
  void remove_login_volume(const VolumeInfo& vol);
  void remove_orphan_keepers(const std::string& cred);
  void remove_lock(const std::string& cred, const std::vector<VolumeInfo>& logins);

  DockerClient& m_docker;
  vault::Vault& m_vault;
  const long long m_grace;
  const long long m_now = unix_now();
  GcResult r;
  std::vector<ContainerSummary> m_containers;
  liveness::Usage m_usage;
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> m_keepers;  ///< credential -> id, volume
  std::set<std::string> m_legacy_keepers;  ///< ids of keepers still named `para-…` (before the rename)
  std::set<std::string> m_held;            ///< of the credential at hand: login volumes and holds that stay
};

Status Gc::observe() {
  // Which volumes containers use, by the rules audit reports from (keepers
  // aside: they are judged under the lock).
  PB_TRY(m_containers, m_docker.container_list({}));
  labels::disown_inherited_roles(m_docker, m_containers);
  PB_TRY(m_usage, liveness::observe(m_docker, m_containers, m_now, m_grace));
  for (const auto& c : m_containers) {
    if (!labels::has_role(c.labels, Role::keeper)) continue;
    const std::string volume = label_of(c.labels, labels::k_volume);
    m_keepers[label_of(c.labels, labels::k_credential)].emplace_back(c.id, volume);
    for (const auto& n : c.names)
      if (!volume.empty() && (n == legacy_keeper_name(volume) || n == "/" + legacy_keeper_name(volume)))
        m_legacy_keepers.insert(c.id);
  }
  return {};
}

Result<std::set<std::string>> Gc::credentials() {
  PB_TRY(std::vector<VolumeInfo> holds, m_docker.volume_list(labels::filter(Role::hold)));
  PB_TRY(std::vector<VolumeInfo> shared, m_docker.volume_list(labels::filter(Role::login)));
  PB_TRY(std::vector<VolumeInfo> locks, m_docker.volume_list(labels::filter(Role::lock)));
  std::set<std::string> out;
  for (const auto* list : {&holds, &shared, &locks})
    for (const auto& vol : *list) out.insert(label_of(vol.labels, labels::k_credential));
  for (const auto& c : m_containers)
    if (labels::has_role(c.labels, Role::relay)) out.insert(label_of(c.labels, labels::k_credential));
  for (const auto& [cred, keepers] : m_keepers) out.insert(cred);
  return out;
}

void Gc::keep(const VolumeInfo& hold, std::string why) {
  m_held.insert(label_of(hold.labels, labels::k_volume));
  m_held.insert(hold.name);
  r.kept.push_back(hold.name + ": " + std::move(why));
}

void Gc::judge_hold(const VolumeInfo& h) {
  const std::string session = label_of(h.labels, labels::k_session);
  const std::string vol = label_of(h.labels, labels::k_volume);
  auto config = is_config_hold(h);
  if (!config) return keep(h, config.error().message);
  // A session's own config volume is in use while its container mounts it;
  // an empty hold of an earlier release while any container mounts the volume.
  auto verdict = liveness::hold(h, *config, m_usage, m_now, m_grace);
  // A session container made since the list counts too (para makes it right after mount).
  if (verdict.reason == liveness::Reason::session_container || verdict.reason == liveness::Reason::mounted ||
      m_docker.container_inspect("para-" + session).ok())
    return keep(h, "session " + session + " still has a container");
  if (verdict.reason == liveness::Reason::young)
    return keep(h, "session " + session + " was mounted less than " + std::to_string(m_grace) +
                       " s ago; its container may not exist yet");
  if (*config) {
    // The session's .claude.json shows the account of what it refreshed:
    // written back while the hold is still there.
    auto written = [&]() -> Status {
      const vault::AccessInfo access{session, label_of(h.labels, labels::k_image)};
      auto login = m_docker.volume_inspect(vol);
      if (login) {
        PB_TRY(WriteBack wb, write_back_volume(m_docker, m_vault, *login, access, &h));
        if (!wb.refused.empty()) r.refused.push_back(wb.refused);
        if (!wb.note.empty()) r.notes.push_back(wb.note);
      } else if (login.error().kind != ErrorKind::not_found) {
        return std::move(login).error();
      }
      PB_TRY(WriteBack own, write_back_own(m_docker, m_vault, h, access, login.ok()));
      if (!own.refused.empty()) r.refused.push_back(own.refused);
      return {};
    }();
    if (!written) return keep(h, "its login could not be read back (" + written.error().message + ")");
  }
  auto removed = remove_hold(m_docker, h.name);
  if (removed && *removed)
    r.removed_holds.push_back(h.name);
  else
    keep(h, removed ? "a container still mounts it" : removed.error().message);
}

void Gc::relay_what_stays(const std::string& cred, const std::vector<VolumeInfo>& holds,
                          const std::vector<VolumeInfo>& logins) {
  // The relay serves the login volumes that stay, so that it lets go of
  // the others before they are removed (and goes when fewer than two stay).
  std::vector<VolumeInfo> staying_holds;
  for (const auto& h : holds)
    if (m_held.count(h.name)) staying_holds.push_back(h);
  std::set<std::string> used_by_containers;  // kept below whatever their holds say
  for (const auto& vol : logins)
    if (liveness::login_volume(vol.name, m_usage, 0).live()) used_by_containers.insert(vol.name);
  auto relayed = reconcile_relay(m_docker, cred, relay_members(logins, staying_holds, cred, {}, used_by_containers));
  if (!relayed) {
    for (const auto& vol : logins) m_held.insert(vol.name);  // still mounted by the relay
    r.kept.push_back(relay_name(cred) + ": " + relayed.error().message);
  } else if (*relayed) {
    r.notes.push_back(**relayed);
  }
}

void Gc::remove_login_volume(const VolumeInfo& vol) {
  if (m_held.count(vol.name)) return;
  if (liveness::login_volume(vol.name, m_usage, 0).live()) {
    r.kept.push_back(vol.name + ": a container still mounts it");
    return;
  }
  auto wrote = write_back_volume(m_docker, m_vault, vol, {"", label_of(vol.labels, labels::k_image)});
  if (!wrote) {
    m_held.insert(vol.name);  // its keeper stays, to read it another time
    r.kept.push_back(vol.name + ": its login could not be read back (" + wrote.error().message + ")");
    return;
  }
  if (!wrote->refused.empty()) r.refused.push_back(wrote->refused);
  if (!wrote->note.empty()) r.notes.push_back(wrote->note);
  if (auto k = remove_keeper(m_docker, vol.name); !k) {
    m_held.insert(vol.name);
    r.kept.push_back(vol.name + ": " + k.error().message);
    return;
  }
  auto s = m_docker.volume_remove(vol.name, false);
  if (s || s.error().kind == ErrorKind::not_found) {
    r.removed_volumes.push_back(vol.name);
  } else {
    m_held.insert(vol.name);
    r.kept.push_back(vol.name + ": " + s.error().message);
  }
}

void Gc::remove_orphan_keepers(const std::string& cred) {
  // A keeper lives as long as its volume: one whose volume is gone or
  // unheld is an orphan (an interrupted mount or release left it).
  // A keeper still named `para-…` counts against para's container limit:
  // it goes even when its volume is held, and the next release or sync
  // makes it again under its new name.
  for (const auto& [id, vol] : m_keepers[cred]) {
    if ((m_held.count(vol) || m_usage.users.count(vol)) && !m_legacy_keepers.count(id)) continue;
    if (auto s = m_docker.container_remove(id, true, false); s || s.error().kind == ErrorKind::not_found) {
      r.removed_helpers.push_back(id);
      PB_CRASH_POINT("dispatch.gc.helper_removed");
    }
  }
}

void Gc::remove_lock(const std::string& cred, const std::vector<VolumeInfo>& logins) {
  // The lock volume goes with the last login volume beside it (after the
  // keepers, which may still attach it).
  std::vector<VolumeInfo> left;
  for (const auto& vol : logins)
    if (m_held.count(vol.name) || liveness::login_volume(vol.name, m_usage, 0).live()) left.push_back(vol);
  auto lock_removed = remove_lock_if_unused(m_docker, left, cred, {});
  if (lock_removed && *lock_removed) r.removed_volumes.push_back(lock_volume_name(cred));
}

Status Gc::collect(const std::string& cred) {
  PB_TRY(FileLock lock, lock_credential(m_vault, cred));
  m_held.clear();
  PB_TRY(std::vector<VolumeInfo> holds,
         m_docker.volume_list(with(labels::filter(Role::hold), labels::k_credential, cred)));
  for (const auto& h : holds) judge_hold(h);
  PB_TRY(std::vector<VolumeInfo> logins,
         m_docker.volume_list(with(labels::filter(Role::login), labels::k_credential, cred)));
  relay_what_stays(cred, holds, logins);
  for (const auto& vol : logins) remove_login_volume(vol);
  remove_orphan_keepers(cred);
  remove_lock(cred, logins);
  return {};
}

Result<GcResult> Gc::run() {
  PB_TRY_STATUS(observe());
  PB_TRY(std::set<std::string> creds, credentials());
  for (const auto& cred : creds) {
    // Volumes of credentials this vault does not hold belong to another vault (or
    // a removed entry): their logins could not be written back, so leave them.
    if (cred.empty() || !vault::is_entry_id(cred) || !m_vault.find(cred).ok()) continue;
    PB_TRY_STATUS(collect(cred));
  }
  PB_TRY_STATUS(remove_leftovers(m_docker, m_containers, m_now, m_grace, r));
  vault::LogRecord rec;
  rec.op = "gc";
  rec.detail = "removed " + std::to_string(r.removed_holds.size()) + " hold(s), " +
               std::to_string(r.removed_volumes.size()) + " volume(s), " + std::to_string(r.removed_helpers.size()) +
               " helper(s)";
  PB_TRY_STATUS(m_vault.log(std::move(rec)));
  return std::move(r);
}

}  // namespace

Result<GcResult> gc(DockerClient& docker, vault::Vault& v, long long grace_seconds) {
  return Gc(docker, v, grace_seconds).run();
}

}  // namespace pb::broker::dispatch
