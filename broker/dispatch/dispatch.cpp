#include <chrono>
#include <future>
#include <map>
#include <set>

#include "broker/dispatch/dispatch.hpp"
#include "broker/dispatch/dispatch_internal.hpp"
#include "broker/dispatch/relay_container.hpp"
#include "broker/dispatch/seed_cache.hpp"
#include "broker/dispatch/volume_tar.hpp"
#include "broker/dispatch/writeback.hpp"
#include "broker/docker/docker_client.hpp"
#include "broker/objects/labels.hpp"
#include "broker/objects/liveness.hpp"
#include "broker/probe/probe_runner.hpp"
#include "core/fault.hpp"
#include "core/files.hpp"
#include "core/text.hpp"
#include "probes/version.hpp"
#include "vault/vault.hpp"

namespace pb::broker::dispatch {

using namespace detail;

namespace {

Result<vault::EntryMeta> resolve_credential(const vault::Vault& v, const std::optional<std::string>& name) {
  if (name) return v.find(*name);
  PB_TRY(vault::Listing listing, v.list());
  if (listing.entries.size() == 1) return listing.entries.front();
  if (listing.entries.empty())
    return fail(ErrorKind::not_found,
                "the vault holds no credential; capture one first with para-broker import or login");
  std::string names;
  for (const auto& e : listing.entries) names += (names.empty() ? "" : ", ") + e.name;
  return fail(ErrorKind::usage,
              "the vault holds several credentials (" + names + "); choose one with --credential NAME");
}

/// Before a login volume is populated from the vault: another owner's login
/// volume of the credential may hold a pair its sessions refreshed since the
/// vault last heard of it, and then the vault's refresh token is dead (the
/// service revoked it). Each live one is written back first, so the new volume
/// starts with the live pair, as a sync would. A volume that cannot be read
/// says so in a note and does not fail the mount: the session then starts
/// with the vault's login, as it would have without this.
std::vector<std::string> write_back_other_owners(DockerClient& docker, vault::Vault& v,
                                                 const std::vector<VolumeInfo>& volumes, const std::string& cred,
                                                 const std::string& except, const vault::AccessInfo& access) {
  std::vector<std::string> notes;
  auto managed = [&](const VolumeInfo& vol, Role role) {
    return labels::has_role(vol.labels, role) && label_of(vol.labels, labels::k_credential) == cred;
  };
  for (const auto& vol : volumes) {
    if (vol.name == except || !managed(vol, Role::login)) continue;
    const VolumeInfo* hold = nullptr;
    for (const auto& h : volumes)
      if (managed(h, Role::hold) && label_of(h.labels, labels::k_volume) == vol.name) {
        hold = &h;
        break;
      }
    if (hold == nullptr) continue;  // no session uses it: no refresh can be under way there
    auto wb = write_back_volume(docker, v, vol, access, hold);
    if (!wb) {  // (a vault that fails shows again in the read that follows)
      notes.push_back("the login of volume " + vol.name + " could not be read (" + wb.error().message +
                      "); this session starts with the vault's login");
      continue;
    }
    if (wb->wrote) notes.push_back("a newer login of volume " + vol.name + " was written back first");
    if (!wb->note.empty()) notes.push_back(wb->note);
    if (!wb->refused.empty()) notes.push_back(wb->refused);
  }
  return notes;
}

/// Why `report`'s image cannot have a login mounted, or nothing.
Status check_mountable(const probes::ProbeReport& report, const std::string& image) {
  if (!report.claude.found)
    return fail(ErrorKind::not_found,
                "image '" + image + "' has no Claude Code installed, so there is nothing to log in");
  const std::string version = report.claude.version.value_or("?");
  if (!report.honors_claude_config_dir)
    return fail(ErrorKind::failure, "Claude Code " + version + " in image '" + image +
                                        "' keeps its credentials in ~/.claude whatever CLAUDE_CONFIG_DIR says, so a "
                                        "volume cannot hold its login without covering its whole ~/.claude; install "
                                        "Claude Code 1.0.5 or later in the image");
  if (!report.locations.credentials)
    return fail(ErrorKind::failure, "Claude Code " + version + " in image '" + image +
                                        "' keeps no credentials file; install Claude Code 1.0.5 or later in the image");
  return {};
}

/// Builds that write the login by rename and may not know
/// CLAUDE_SECURESTORAGE_CONFIG_DIR (known from 2.1.332) keep a refresh in
/// their own config, and 2.1.140 keeps its refresh lock there: parallel
/// sessions of such a build can log each other out (docs/dispatch.md).
std::optional<std::string> rename_build_note(const std::string& version) {
  auto ver = probes::parse_version(version);
  if (!ver || *ver < probes::Version{2, 1, 118, {}} || !(*ver < probes::Version{2, 1, 332, {}})) return std::nullopt;
  return "Claude Code " + version +
         " writes its login by rename and may keep a refresh in the session's own config, where other "
         "sessions do not see it: run one session of this credential at a time in such images, run "
         "para-broker sync while they run, or install Claude Code 2.1.332 or later";
}

/// One mount, in the order it happens: judge the volumes there are, fill the
/// login volume (first session of an owner), make the session's hold and
/// keeper, the relay, then seed the session's config. Each step that fails
/// takes back what this mount made.
class Mount {
 public:
  Mount(DockerClient& docker, vault::Vault& v, const Paths& paths, const MountRequest& req, vault::EntryMeta meta,
        probes::ProbeReport report)
      : m_docker(docker),
        m_vault(v),
        m_paths(paths),
        m_req(req),
        m_meta(std::move(meta)),
        m_report(std::move(report)),
        m_access{req.session, req.image} {}

