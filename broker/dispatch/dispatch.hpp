#pragma once
// Dispatch: the session volumes behind `mount`, `release`, `sync` and `gc`
// (design and guarantees: docs/dispatch.md).
//
//   lock volume    para-broker-lock-<credential id>
//                  role=lock; one per credential, shared by the sessions of
//                  every user; mounted at /para-broker, root's, mode 0777:
//                  where Claude Code takes its refresh locks beside the
//                  directories below (1.0.x: claude.lock, 2.x: login.lock)
//   login volume   para-broker-user-<credential id>-<hash(uid, gid)>
//                  role=session; one per credential and owner, shared by every
//                  image that runs as that owner; mounted at /para-broker/login;
//                  holds the login, .credentials.json, at its root
//   hold volume    para-broker-hold-<session_key(session)>
//                  role=hold; the session's own <cfg>, mounted at
//                  /para-broker/claude: the image's settings, commands,
//                  agents, CLAUDE.md and .claude.json merged with the login
//                  keys, and .credentials.json as a link into the login volume
//   relay          pb-relay-<credential id> (relay_container.hpp), while two
//                  or more users' login volumes are live: copies a refreshed
//                  login into the other users' login volumes
//   host lock      <vault>/locks/<credential id>.lock
//                  flock: held while holds and login volumes of that
//                  credential are created, populated, written back or removed
//
// Volumes are read and written through the archive API of keepers: containers
// created (never started, no network) from the image: one per login volume
// (pb-keeper-user-…) and one per session (pb-keeper-hold-…, its volumes
// attached as the session sees them). Volumes made by earlier releases keep
// working until their sessions are released: login volumes
// para-broker-shared-<credential id>-<hash(uid, gid)> mounted at /para-broker
// with the login at login/ (no lock volume; a new session of that owner joins
// such a volume while it is live), and before those
// para-broker-<credential>-<hash(image, uid, gid)> holding the whole <cfg>,
// with empty holds.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/objects/labels.hpp"
#include "core/error.hpp"
#include "core/paths.hpp"
#include "probes/report.hpp"

namespace pb::vault {
class Vault;
}

namespace pb::broker {
class DockerClient;
}

