#pragma once
// What the commands of dispatch.hpp (mount, release, sync, gc) share, one
// section per concept, each naming the file that holds it. Internal to
// broker/dispatch and its tests: no other folder includes it (Layering.*).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "broker/dispatch/relay_container.hpp"
#include "broker/dispatch/seed_cache.hpp"
#include "broker/dispatch/volume_tar.hpp"
#include "broker/docker/docker_client.hpp"
#include "broker/objects/labels.hpp"
#include "core/error.hpp"
#include "core/files.hpp"
#include "core/secure_buffer.hpp"
#include "vault/capture.hpp"

namespace pb::vault {
class Vault;
struct AccessInfo;
struct DecodedEntry;
struct EntryMeta;
struct LogRecord;
}  // namespace pb::vault

namespace pb::broker::dispatch::detail {

// ---- common: bounds, file names, the clock, label filters

/// The bound every reader of a login keeps (vault/capture.hpp).
inline constexpr std::uint64_t k_max_credentials = vault::k_max_credentials_json;
inline constexpr std::uint64_t k_max_image_claude_json = 4u << 20;
inline constexpr std::uint64_t k_max_volume_claude_json = 32u << 20;

inline const std::string k_credentials_name = ".credentials.json";
inline const std::string k_claude_json_name = ".claude.json";

inline long long unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

inline long long unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

using labels::label_of;

inline std::string eq(const char* key, const std::string& value) {
  return std::string(key) + "=" + value;
}

inline LabelFilters with(LabelFilters f, const char* key, const std::string& value) {
  f.push_back(eq(key, value));
  return f;
}

/// The access log's record of `op` on a credential (log_record.cpp): its id,
/// name and fingerprint, the session and image that asked, result "ok".
vault::LogRecord log_record(const std::string& op, const vault::EntryMeta& meta, const vault::AccessInfo& access);

// ---- layout (layout.cpp): where a session's volumes are mounted, as their labels say

/// The mount point a shared volume's label names (volumes made before the
/// target was fixed say where their keeper mounts them); refused unless clean.
Result<std::string> volume_target(const VolumeInfo& vol);
/// A uid or gid label of a shared volume: digits only, in range; never a
/// default (a label that is not a number must not make the files root's).
Result<std::uint32_t> label_id(const VolumeInfo& vol, const char* key);
/// The login-dir label of a login volume beside a lock volume: the login is at its root.
inline constexpr const char* k_login_at_root = ".";
/// Where a shared volume keeps the login below its mount point: its root in
/// a login volume beside a lock volume, login/ in a login volume of the
/// release before, claude/ (the whole <cfg>) in a volume of an earlier one.
Result<std::string> login_subdir(const VolumeInfo& vol);
/// The directory of the login in a container that mounts the volume at `target`.
std::string login_path(const std::string& target, const std::string& subdir);
/// Where a login volume beside a lock volume is mounted.
std::string login_target();
/// The <cfg> every session sees: the hold is mounted there.
std::string session_config_dir();
/// Whether a hold is the session's own <cfg> (this release) or an empty
/// marker (earlier releases); a config label naming another place is refused.
Result<bool> is_config_hold(const VolumeInfo& hold);

// ---- locks (locks.cpp): the host's lock of a credential, and its lock volume

/// Protects: the holds and shared volumes of one credential (create, populate,
/// write back, remove), across processes.
Result<FileLock> lock_credential(const vault::Vault& v, const std::string& credential_id);
/// The labels of a lock volume (given to Docker when a keeper's creation makes it).
Labels lock_labels(const std::string& cred);
/// Removes the lock volume of `cred` once no login volume beside it is left
/// in `logins` (but `except`, just removed); one a container still mounts stays for gc.
/// true when it was removed by this call.
Result<bool> remove_lock_if_unused(DockerClient& docker, const std::vector<VolumeInfo>& logins, const std::string& cred,
                                   const std::string& except);

// ---- keepers (keepers.cpp): the containers whose archive API reads and writes volumes

/// One volume a keeper attaches: where, and the labels Docker gives it if the
/// keeper's creation creates it.
struct KeeperMount {
  std::string volume;
  std::string target;
  Labels new_labels;
};

/// The keeper of a volume: a container created (never started, no network)
/// from the volume's image with the volume attached (a session's keeper: its
/// login volume and its hold, as the session sees them), whose archive API
/// reads and writes it. It lives as long as the volume, so joining, release
/// and sync create no container for it. Found again by name; a name taken by
/// anything else is refused. `volume` names the keeper; `mounts` are what it attaches.
Result<std::string> keeper_for(DockerClient& docker, const std::string& image, const std::string& volume,
                               const std::vector<KeeperMount>& mounts, const std::string& credential_id,
                               bool likely_exists = true);
Result<std::string> keeper_for(DockerClient& docker, const std::string& image, const std::string& volume,
                               const std::string& target, const std::string& credential_id, bool likely_exists = true,
                               const Labels& new_volume_labels = {});
/// Removes a volume's keeper, under its old name when it was made before the rename (absent is fine).
Status remove_keeper(DockerClient& docker, const std::string& volume);
/// What a session's keeper attaches: the session's volumes where the session
/// has them (a login volume beside a lock volume: the lock volume too).
std::vector<KeeperMount> session_mounts(const std::string& cred, const std::string& login, const std::string& hold);
/// The keeper of a session: its login volume and its hold, attached where the
/// session has them (made again from the hold's image when it was removed).
Result<std::string> session_keeper(DockerClient& docker, const VolumeInfo& hold);
/// The keeper of one of `holds` that exists and is complete (its config
/// seeded), without making any; "" when there is none.
Result<std::string> existing_session_keeper(DockerClient& docker, const std::vector<const VolumeInfo*>& holds);
/// Removes a session's keeper and its hold (absent is fine). A hold that a
/// container still mounts is kept: false, and `gc` removes it later.
Result<bool> remove_hold(DockerClient& docker, const std::string& hold);

// ---- volume I/O (volume_io.cpp): trees and files through a container's archive API, a volume's login

/// A directory tree from a container; empty when the path does not exist or is not a directory.
Result<std::vector<TreeEntry>> get_tree(DockerClient& docker, const std::string& id, const std::string& path,
                                        const TreeLimits& limits, const std::string& what, bool* absent = nullptr);
/// One regular file from a container; nullopt when absent or not a regular file.
Result<std::optional<SecureBytes>> get_file(DockerClient& docker, const std::string& id, const std::string& path,
                                            std::uint64_t max_size, const std::string& what, bool* absent = nullptr);
Status put_tree(DockerClient& docker, const std::string& helper, const std::string& parent, const std::string& root,
                const std::vector<TreeEntry>& tree, std::uint32_t uid, std::uint32_t gid, std::uint32_t root_mode = 0);
/// Renders `tree` as the whole content of the volume mounted at `target`: the
/// archive is extracted into target's parent with target's own directory as
/// its root entry, so that the volume root gets the owner and mode too.
Status put_volume(DockerClient& docker, const std::string& helper, const std::string& target,
                  const std::vector<TreeEntry>& tree, std::uint32_t uid, std::uint32_t gid,
                  std::uint32_t root_mode = 0);

/// The login state inside a shared volume.
struct VolumeLogin {
  std::optional<SecureBytes> credentials;
  std::optional<SecureBytes> claude_json;  ///< nullopt when absent or too large to bring back
  std::optional<std::int64_t> expires_at;  ///< as the volume claims it (judged by judge_writeback)
  /// No session is left whose .claude.json could show the account (a login
  /// volume whose holds are gone): a newer login is kept out, without blame.
  bool no_account_source = false;
};

/// Where a volume's login is read: the credentials file in `login_dir` of
/// container `keeper`, and the .claude.json beside the session's <cfg>
/// (`cfg` in container `cfg_keeper`; none when `cfg_keeper` is empty).
struct LoginPlace {
  std::string keeper;
  std::string login_dir;
  std::string cfg_keeper;
  std::string cfg;
};

/// Reads a volume's login; its .claude.json (for the account) only when the
/// credentials claim to be newer than `stored_expiry` (each archive read costs
/// Docker a process of its own, and a login that is not newer is not written
/// back anyway).
Result<VolumeLogin> read_volume_login(DockerClient& docker, const LoginPlace& at, const std::string& volume,
                                      std::optional<std::int64_t> stored_expiry);

// ---- a session's config (session_config.cpp): the image's seed and the login merged in

/// Whether a seed read from `s` may be cached as the image's alone.
bool cacheable(const SeedSource& s);
/// The image's part of a session's config, read through `helper` (a container of the image).
Result<ImageSeed> read_image_seed(DockerClient& docker, const std::string& helper, const SeedSource& source);
/// A session's <cfg>, relative to it: the image's own config dir (minus login
/// and lock files), the image's .claude.json with the login keys merged in,
/// and .credentials.json as a link to the login volume's (none for an API-key login).
Result<std::vector<TreeEntry>> compose_tree(const ImageSeed& image, const vault::DecodedEntry& entry,
                                            std::vector<std::string>& notes);

// ---- write-back (write_back.cpp): a volume's login into the vault, as writeback_rules.hpp judges it

/// The vault's expiry for a credential as write-back compares it.
std::optional<std::int64_t> stored_expiry(const vault::Vault& v, const std::string& credential_id);

/// What a write-back did.
struct WriteBack {
  bool wrote = false;
  std::string refused;  ///< why the volume's login was refused (recorded in the access log); empty if not
  std::string note;
};

/// Logins refused at write-back, remembered per credential (beside its host
/// lock, as HMACs of their refresh tokens under a key of the vault's, never the
/// tokens): a refused login that reached other volumes (the shared file of a
/// user, the relay between users) is refused there too, also once the
/// session that showed it for what it is was released. Read and written under
/// the credential's lock; the newest 64 are kept.
class RefusedLogins {
 public:
  RefusedLogins(const vault::Vault& v, const std::string& credential_id);

