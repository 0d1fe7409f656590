// sync (dispatch.hpp): write-back from every live login volume, and the
// vault's newer login into the volumes behind it.

#include <algorithm>
#include <map>
#include <set>

#include "broker/dispatch/dispatch.hpp"
#include "broker/dispatch/dispatch_internal.hpp"
#include "broker/dispatch/relay_container.hpp"
#include "broker/dispatch/volume_tar.hpp"
#include "broker/dispatch/writeback_rules.hpp"
#include "broker/docker/docker_client.hpp"
#include "broker/objects/labels.hpp"
#include "core/files.hpp"
#include "vault/vault.hpp"

namespace pb::broker::dispatch {

using namespace detail;

namespace {

/// One sync: for each credential with live sessions (or the one session's),
/// under the credential's lock: the relay, what every live login volume
/// holds, judged together, written back, the sessions' own refreshes, and
/// the vault's newer login copied into the volumes behind it.
class Sync {
 public:
  Sync(DockerClient& docker, vault::Vault& v, const std::optional<std::string>& session)
      : m_docker(docker), m_vault(v), m_session(session) {}
  Result<SyncResult> run();

 private:
  /// A live login volume, opened: where its login is, what it holds, its row in the result.
  struct Live {
    VolumeInfo vol;
    LoginPlace at;
    VolumeLogin login;
    std::size_t row = 0;
  };
  Result<std::set<std::string>> credentials();
  Status sync_credential(const std::string& cred);
  Result<Live> open(const std::string& cred, VolumeInfo vol, const std::vector<const VolumeInfo*>& holds);
  /// One login can be in several volumes (the relay copies what passes its
  /// own rules, e.g. without foreign keys): a login refused in one is
  /// refused in all, so they are judged together before any is written back.
  Status judge_together(const std::string& cred, const std::vector<Live>& live);
  Status write_back_sessions(const std::string& cred, const std::vector<VolumeInfo>& holds);
  Status refresh_behind(const std::string& cred, const vault::EntryMeta& meta, std::vector<Live>& live);