  Result<MountResult> run();

 private:
  void plan();
  Status judge_volumes();
  Status judge_hold(const VolumeInfo& h);
  Status populate_login();
  Status make_hold();
  Status make_keeper();
  void serve_by_relay();
  Status seed();
  void take_back_after_seed();
  void take_back_lock();
  /// The vault records this access while Docker works: the entry's last use
  /// and the "mount" record are written beside the archive upload instead of
  /// after it.
  void record_use();
  /// A failure after the record was written adds a second one with result "failed".
  Error failed(Error e);

  DockerClient& m_docker;
  vault::Vault& m_vault;
  const Paths& m_paths;
  const MountRequest& m_req;
  const vault::EntryMeta m_meta;
  const probes::ProbeReport m_report;
  const vault::AccessInfo m_access;
  MountResult r;
  std::vector<VolumeInfo> m_volumes;  ///< para-broker's volumes, listed once under the lock
  bool m_legacy_live = false;         ///< joins a live login volume of the release before
  std::string m_login_at;             ///< where the login volume is mounted in keepers
  std::string m_login_dir_label;
  bool m_live = false;  ///< the login volume is held by live sessions: a join
  bool m_existing = false;
  bool m_lock_existing = false;
  std::optional<VolumeInfo> m_own_hold;  ///< mounted before, under this session's name
  std::optional<vault::DecodedEntry> m_entry;
  std::string m_keeper;  ///< the session's keeper
  std::future<Result<vault::EntryMeta>> m_use;
};

void Mount::record_use() {
  if (!m_use.valid())
    m_use = std::async(std::launch::async, [this] { return m_vault.touch(m_meta.id, m_access, "mount"); });
}

Error Mount::failed(Error e) {
  if (m_use.valid() && m_use.get())
    (void)m_vault.log({"mount", m_meta.id, m_meta.name, m_access.session, m_access.image, "failed", m_meta.fingerprint,
                       e.message, 0});
  return e;
}

void Mount::plan() {
  r.session = m_req.session;
  r.image_id = m_report.image_id;
  r.credential_id = m_meta.id;
  r.credential_name = m_meta.name;
  r.target = k_mount_target;
  r.config_dir = session_config_dir();
  r.login_dir = login_target();
  r.hold = hold_volume_name(m_req.session);
  if (auto note = rename_build_note(m_report.claude.version.value_or("?"))) r.notes.push_back(*note);
}

Status Mount::judge_hold(const VolumeInfo& h) {
  if (!labels::has_role(h.labels, Role::hold))
    return fail(ErrorKind::conflict, "volume " + r.hold +
                                         " exists but is not this session's hold; remove it or choose another "
                                         "session name");
  const std::string held = label_of(h.labels, labels::k_volume);
  if (held != r.volume)
    return fail(ErrorKind::conflict, "session '" + m_req.session + "' already holds volume " + held +
                                         " for another credential or owner; release it first");
  PB_TRY(bool config, is_config_hold(h));
  if (!config) return fail(ErrorKind::integrity, "hold " + r.hold + " is not a session's config volume");
  // Its config is another image's (or another session's whose name has
  // the same key): never handed to this one.
  if (label_of(h.labels, labels::k_session) != m_req.session)
    return fail(ErrorKind::conflict, "volume " + r.hold + " is the config of session '" +
                                         printable(label_of(h.labels, labels::k_session), 140) +
                                         "'; choose another session name");
  if (label_of(h.labels, labels::k_image) != m_report.image_id)
    return fail(ErrorKind::conflict, "session '" + m_req.session + "' holds a config of image " +
                                         printable(label_of(h.labels, labels::k_image), 80) + ", not of " +
                                         m_report.image_id + "; release it first");
  m_own_hold = h;
  return {};
}

Status Mount::judge_volumes() {
  // One list answers every question: who holds which volume, whether the
  // volumes exist, and whether a volume that is not this credential's has their names.
  PB_TRY(m_volumes, m_docker.volume_list({}, "para-broker-"));
  // While sessions of this owner use a login volume of the release before
  // (no lock volume), a new one joins it: one owner, one file.
  const std::string legacy = legacy_login_volume_name(m_meta.id, m_report.user.uid, m_report.user.gid);
  m_legacy_live = std::any_of(m_volumes.begin(), m_volumes.end(), [&](const VolumeInfo& h) {
    return labels::has_role(h.labels, Role::hold) && label_of(h.labels, labels::k_credential) == m_meta.id &&
           label_of(h.labels, labels::k_volume) == legacy;
  });
  r.volume = m_legacy_live ? legacy : login_volume_name(m_meta.id, m_report.user.uid, m_report.user.gid);
  if (!m_legacy_live) r.lock = lock_volume_name(m_meta.id);
  m_login_at = m_legacy_live ? r.target : login_target();
  m_login_dir_label = m_legacy_live ? k_login_subdir : k_login_at_root;
  for (const auto& h : m_volumes) {
    const bool ours =
        label_of(h.labels, labels::k_managed) == "1" && label_of(h.labels, labels::k_credential) == m_meta.id;
    if (h.name == r.volume) {
      if (!ours || !labels::has_role(h.labels, Role::login))
        return fail(ErrorKind::conflict, "volume " + r.volume + " exists but is not para-broker's; remove it");
      PB_TRY(std::string target, volume_target(h));
      PB_TRY(std::string subdir, login_subdir(h));
      if (target != m_login_at || subdir != m_login_dir_label)
        return fail(ErrorKind::integrity, "volume " + r.volume + " is not laid out as a login volume; remove it");
      m_existing = true;
    }
    if (!r.lock.empty() && h.name == r.lock) {
      if (!ours || !labels::has_role(h.labels, Role::lock))
        return fail(ErrorKind::conflict, "volume " + r.lock + " exists but is not para-broker's; remove it");
      m_lock_existing = true;
    }
    if (h.name == r.hold) PB_TRY_STATUS(judge_hold(h));
    if (ours && labels::has_role(h.labels, Role::hold) && label_of(h.labels, labels::k_volume) == r.volume)
      m_live = true;
  }
  if (m_live && !m_existing) {
    // Holds outlived their volume (removed by hand, keeper and all): a join
    // would give the session no login, so it is populated again.
    m_live = false;
    r.notes.push_back("volume " + r.volume + " was gone although sessions held it; it was populated again");
  }
  return {};
}

Status Mount::populate_login() {
  // A new login volume comes into being with its keeper (one request fewer):
  // Docker creates a missing named volume with the labels the mount carries.
  Labels l;
  if (!m_existing) {
    l = labels::managed(Role::login);
    l[labels::k_credential] = m_meta.id;
    l[labels::k_image] = m_report.image_id;
    l[labels::k_uid] = std::to_string(m_report.user.uid);
    l[labels::k_gid] = std::to_string(m_report.user.gid);
    l[labels::k_target] = m_login_at;
    l[labels::k_login_dir] = m_login_dir_label;
  }
  std::string login_keeper;
  auto populate = [&]() -> Status {
    PB_TRY(login_keeper, keeper_for(m_docker, m_report.image_id, r.volume, m_login_at, m_meta.id, m_existing, l));
    PB_CRASH_POINT("dispatch.mount.helper_created");
    if (m_existing) {
      // Left behind by an interrupted session: keep a login it refreshed
      // before replacing it (its sessions' .claude.json went with their holds).
      PB_TRY(VolumeLogin old, read_volume_login(m_docker, {login_keeper, r.login_dir, {}, {}}, r.volume,
                                                stored_expiry(m_vault, m_meta.id)));
      PB_TRY(WriteBack wb, write_back(m_vault, m_meta.id, old, r.volume, m_access, &m_docker, r.volume));
      if (wb.wrote) r.notes.push_back("a newer login left in volume " + r.volume + " was written back first");
      if (!wb.note.empty()) r.notes.push_back(wb.note);
      if (!wb.refused.empty()) r.notes.push_back(wb.refused + " (the volume is populated anew)");
    }
    const auto others = write_back_other_owners(m_docker, m_vault, m_volumes, m_meta.id, r.volume, m_access);
    r.notes.insert(r.notes.end(), others.begin(), others.end());
    PB_TRY(m_entry, m_vault.read(m_meta.id));
    // The login volume: the login (a legacy one: in login/, and <cfg>'s
    // mount point beside it, the place of Claude Code's lock <cfg>.lock).
    std::vector<TreeEntry> tree;
    const std::string dir = m_legacy_live ? std::string(k_login_subdir) + "/" : std::string();
    if (m_legacy_live) tree = {{k_login_subdir, true, {}, {}}, {k_config_subdir, true, {}, {}}};
    for (const auto& f : m_entry->files)
      if (f.name == vault::k_credentials_file) tree.push_back({dir + k_credentials_name, false, f.data, {}});
    record_use();
    return put_volume(m_docker, login_keeper, m_login_at, tree, m_report.user.uid, m_report.user.gid);
  };
  if (auto s = populate(); !s) {
    // No session holds the volume: take back what this mount made.
    if (!login_keeper.empty()) (void)m_docker.container_remove(login_keeper, true, false);
    if (!m_existing) (void)m_docker.volume_remove(r.volume, false);
    return failed(std::move(s).error());
  }
  r.populated = true;
  PB_CRASH_POINT("dispatch.mount.populated");
  return {};
}

Status Mount::make_hold() {
  Labels hl = labels::managed(Role::hold);
  hl[labels::k_session] = m_req.session;
  hl[labels::k_volume] = r.volume;
  hl[labels::k_credential] = m_meta.id;
  hl[labels::k_image] = m_report.image_id;
  hl[labels::k_target] = r.target;
  hl[labels::k_config] = r.config_dir;
  hl[labels::k_mounted_at] = std::to_string(unix_now());
  auto made = m_docker.volume_create(r.hold, hl);
  if (!made) return failed(std::move(made).error());
  if (label_of(made->labels, labels::k_volume) != r.volume || !labels::has_role(made->labels, Role::hold))
    return failed(fail(ErrorKind::conflict, "volume " + r.hold +
                                                " exists but is not this session's hold; remove it or choose "
                                                "another session name"));
  PB_CRASH_POINT("dispatch.mount.hold_created");
  return {};
}

void Mount::take_back_lock() {
  // A lock volume this mount made goes again with the login volume it made
  // (under the credential's lock: no other login volume beside it came meanwhile).
  if (r.lock.empty() || m_lock_existing) return;
  if (auto logins = m_docker.volume_list(with(labels::filter(Role::login), labels::k_credential, m_meta.id)))
    (void)remove_lock_if_unused(m_docker, *logins, m_meta.id, r.volume);
}

Status Mount::make_keeper() {
  auto k = keeper_for(m_docker, m_report.image_id, r.hold, session_mounts(m_meta.id, r.volume, r.hold), m_meta.id,
                      m_own_hold.has_value());
  if (!k) {
    if (!m_own_hold) (void)remove_hold(m_docker, r.hold);
    if (!m_live && !m_existing) {
      (void)remove_keeper(m_docker, r.volume);
      (void)m_docker.volume_remove(r.volume, false);
      take_back_lock();
    }
    return failed(std::move(k).error());
  }
  m_keeper = std::move(*k);
  PB_CRASH_POINT("dispatch.mount.keeper_created");
  return {};
}

void Mount::serve_by_relay() {
  if (r.lock.empty()) return;
  // Another user's live login volume of this credential: the relay keeps
  // the copies one login (made again to serve this volume too).
  std::vector<RelayMember> members = relay_members(m_volumes, m_volumes, m_meta.id, r.volume);
  members.push_back({r.volume, m_report.user.uid, m_report.user.gid});
  if (members.size() < 2) return;
  auto relayed = reconcile_relay(m_docker, m_meta.id, members);
  if (!relayed)
    r.notes.push_back("the relay could not be set up: " + relayed.error().message);
  else if (*relayed)
    r.notes.push_back(**relayed);
}

Status Mount::seed() {
  if (m_own_hold) {
    // Mounted before: a no-op, unless that mount was interrupted before its
    // config was complete (.claude.json is written last but one).
    auto st = m_docker.archive_stat(m_keeper, r.config_dir + "/" + k_claude_json_name);
    if (st) {
      record_use();
      return {};
    }
    if (st.error().kind != ErrorKind::not_found) return std::move(st).error();
  }
  if (!m_entry) {
    PB_TRY(m_entry, m_vault.read(m_meta.id));
  }
  // What the image ships, from the cache when this vault stored it for
  // this image before: then no archive read of the image at all.
  const SeedSource source = seed_source_of(m_report);
  std::optional<SeedCache> cache;
  if (cacheable(source))
    if (auto key = m_vault.derive_key(k_seed_key_purpose)) cache.emplace(m_paths.cache_dir, std::move(*key));
  std::optional<ImageSeed> image = cache ? cache->load(source) : std::nullopt;
  const bool fresh = !image;
  if (fresh) {
    PB_TRY(image, read_image_seed(m_docker, m_keeper, source));
  }
  PB_TRY(std::vector<TreeEntry> tree, compose_tree(*image, *m_entry, r.notes));
  // Stored beside the upload; a cache that cannot be written only costs the next mount the reads.
  std::future<Status> stored;
  if (fresh && cache)
    stored = std::async(std::launch::async, [&cache, &source, &image] { return cache->store(source, *image); });
  record_use();
  auto put = put_volume(m_docker, m_keeper, r.config_dir, tree, m_report.user.uid, m_report.user.gid);
  if (stored.valid()) (void)stored.get();
  if (!put) return put;
  // A new lock volume (the session's keeper made it) is root's, 0755: every
  // user's sessions must be able to take their refresh locks in it.
  if (!r.lock.empty() && (!m_lock_existing || !m_live)) return put_volume(m_docker, m_keeper, r.target, {}, 0, 0, 0777);
  return put;
}

void Mount::take_back_after_seed() {
  // Take back what this mount made: the session's keeper and hold, and a
  // login volume no other session holds (judged under the lock again).
  if (!m_own_hold) (void)remove_hold(m_docker, r.hold);
  if (m_live || m_existing) return;
  auto relock = lock_credential(m_vault, m_meta.id);
  if (!relock) return;
  auto left = m_docker.volume_list(with(labels::filter(Role::hold), labels::k_volume, r.volume));
  if (!left || !left->empty()) return;
  // The relay made for this mount lets go of the volume first.
  auto holds = m_docker.volume_list(with(labels::filter(Role::hold), labels::k_credential, m_meta.id));
  auto logins = m_docker.volume_list(with(labels::filter(Role::login), labels::k_credential, m_meta.id));
  if (!r.lock.empty() && holds && logins)
    (void)reconcile_relay(m_docker, m_meta.id, relay_members(*logins, *holds, m_meta.id, r.volume));
  (void)remove_keeper(m_docker, r.volume);
  (void)m_docker.volume_remove(r.volume, false);
  take_back_lock();
}

Result<MountResult> Mount::run() {
  plan();
  {
    PB_TRY(FileLock lock, lock_credential(m_vault, m_meta.id));
    PB_TRY_STATUS(judge_volumes());
    if (!m_live) PB_TRY_STATUS(populate_login());
    // The session's own <cfg>: its hold. Made under the credential's lock (a
    // hold keeps the login volume alive: a release or gc that looks after
    // this one sees it); filled after it, through the session's keeper,
    // which attaches both volumes where the session will have them, so that
    // parallel mounts of one credential seed their configs at the same
    // time. Every session has its own, so nothing one session writes there
    // reaches another.
    if (!m_own_hold) PB_TRY_STATUS(make_hold());
    // The session's keeper too, under the lock: a release or gc after it
    // finds it with the hold, and no keeper is ever made for volumes that
    // are gone (Docker would make them again, empty and unlabelled).
    PB_TRY_STATUS(make_keeper());
    serve_by_relay();
  }
  if (auto s = seed(); !s) {
    take_back_after_seed();
    return failed(std::move(s).error());
  }
  PB_TRY(vault::EntryMeta recorded, m_use.get());
  (void)recorded;
  // What the image sets that Claude Code prefers over the login just mounted.
  if (m_report.login_overrides) r.conflicts = *m_report.login_overrides;
  return std::move(r);
}

}  // namespace

Result<MountResult> mount(DockerClient& docker, vault::Vault& v, const Paths& paths, const MountRequest& req) {
  PB_TRY_STATUS(check_session(req.session));
  PB_TRY(vault::EntryMeta meta, resolve_credential(v, req.credential));
  PB_TRY(probes::ProbeReport report, req.probe ? req.probe() : probe_image(docker, paths, req.image));
  PB_TRY_STATUS(check_mountable(report, req.image));
  return Mount(docker, v, paths, req, std::move(meta), std::move(report)).run();
}

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
    PB_TRY_STATUS(v.log({"release", "", "", session, "", "none", "", "the session held no volume", 0}));
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
  std::string name, fp;
  if (auto m = v.find(r.credential_id)) {
    name = m->name;
    fp = m->fingerprint;
  }
  PB_TRY_STATUS(v.log({"release", r.credential_id, name, session, image, "ok", fp, detail, 0}));
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
  PB_TRY(VolumeLogin login, read_volume_login(m_docker, at, vol.name, stored_expiry(m_vault, cred)));
  return Live{std::move(vol), std::move(at), std::move(login)};
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
  return m_vault.log({"sync", cred, meta.name, m_session.value_or(""), "", "ok", meta.fingerprint,
                      std::to_string(live.size()) + " live volume(s)", 0});
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
  PB_TRY_STATUS(m_vault.log({"gc", "", "", "", "", "ok", "",
                             "removed " + std::to_string(r.removed_holds.size()) + " hold(s), " +
                                 std::to_string(r.removed_volumes.size()) + " volume(s), " +
                                 std::to_string(r.removed_helpers.size()) + " helper(s)",
                             0}));
  return std::move(r);
}

}  // namespace

Result<GcResult> gc(DockerClient& docker, vault::Vault& v, long long grace_seconds) {
  return Gc(docker, v, grace_seconds).run();
}

}  // namespace pb::broker::dispatch