  /// The tag of a login: HMAC-SHA-256 of its refresh token (else its access token), 32 hex digits.
  std::optional<std::string> tag(const SecureBytes& credentials) const;
  bool contains(const std::string& tag) const;
  void add(const std::string& tag) const;

 private:
  std::vector<std::string> read() const;
  std::filesystem::path m_file;
  const vault::Vault& m_vault;
};

/// Stores a volume's login in the vault when judge_writeback() accepts it as
/// a newer login of the same account, and no other session of the credential
/// objects (with `docker`); a refusal is logged and reported, and the vault
/// keeps its login.
Result<WriteBack> write_back(vault::Vault& v, const std::string& credential_id, const VolumeLogin& login,
                             const std::string& volume, const vault::AccessInfo& access, DockerClient* docker,
                             const std::string& login_volume);
/// Writes back from one shared volume, described by its labels; `hold`, when
/// given, is a session of it whose .claude.json shows the account.
Result<WriteBack> write_back_volume(DockerClient& docker, vault::Vault& v, const VolumeInfo& vol,
                                    const vault::AccessInfo& access, const VolumeInfo* hold = nullptr);
/// A session whose Claude Code replaced the link <cfg>/.credentials.json with
/// a file of its own (a build that writes by rename without following links)
/// keeps its refreshed login there: written back like any other.
Result<WriteBack> write_back_detached(DockerClient& docker, vault::Vault& v, const VolumeInfo& hold,
                                      const vault::AccessInfo& access, const std::string& keeper = {});
/// write_back_detached() for a hold whose login volume may be gone: then only
/// through a keeper that exists, since making one would make Docker create
/// the login volume again, empty and unlabelled.
Result<WriteBack> write_back_own(DockerClient& docker, vault::Vault& v, const VolumeInfo& hold,
                                 const vault::AccessInfo& access, bool login_volume_exists);

// ---- the relay (relay_container.cpp): which login volumes it serves

/// The login volumes beside a lock volume of `cred` in `logins` that a hold
/// in `holds` names (or that `also` names: volumes a container still uses),
/// but `except`: what its relay must serve.
std::vector<RelayMember> relay_members(const std::vector<VolumeInfo>& logins, const std::vector<VolumeInfo>& holds,
                                       const std::string& cred, const std::string& except = {},
                                       const std::set<std::string>& also = {});

}  // namespace pb::broker::dispatch::detail