  DockerClient& m_docker;
  vault::Vault& m_vault;
  const std::optional<std::string>& m_session;
  std::optional<std::string> m_only_volume;  ///< the session's login volume
  SyncResult r;
};

Result<std::set<std::string>> Sync::credentials() {
  std::set<std::string> out;
  if (!m_session) {
    PB_TRY(std::vector<VolumeInfo> holds, m_docker.volume_list(labels::filter(Role::hold)));
    for (const auto& h : holds) out.insert(label_of(h.labels, labels::k_credential));
    return out;
  }
  PB_TRY_STATUS(check_session(*m_session));
  auto hold = m_docker.volume_inspect(hold_volume_name(*m_session));
  if (!hold) {
    if (hold.error().kind == ErrorKind::not_found)
      return fail(ErrorKind::not_found, "session '" + *m_session + "' holds no volume; mount it first");
    return std::move(hold).error();
  }
  m_only_volume = label_of(hold->labels, labels::k_volume);
  out.insert(label_of(hold->labels, labels::k_credential));
  return out;
}

Result<Sync::Live> Sync::open(const std::string& cred, VolumeInfo vol, const std::vector<const VolumeInfo*>& holds) {
  PB_TRY(std::string target, volume_target(vol));
  PB_TRY(std::string subdir, login_subdir(vol));
  LoginPlace at;
  PB_TRY(at.keeper, keeper_for(m_docker, label_of(vol.labels, labels::k_image), vol.name, target, cred));
  at.login_dir = login_path(target, subdir);
  if (subdir == k_config_subdir) {
    at.cfg_keeper = at.keeper;
    at.cfg = at.login_dir;
  } else {
    // The account is shown by a session's .claude.json (any of them: one
    // login), read through a session keeper that exists: sync makes none,
    // and one a mount is making right now is that mount's.
    PB_TRY(at.cfg_keeper, existing_session_keeper(m_docker, holds));
    at.cfg = session_config_dir();
  }
  // Read into the row itself: GCC 12 takes a VolumeLogin moved out of a
  // Result in another unit for maybe-uninitialized.
  Live l;
  PB_TRY(l.login, read_volume_login(m_docker, at, vol.name, stored_expiry(m_vault, cred)));
  l.vol = std::move(vol);
  l.at = std::move(at);
  return l;
}

Status Sync::judge_together(const std::string& cred, const std::vector<Live>& live) {
  PB_TRY(vault::DecodedEntry stored, m_vault.read(cred));
  const RefusedLogins refused(m_vault, cred);
  for (const auto& l : live) {
    if (!l.login.credentials) continue;
    const SecureBytes* cj = l.login.claude_json ? &*l.login.claude_json : nullptr;
    const auto d = judge_writeback(stored, ByteSpan(*l.login.credentials), cj, unix_now_ms());
    if (d.verdict == WritebackDecision::Verdict::refuse && !d.account_unshown)
      if (auto t = refused.tag(*l.login.credentials)) refused.add(*t);
  }
  return {};
}

Status Sync::write_back_sessions(const std::string& cred, const std::vector<VolumeInfo>& holds) {
  // A session whose Claude Code replaced the link with a file of its own
  // keeps its refresh there: into the vault, and from there (refresh_behind)
  // into the login volume the other sessions read. Only through keepers that exist.
  for (const auto& h : holds) {
    if (m_session && label_of(h.labels, labels::k_session) != *m_session) continue;
    PB_TRY(std::string keeper, existing_session_keeper(m_docker, {&h}));
    if (keeper.empty()) continue;
    PB_TRY(WriteBack own,
           write_back_detached(m_docker, m_vault, h, {label_of(h.labels, labels::k_session), ""}, keeper));
    if (own.wrote || !own.refused.empty()) r.volumes.push_back({h.name, cred, own.wrote, false, own.refused});
    if (!own.note.empty()) r.notes.push_back(own.note);
  }
  return {};
}

Status Sync::refresh_behind(const std::string& cred, const vault::EntryMeta& meta, std::vector<Live>& live) {
  std::optional<vault::DecodedEntry> entry;
  for (auto& l : live) {
    if (!meta.expires_at || (l.login.expires_at && *l.login.expires_at >= *meta.expires_at)) continue;
    if (l.login.credentials && !l.login.expires_at) {
      // Not readable as a login, twice: perhaps a refresh being written
      // right now, which the vault's older login must not replace (its
      // refresh token would be the revoked one). Left for the next sync.
      r.notes.push_back("the login in volume " + l.vol.name + " could not be read as a login; it was left as it is");
      continue;
    }
    if (!entry) {
      PB_TRY(entry, m_vault.read(cred));
    }
    for (const auto& f : entry->files) {
      if (f.name != vault::k_credentials_file) continue;
      std::vector<TreeEntry> tree{{k_credentials_name, false, f.data, {}}};
      PB_TRY(std::uint32_t uid, label_id(l.vol, labels::k_uid));
      PB_TRY(std::uint32_t gid, label_id(l.vol, labels::k_gid));
      PB_TRY_STATUS(put_tree(m_docker, l.at.keeper, l.at.login_dir, "", tree, uid, gid));
      r.volumes[l.row].refreshed = true;
    }
  }
  return {};
}

Status Sync::sync_credential(const std::string& cred) {
  PB_TRY(FileLock lock, lock_credential(m_vault, cred));
  // Which volumes are live is read under the lock: a release or gc that ran
  // before it may have removed one, and a helper for a volume that is gone
  // would make Docker create it again, empty and unlabelled.
  PB_TRY(std::vector<VolumeInfo> holds,
         m_docker.volume_list(with(labels::filter(Role::hold), labels::k_credential, cred)));
  PB_TRY(std::vector<VolumeInfo> shared,
         m_docker.volume_list(with(labels::filter(Role::login), labels::k_credential, cred)));
  // A relay that stopped is made again here too (sync runs from para's status loop).
  if (const auto members = relay_members(shared, holds, cred); members.size() >= 2) {
    auto relayed = reconcile_relay(m_docker, cred, members);
    if (!relayed) r.notes.push_back("the relay could not be set up: " + relayed.error().message);
    if (relayed && *relayed) r.notes.push_back(**relayed);
  }
  std::map<std::string, std::vector<const VolumeInfo*>> held;  // login volume -> its holds
  for (const auto& h : holds) held[label_of(h.labels, labels::k_volume)].push_back(&h);
  std::vector<VolumeInfo> vols;
  for (auto& vol : shared)
    if (held.count(vol.name)) vols.push_back(std::move(vol));
  if (m_only_volume &&
      std::none_of(vols.begin(), vols.end(), [&](const VolumeInfo& vol) { return vol.name == *m_only_volume; }))
    return fail(ErrorKind::not_found, "the volume of session '" + *m_session + "' is gone; release the session");
  if (vols.empty()) return {};
  std::vector<Live> live;
  for (auto& vol : vols) {
    const std::string name = vol.name;
    PB_TRY(Live l, open(cred, std::move(vol), held[name]));
    live.push_back(std::move(l));
  }
  PB_TRY_STATUS(judge_together(cred, live));
  for (auto& l : live) {
    SyncResult::Volume out{l.vol.name, cred, false, false, {}};
    if (!m_only_volume || l.vol.name == *m_only_volume) {
      PB_TRY(WriteBack wb,
             write_back(m_vault, cred, l.login, l.vol.name, {m_session.value_or(""), ""}, &m_docker, l.vol.name));
      out.wrote_back = wb.wrote;
      out.refused = std::move(wb.refused);
      if (!wb.note.empty()) r.notes.push_back(wb.note);
    }
    l.row = r.volumes.size();
    r.volumes.push_back(out);
  }
  PB_TRY_STATUS(write_back_sessions(cred, holds));
  PB_TRY(vault::EntryMeta meta, m_vault.find(cred));
  PB_TRY_STATUS(refresh_behind(cred, meta, live));
  vault::LogRecord rec = log_record("sync", meta, {m_session.value_or(""), ""});
  rec.detail = std::to_string(live.size()) + " live volume(s)";
  return m_vault.log(std::move(rec));
}

Result<SyncResult> Sync::run() {
  PB_TRY(std::set<std::string> creds, credentials());
  for (const auto& cred : creds) {
    if (cred.empty()) continue;
    if (!m_vault.find(cred)) {
      r.notes.push_back("credential " + cred + " is no longer in the vault; its volumes were left as they are");
      continue;
    }
    PB_TRY_STATUS(sync_credential(cred));
  }
  return std::move(r);
}

}  // namespace

Result<SyncResult> sync(DockerClient& docker, vault::Vault& v, const std::optional<std::string>& session) {
  return Sync(docker, v, session).run();
}

}  // namespace pb::broker::dispatch
