// mount (dispatch.hpp): the credential's login volume made or joined, the
// session's hold and keeper, the relay, and the session's config seeded.

#include <algorithm>
#include <future>
#include <optional>

#include "broker/dispatch/dispatch.hpp"
#include "broker/dispatch/dispatch_internal.hpp"
#include "broker/dispatch/relay_container.hpp"
#include "broker/dispatch/seed_cache.hpp"
#include "broker/dispatch/volume_tar.hpp"
#include "broker/docker/docker_client.hpp"
#include "broker/objects/labels.hpp"
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
  if (m_use.valid() && m_use.get()) {
    vault::LogRecord rec = log_record("mount", m_meta, m_access);
    rec.result = "failed";
    rec.detail = e.message;
    (void)m_vault.log(std::move(rec));
  }
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

}  // namespace pb::broker::dispatch