namespace pb::broker::dispatch {

/// Where the volume is mounted in every session's container. Fixed, not
/// derived from the image: nothing the image says (HOME, /etc/passwd) reaches
/// the mount spec. Volumes made before carry their own target in a label.
inline constexpr const char* k_mount_target = "/para-broker";
/// <cfg> below the mount point: the session's hold volume is mounted there
/// (in volumes of earlier releases, a directory of the shared volume).
inline constexpr const char* k_config_subdir = "claude";
/// Where the login volume keeps the login: CLAUDE_SECURESTORAGE_CONFIG_DIR
/// points here, and <cfg>/.credentials.json links here.
inline constexpr const char* k_login_subdir = "login";

/// Session names are para's: 1-128 bytes of UTF-8 letters and digits of any
/// script, `-`, `_` (and `.`, which earlier releases took). Labels and reports
/// keep the name as it is; Docker object names use session_key().
bool is_valid_session(std::string_view session);
/// is_valid_session() as a usage error that says what a session name may hold.
Status check_session(std::string_view session);
/// The Docker-safe form of a valid session name, for volume names: the name
/// itself when it is 1-64 of [A-Za-z0-9_.-] with an alphanumeric first (every
/// name earlier releases took, so live sessions keep their volumes); else its
/// ASCII letters, digits, `-` and `_` (at most 40) and 16 hex digits of the
/// name's SHA-256, e.g. "caf-3f0c…" for "café".
std::string session_key(std::string_view session);
/// The login volume of a credential for the runtime owner uid:gid.
std::string login_volume_name(const std::string& credential_id, std::uint32_t uid, std::uint32_t gid);
/// What the login volume of a credential and owner was named before the lock
/// volume (mounted at /para-broker, the login at login/).
std::string legacy_login_volume_name(const std::string& credential_id, std::uint32_t uid, std::uint32_t gid);
/// The lock volume of a credential, shared by every user's sessions.
std::string lock_volume_name(const std::string& credential_id);
/// Whether a login volume is laid out beside a lock volume (named by
/// login_volume_name()), not as in earlier releases.
bool is_beside_lock(const std::string& login_volume);
std::string hold_volume_name(const std::string& session);
/// The keeper container of a volume, `pb-keeper-<name without para-broker->`:
/// no container para-broker creates is named `para-…`, since para counts
/// those against its limit and removes the ones that are not its sessions.
std::string keeper_name(const std::string& volume);
/// What keepers were named before (`<volume>-keeper`): one still found is
/// retired by the next release, sync or gc, and made again under keeper_name().
std::string legacy_keeper_name(const std::string& volume);

struct MountRequest {
  std::string image;
  std::string session;
  std::optional<std::string> credential;  ///< name or id; default: the only one in the vault
  /// The image's probe when the caller has started it already (`mount` runs it
  /// beside the vault's unlocking); empty: mount() probes.
  std::function<Result<probes::ProbeReport>()> probe;
};

struct MountResult {
  std::string session;
  std::string image_id;
  std::string volume;  ///< the login volume (shared by the credential's sessions of one owner)
  std::string lock;    ///< the lock volume (shared by all the credential's sessions); "" for a legacy login volume
  std::string hold;    ///< the session's own volume, its <cfg>
  std::string credential_name;
  std::string credential_id;
  std::string target;      ///< where the session's volumes are mounted (the lock volume, or a legacy login volume)
  std::string config_dir;  ///< CLAUDE_CONFIG_DIR in the container, where the hold is mounted
  std::string login_dir;   ///< CLAUDE_SECURESTORAGE_CONFIG_DIR in the container
  bool populated = false;  ///< this call filled the volume (first session)
  std::vector<std::string> notes;
  /// What the image sets (ENV, apiKeyHelper in its settings) that Claude Code
  /// prefers over the mounted login: the session would not use it.
  std::vector<probes::LoginOverride> conflicts;
};

/// The session container's volumes, as (volume, mount point): the lock
/// volume, the login volume and the session's config inside it (in this
/// order; a legacy login volume, then the config inside it).
std::vector<std::pair<std::string, std::string>> mounts_of(const MountResult& r);
/// The session container's environment: CLAUDE_CONFIG_DIR, and where 2.1
/// builds that know CLAUDE_SECURESTORAGE_CONFIG_DIR keep the login (older
/// builds follow <cfg>/.credentials.json's link there).
std::vector<std::pair<std::string, std::string>> env_of(const MountResult& r);

/// Prepares (or joins) the credential's login volume and the session's own
/// config volume (its hold). Re-mounting a session that holds the same login
/// volume again is a no-op (its config is seeded again if an interrupted mount
/// left it unfinished).
Result<MountResult> mount(DockerClient& docker, vault::Vault& vault, const Paths& paths, const MountRequest& request);

struct ReleaseResult {
  bool held = false;  ///< false: the session held nothing (already released)
  std::string volume;
  std::string credential_id;
  bool wrote_back = false;
  std::string refused;  ///< why the volume's login was refused (see writeback_rules.hpp); empty if it was not
  bool volume_removed = false;
  std::vector<std::string> notes;
};

/// Writes back (unless !write_back) and drops the session's hold; removes the
/// shared volume when no hold is left. Idempotent.
Result<ReleaseResult> release(DockerClient& docker, vault::Vault& vault, const std::string& session, bool write_back);

/// release() where there is no vault: success when the session holds
/// nothing; a hold (made with another vault) is not_found with a sentence
/// that names the vault directory `vault_home` it looked in.
Status check_not_held(DockerClient& docker, const std::string& session, const std::string& vault_home);

struct SyncResult {
  struct Volume {
    std::string name;
    std::string credential_id;
    bool wrote_back = false;  ///< its login was newer and went into the vault
    bool refreshed = false;   ///< it received a newer login from the vault
    std::string refused;      ///< why its login was refused (see writeback_rules.hpp); empty if it was not
  };
  std::vector<Volume> volumes;
  std::vector<std::string> notes;
};

/// Writes back from every live shared volume (or only `session`'s), then
/// brings the other live volumes of the same credentials up to the newest login.
Result<SyncResult> sync(DockerClient& docker, vault::Vault& vault, const std::optional<std::string>& session);

struct GcResult {
  std::vector<std::string> removed_holds;
  std::vector<std::string> removed_volumes;
  std::vector<std::string> removed_helpers;
  std::vector<std::string> kept;     ///< "name: why"
  std::vector<std::string> refused;  ///< logins refused at write-back (the volumes went all the same)
  std::vector<std::string> notes;    ///< what else a write-back had to say
};

/// Removes holds whose session container is gone (and no container mounts
/// their volume) and that were mounted at least `grace_seconds` ago, shared
/// volumes no hold and no container uses (written back first), and keepers
/// whose volume is gone or unheld; and what a killed probe, import or login
/// left (their containers, a login's staging volume) once older than the grace.
Result<GcResult> gc(DockerClient& docker, vault::Vault& vault,
                    long long grace_seconds = labels::k_default_grace_seconds);

/// The part of gc() that needs no vault: what a killed probe, import or login
/// left (a machine where no credential was ever stored can have those too).
Result<GcResult> gc_leftovers(DockerClient& docker, long long grace_seconds = labels::k_default_grace_seconds);

}  // namespace pb::broker::dispatch
