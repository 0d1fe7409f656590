// release (dispatch.hpp): the session's write-back, its hold, and the login
// volume with its last hold; check_not_held() where there is no vault.

#include "broker/dispatch/dispatch.hpp"
#include "broker/dispatch/dispatch_internal.hpp"
#include "broker/dispatch/relay_container.hpp"
#include "broker/docker/docker_client.hpp"
#include "broker/objects/labels.hpp"
#include "core/fault.hpp"
#include "core/files.hpp"
#include "vault/vault.hpp"

namespace pb::broker::dispatch {

using namespace detail;

namespace {

/// What the relay could not do is said, not fatal: the hold is gone already,
/// and Docker keeps a volume the relay still mounts.
void relay_again(DockerClient& docker, ReleaseResult& r, const std::vector<RelayMember>& members) {
  auto relayed = reconcile_relay(docker, r.credential_id, members);
  if (!relayed) r.notes.push_back("the relay could not be set up again: " + relayed.error().message);
  if (relayed && *relayed) r.notes.push_back(**relayed);
}

/// Release's write-back: what the login volume and the session's own config
/// hold, when the vault still has the credential.
Status release_write_back(DockerClient& docker, vault::Vault& v, const VolumeInfo& hold,
                          const Result<VolumeInfo>& shared, const vault::AccessInfo& access, ReleaseResult& r) {
  if (!v.find(r.credential_id).ok()) {
    if (shared)
      r.notes.push_back("credential " + r.credential_id + " is no longer in the vault; nothing was written back");
    return {};
  }
  WriteBack wb;
  if (shared) {
    PB_TRY(wb, write_back_volume(docker, v, *shared, access, &hold));
  }
  PB_TRY(WriteBack own, write_back_own(docker, v, hold, access, shared.ok()));
  r.wrote_back = wb.wrote || own.wrote;
  r.refused = !wb.refused.empty() ? std::move(wb.refused) : std::move(own.refused);
  if (!wb.note.empty()) r.notes.push_back(wb.note);
  if (!own.note.empty()) r.notes.push_back(own.note);
  PB_CRASH_POINT("dispatch.release.written_back");
  return {};
}

/// The login volume goes with its last hold (its keeper first, the relay
/// letting go of it before, and the lock volume after it when no login
/// volume is left beside it).
Status release_login_volume(DockerClient& docker, ReleaseResult& r) {
  PB_TRY(std::vector<VolumeInfo> left,
         docker.volume_list(with(labels::filter(Role::hold), labels::k_volume, r.volume)));
  if (!left.empty()) return {};
  std::vector<VolumeInfo> logins;
  std::vector<VolumeInfo> holds;
  if (is_beside_lock(r.volume)) {
    // The relay must let go of the volume first (Docker keeps a volume a
    // container mounts), and goes when fewer than two users are left.
    PB_TRY(holds, docker.volume_list(with(labels::filter(Role::hold), labels::k_credential, r.credential_id)));
    PB_TRY(logins, docker.volume_list(with(labels::filter(Role::login), labels::k_credential, r.credential_id)));
    relay_again(docker, r, relay_members(logins, holds, r.credential_id, r.volume));
  }
  PB_TRY_STATUS(remove_keeper(docker, r.volume));
  auto s = docker.volume_remove(r.volume, false);
  if (s) {
    r.volume_removed = true;
    PB_CRASH_POINT("dispatch.release.volume_removed");
    if (is_beside_lock(r.volume)) {
      auto lock_removed = remove_lock_if_unused(docker, logins, r.credential_id, r.volume);
      if (!lock_removed) r.notes.push_back("the lock volume stays for gc: " + lock_removed.error().message);
    }
  } else if (s.error().kind == ErrorKind::conflict) {
    r.notes.push_back("volume " + r.volume +
                      " is still attached to a container; para-broker gc removes it once that container is gone");
    // A container still uses it: the relay serves it again meanwhile.
    if (is_beside_lock(r.volume)) relay_again(docker, r, relay_members(logins, holds, r.credential_id, {}, {r.volume}));
  } else if (s.error().kind != ErrorKind::not_found) {
    return std::move(s).error();
  }
  return {};
}

}  // namespace

Result<ReleaseResult> release(DockerClient& docker, vault::Vault& v, const std::string& session, bool do_write_back) {
  PB_TRY_STATUS(check_session(session));
  ReleaseResult r;
  const std::string hold_name = hold_volume_name(session);
  auto hold = docker.volume_inspect(hold_name);
  if (!hold) {
    if (hold.error().kind != ErrorKind::not_found) return std::move(hold).error();
    vault::LogRecord none;
    none.op = "release";
    none.session = session;
    none.result = "none";
    none.detail = "the session held no volume";
    PB_TRY_STATUS(v.log(std::move(none)));
    return r;
  }
  if (!labels::has_role(hold->labels, Role::hold))
    return fail(ErrorKind::conflict, "volume " + hold_name + " is not a para-broker hold; leaving it alone");
  r.held = true;
  r.volume = label_of(hold->labels, labels::k_volume);
  r.credential_id = label_of(hold->labels, labels::k_credential);
  const std::string image = label_of(hold->labels, labels::k_image);

  PB_TRY(FileLock lock, lock_credential(v, r.credential_id));
  auto shared = docker.volume_inspect(r.volume);
  if (!shared && shared.error().kind != ErrorKind::not_found) return std::move(shared).error();
  if (do_write_back) PB_TRY_STATUS(release_write_back(docker, v, *hold, shared, {session, image}, r));
  PB_TRY(bool hold_removed, remove_hold(docker, hold_name));
  if (!hold_removed)
    r.notes.push_back("volume " + hold_name +
                      " (the session's config) is still attached to a container; para-broker gc removes it once "
                      "that container is gone");
  PB_CRASH_POINT("dispatch.release.hold_removed");
  if (shared) PB_TRY_STATUS(release_login_volume(docker, r));
  std::string detail = std::string(r.wrote_back ? "wrote back a newer login; " : "") +
                       (r.volume_removed ? "removed volume " + r.volume : "volume " + r.volume + " kept");
  vault::LogRecord rec;
  rec.op = "release";
  rec.credential = r.credential_id;
  rec.session = session;
  rec.image = image;
  rec.detail = detail;
  if (auto m = v.find(r.credential_id)) {
    rec.name = m->name;
    rec.fingerprint = m->fingerprint;
  }
  PB_TRY_STATUS(v.log(std::move(rec)));
  return r;
}

Status check_not_held(DockerClient& docker, const std::string& session, const std::string& vault_home) {
  PB_TRY_STATUS(check_session(session));
  auto hold = docker.volume_inspect(hold_volume_name(session));
  if (!hold) {
    if (hold.error().kind == ErrorKind::not_found) return {};
    return std::move(hold).error();
  }
  if (!labels::has_role(hold->labels, Role::hold)) return {};
  return fail(ErrorKind::not_found, "session '" + session + "' holds volume " +
                                        label_of(hold->labels, labels::k_volume) + ", but there is no vault in " +
                                        vault_home +
                                        " to write its login back to; point PARA_BROKER_HOME at the vault that "
                                        "mounted it");
}

}  // namespace pb::broker::dispatch
