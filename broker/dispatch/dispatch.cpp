#include "broker/dispatch/dispatch.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "broker/dispatch/json_object.hpp"
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
#include "core/names.hpp"
#include "core/text.hpp"
#include "probes/cache.hpp"
#include "probes/version.hpp"
#include "vault/capture.hpp"
#include "vault/crypto.hpp"
#include "vault/json_wipe.hpp"
#include "vault/vault.hpp"

namespace fs = std::filesystem;

namespace pb::broker::dispatch {
namespace {

/// The bound every reader of a login keeps (vault/capture.hpp).
constexpr std::uint64_t k_max_credentials = vault::k_max_credentials_json;
constexpr std::uint64_t k_max_image_claude_json = 4u << 20;
constexpr std::uint64_t k_max_volume_claude_json = 32u << 20;

const std::string k_credentials_name = ".credentials.json";
const std::string k_claude_json_name = ".claude.json";

long long unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

using labels::label_of;

std::string eq(const char* key, const std::string& value) {
  return std::string(key) + "=" + value;
}

LabelFilters with(LabelFilters f, const char* key, const std::string& value) {
  f.push_back(eq(key, value));
  return f;
}

SecureBytes dump(const nlohmann::json& j) {
  std::string text = j.dump(2);
  SecureBytes out(text.begin(), text.end());
  secure_wipe(text.data(), text.size());
  return out;
}

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
                               bool likely_exists = true) {
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
                               const std::string& target, const std::string& credential_id, bool likely_exists = true,
                               const Labels& new_volume_labels = {}) {
  return keeper_for(docker, image, volume, {{volume, target, new_volume_labels}}, credential_id, likely_exists);
}

/// Removes a volume's keeper, under its old name when it was made before the rename (absent is fine).
Status remove_keeper(DockerClient& docker, const std::string& volume) {
  auto s = docker.container_remove(keeper_name(volume), true, false);
  if (!s && s.error().kind == ErrorKind::not_found) return retire_legacy_keeper(docker, volume);
  if (!s) return s;
  return {};
}

/// A directory tree from a container; empty when the path does not exist or is not a directory.
Result<std::vector<TreeEntry>> get_tree(DockerClient& docker, const std::string& id, const std::string& path,
                                        const TreeLimits& limits, const std::string& what, bool* absent = nullptr) {
  auto dl = docker.archive_get(id, path);
  if (!dl) {
    if (dl.error().kind == ErrorKind::not_found) {
      if (absent != nullptr) *absent = true;
      return std::vector<TreeEntry>{};
    }
    return std::move(dl).error();
  }
  if (!dl->stat.is_dir()) return std::vector<TreeEntry>{};
  PB_TRY(std::vector<TreeEntry> raw, read_tree(*dl->body, limits, what));
  // Entries come as "<basename>/…": strip the directory's own name.
  std::vector<TreeEntry> out;
  for (auto& e : raw) {
    auto slash = e.name.find('/');
    if (slash == std::string::npos) continue;
    e.name = e.name.substr(slash + 1);
    out.push_back(std::move(e));
  }
  return out;
}

/// One regular file from a container; nullopt when absent or not a regular file.
Result<std::optional<SecureBytes>> get_file(DockerClient& docker, const std::string& id, const std::string& path,
                                            std::uint64_t max_size, const std::string& what, bool* absent = nullptr) {
  auto dl = docker.archive_get(id, path);
  if (!dl) {
    if (dl.error().kind == ErrorKind::not_found) {
      if (absent != nullptr) *absent = true;
      return std::optional<SecureBytes>{};
    }
    return std::move(dl).error();
  }
  if (dl->stat.is_dir() || dl->stat.is_symlink()) return std::optional<SecureBytes>{};
  TreeLimits limits{4, max_size, max_size};
  PB_TRY(std::vector<TreeEntry> entries, read_tree(*dl->body, limits, what));
  for (auto& e : entries)
    if (!e.is_dir && e.name.find('/') == std::string::npos) return std::optional<SecureBytes>(std::move(e.data));
  return std::optional<SecureBytes>{};
}

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

/// How long a read that found a login file half-written waits before it reads again.
constexpr std::chrono::milliseconds k_torn_read_retry{100};

/// Reads a volume's login; its .claude.json (for the account) only when the
/// credentials claim to be newer than `stored_expiry` (each archive read costs
/// Docker a process of its own, and a login that is not newer is not written
/// back anyway).
Result<VolumeLogin> read_volume_login(DockerClient& docker, const LoginPlace& at, const std::string& volume,
                                      std::optional<std::int64_t> stored_expiry) {
  VolumeLogin l;
  l.no_account_source = at.cfg_keeper.empty();
  const std::string file = at.login_dir + "/" + k_credentials_name;
  const std::string what = "the credentials file in volume " + volume;
  PB_TRY(l.credentials, get_file(docker, at.keeper, file, k_max_credentials, what));
  if (!l.credentials) return l;
  l.expires_at = claimed_expiry(*l.credentials);
  if (!l.expires_at) {
    // Claude Code up to 2.1.112 rewrites the file in place (truncate, then
    // write): a read in between finds it empty or cut short. Once more, a
    // moment later, before the bytes are judged.
    std::this_thread::sleep_for(k_torn_read_retry);
    PB_TRY(l.credentials, get_file(docker, at.keeper, file, k_max_credentials, what));
    if (!l.credentials) return l;
    l.expires_at = claimed_expiry(*l.credentials);
  }
  if (!l.expires_at || (stored_expiry && *l.expires_at <= *stored_expiry) || at.cfg_keeper.empty()) return l;
  auto cj = get_file(docker, at.cfg_keeper, at.cfg + "/" + k_claude_json_name, k_max_volume_claude_json,
                     ".claude.json in volume " + volume);
  if (cj) l.claude_json = std::move(*cj);  // too large or odd: the account cannot be shown
  return l;
}

long long unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// The vault's expiry for a credential as write-back compares it.
std::optional<std::int64_t> stored_expiry(const vault::Vault& v, const std::string& credential_id) {
  auto meta = v.find(credential_id);
  return meta ? believable_expiry(meta->expires_at, unix_now_ms()) : std::nullopt;
}

/// What a write-back did.
struct WriteBack {
  bool wrote = false;
  std::string refused;  ///< why the volume's login was refused (recorded in the access log); empty if not
  std::string note;
};

Result<std::string> existing_session_keeper(DockerClient& docker, const std::vector<const VolumeInfo*>& holds);
std::string session_config_dir();

/// Logins refused at write-back, remembered per credential (beside its host
/// lock, as HMACs of their refresh tokens under a key of the vault's, never the
/// tokens): a refused login that reached other volumes (the shared file of a
/// user, the relay between users) is refused there too, also once the
/// session that showed it for what it is was released. Read and written under
/// the credential's lock; the newest 64 are kept.
class RefusedLogins {
 public:
  RefusedLogins(const vault::Vault& v, const std::string& credential_id)
      : m_file(v.options().home / "locks" / (credential_id + ".refused")), m_vault(v) {}

  /// The tag of a login: HMAC-SHA-256 of its refresh token (else its access token), 32 hex digits.
  std::optional<std::string> tag(const SecureBytes& credentials) const {
    auto j = parse_json_object(ByteSpan(credentials), "a login");
    if (!j) return std::nullopt;
    vault::JsonWiper w{*j};
    auto o = j->find("claudeAiOauth");
    if (o == j->end() || !o->is_object()) return std::nullopt;
    std::string token;
    for (const char* k : {"refreshToken", "accessToken"})
      if (auto t = o->find(k); token.empty() && t != o->end() && t->is_string()) token = t->get<std::string>();
    if (token.empty()) return std::nullopt;
    auto key = m_vault.derive_key("refused logins v1");
    if (!key) return std::nullopt;
    const auto mac = vault::hmac_sha256(ByteSpan(*key), as_bytes(token));
    secure_wipe(token.data(), token.size());
    return vault::to_hex(ByteSpan(mac.data(), mac.size())).substr(0, 32);
  }
  bool contains(const std::string& tag) const {
    for (const auto& t : read())
      if (t == tag) return true;
    return false;
  }
  void add(const std::string& tag) const {
    auto tags = read();
    if (std::find(tags.begin(), tags.end(), tag) != tags.end()) return;
    tags.push_back(tag);
    if (tags.size() > 64) tags.erase(tags.begin(), tags.end() - 64);
    std::string text;
    for (const auto& t : tags) text += t + "\n";
    (void)write_file_atomic(m_file, as_bytes(text));
  }

 private:
  std::vector<std::string> read() const {
    std::vector<std::string> out;
    auto bytes = read_file(m_file, 64 * 40);
    if (!bytes) return out;
    std::string line;
    for (auto b : *bytes) {
      const char c = static_cast<char>(b);
      if (c != '\n') {
        line += c;
        continue;
      }
      if (line.size() == 32 && std::all_of(line.begin(), line.end(), [](char x) { return std::isxdigit(x) != 0; }))
        out.push_back(line);
      line.clear();
    }
    return out;
  }
  std::filesystem::path m_file;
  const vault::Vault& m_vault;
};

/// A login one user's session writes reaches the other users' login volumes
/// through the relay, and a write-back may read it through any of them: so a
/// newer login from a login volume beside the lock volume is taken only when
/// no session of another user's login volume shows another account, or
/// none, in its .claude.json (read through session keepers that exist; one
/// that cannot be read or does not parse tells nothing). The sessions of
/// `login_volume` itself are the ones judge_writeback() read. Empty, or why not.
Result<std::string> another_session_objects(DockerClient& docker, const vault::EntryMeta& meta,
                                            const std::string& login_volume) {
  if (!is_beside_lock(login_volume)) return std::string();  // no relay reaches it
  PB_TRY(std::vector<VolumeInfo> holds,
         docker.volume_list(with(labels::filter(Role::hold), labels::k_credential, meta.id)));
  for (const auto& h : holds) {
    const std::string held = label_of(h.labels, labels::k_volume);
    if (held == login_volume || !is_beside_lock(held)) continue;
    PB_TRY(std::string keeper, existing_session_keeper(docker, {&h}));
    if (keeper.empty()) continue;
    auto cj = get_file(docker, keeper, session_config_dir() + "/" + k_claude_json_name, k_max_volume_claude_json,
                       ".claude.json in volume " + h.name);
    if (!cj || !*cj) continue;
    if (auto why = other_account_shown(meta, &**cj); !why.empty())
      return "session '" + printable(label_of(h.labels, labels::k_session), 140) +
             "' of this credential shows another account (" + why +
             "), and every session of a credential uses one "
             "login";
  }
  return std::string();
}

/// Stores a volume's login in the vault when judge_writeback() accepts it as
/// a newer login of the same account, and no other session of the credential
/// objects (with `docker`); a refusal is logged and reported, and the vault
/// keeps its login.
Result<WriteBack> write_back(vault::Vault& v, const std::string& credential_id, const VolumeLogin& login,
                             const std::string& volume, const vault::AccessInfo& access, DockerClient* docker,
                             const std::string& login_volume) {
  WriteBack out;
  if (!login.credentials) return out;
  PB_TRY(vault::DecodedEntry entry, v.read(credential_id));
  const SecureBytes* claude_json = login.claude_json ? &*login.claude_json : nullptr;
  WritebackDecision d = judge_writeback(entry, ByteSpan(*login.credentials), claude_json, unix_now_ms());
  if (d.verdict == WritebackDecision::Verdict::not_newer) {
    // Another login than the vault's that loses to it: worth a record, since a
    // genuine refresh of another image's session may be the one that lost.
    if (d.differs)
      PB_TRY_STATUS(v.log({"writeback", entry.meta.id, entry.meta.name, access.session, access.image,
                           "kept-newer-stored", entry.meta.fingerprint,
                           "the login in volume " + volume + " expires no later than the stored one", 0}));
    return out;
  }
  if (d.verdict == WritebackDecision::Verdict::refuse && d.account_unshown && login.no_account_source) {
    // Not a hostile volume: its sessions are gone (a release that did not write
    // back, then was interrupted), and with them what showed the account.
    out.note = "the newer login left in volume " + volume +
               " was not written back: no session is left to show its account; the vault keeps its login";
    PB_TRY_STATUS(
        v.log({"writeback", entry.meta.id, entry.meta.name, access.session, access.image, "kept-stored",
               entry.meta.fingerprint, "no session of volume " + volume + " is left to show the account", 0}));
    return out;
  }
  const RefusedLogins refused_logins(v, credential_id);
  const auto tag = refused_logins.tag(*login.credentials);
  if (d.verdict == WritebackDecision::Verdict::refuse) {
    // Remembered when the login itself was judged (another account, a far
    // expiry, foreign keys), not when only its account could not be shown
    // (a .claude.json read while being rewritten must not bar a genuine refresh).
    if (tag && !d.account_unshown) refused_logins.add(*tag);
    out.refused =
        "the login in volume " + volume + " was not written back: " + d.reason + "; the vault keeps its login";
    PB_TRY_STATUS(v.log({"writeback", entry.meta.id, entry.meta.name, access.session, access.image, "refused",
                         entry.meta.fingerprint, d.reason, 0}));
    return out;
  }
  std::string objection;
  if (tag && refused_logins.contains(*tag))
    objection = "it is a login refused before, in this or another volume of the credential";
  if (objection.empty() && docker != nullptr) {
    PB_TRY(objection, another_session_objects(*docker, entry.meta, login_volume));
  }
  if (!objection.empty()) {
    if (tag) refused_logins.add(*tag);
    out.refused =
        "the login in volume " + volume + " was not written back: " + objection + "; the vault keeps its login";
    PB_TRY_STATUS(v.log({"writeback", entry.meta.id, entry.meta.name, access.session, access.image, "refused",
                         entry.meta.fingerprint, objection, 0}));
    return out;
  }
  vault::Capture c;
  c.credentials_json = std::move(d.credentials);
  c.source = "volume:" + volume;
  for (auto& f : entry.files)
    if (f.name == vault::k_claude_json_file) c.claude_json = std::move(f.data);
  PB_TRY(vault::CaptureOutcome o, v.update(credential_id, c, access, "writeback"));
  out.wrote = o.action != vault::CaptureOutcome::Action::kept_stored;
  out.note = std::move(d.note);
  return out;
}

/// Protects: the holds and shared volumes of one credential (create, populate,
/// write back, remove), across processes.
Result<FileLock> lock_credential(const vault::Vault& v, const std::string& credential_id) {
  const fs::path dir = v.options().home / "locks";
  PB_TRY_STATUS(ensure_private_dir(dir, "vault lock directory"));
  return FileLock::acquire(dir / (credential_id + ".lock"), FileLock::Mode::exclusive);
}

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

/// Whether what is read at `path` through a session's keeper is the image's
/// alone: the keeper attaches the session's volumes at k_mount_target, so a
/// path at, below or above it reads volumes (a session's own config among
/// them), which must never be cached as the image's and handed to another session.
bool reads_the_image_alone(const std::string& path) {
  const std::string target = k_mount_target;
  return path != "/" && path != target && !path.starts_with(target + "/") && !target.starts_with(path + "/");
}

bool cacheable(const SeedSource& s) {
  return (!s.read_config_dir || reads_the_image_alone(s.config_dir)) &&
         (!s.read_global_config || reads_the_image_alone(s.global_config));
}

/// The image's part of a session's config, read through `helper` (a container of the image).
Result<ImageSeed> read_image_seed(DockerClient& docker, const std::string& helper, const SeedSource& source) {
  ImageSeed seed;
  std::vector<TreeEntry> raw;
  if (source.read_config_dir) {
    PB_TRY(raw, get_tree(docker, helper, source.config_dir, TreeLimits{},
                         "the image's config directory " + source.config_dir));
  }
  for (auto& e : raw) {
    if (e.name == k_claude_json_name) {
      if (!e.is_dir && source.global_config == source.config_dir + "/" + k_claude_json_name)
        seed.claude_json = std::move(e.data);
      continue;
    }
    // Login state comes from the vault, locks belong to the running Claude, and
    // a legacy .config.json would shadow the merged .claude.json.
    if (!belongs_in_seed(e.name)) continue;
    seed.config.push_back({e.name, e.is_dir, std::move(e.data), {}});
  }
  if (source.read_global_config) {
    PB_TRY(seed.claude_json, get_file(docker, helper, source.global_config, k_max_image_claude_json,
                                      "the image's " + source.global_config));
  }
  return seed;
}

/// A session's <cfg>, relative to it: the image's own config dir (minus login
/// and lock files), the image's .claude.json with the login keys merged in,
/// and .credentials.json as a link to the login volume's (none for an API-key login).
Result<std::vector<TreeEntry>> compose_tree(const ImageSeed& image, const vault::DecodedEntry& entry,
                                            std::vector<std::string>& notes) {
  std::vector<TreeEntry> tree = image.config;
  const SecureBytes* vault_credentials = nullptr;
  const SecureBytes* vault_claude_json = nullptr;
  for (const auto& f : entry.files) {
    if (f.name == vault::k_credentials_file) vault_credentials = &f.data;
    if (f.name == vault::k_claude_json_file) vault_claude_json = &f.data;
  }
  nlohmann::json merged = nlohmann::json::object();
  vault::JsonWiper wipe_merged{merged};
  if (image.claude_json && !image.claude_json->empty()) {
    PB_TRY(merged, parse_json_object(*image.claude_json, "the image's .claude.json"));
  }
  if (vault_claude_json != nullptr && !vault_claude_json->empty()) {
    PB_TRY(nlohmann::json login, parse_json_object(*vault_claude_json, "the stored .claude.json"));
    vault::JsonWiper wipe_login{login};
    for (auto& [key, value] : login.items()) merged[key] = value;
  }
  if (!merged.contains("hasCompletedOnboarding")) merged["hasCompletedOnboarding"] = true;
  if (vault_credentials != nullptr) {
    // <cfg> and the login volume's login/ are siblings below the mount point.
    tree.push_back({k_credentials_name, false, {}, std::string("../") + k_login_subdir + "/" + k_credentials_name});
  } else {
    notes.push_back("the credential has no credentials file (API-key login): only .claude.json was placed");
  }
  // Last: a config with its .claude.json is complete (a re-mount checks for it).
  tree.push_back({k_claude_json_name, false, dump(merged), {}});
  return tree;
}

Status put_tree(DockerClient& docker, const std::string& helper, const std::string& parent, const std::string& root,
                const std::vector<TreeEntry>& tree, std::uint32_t uid, std::uint32_t gid, std::uint32_t root_mode = 0) {
  PB_TRY(SecureBytes tar, render_tree(root, tree, uid, gid, root_mode));
  PB_TRY(std::unique_ptr<ByteWriter> w, docker.archive_put(helper, parent));
  PB_TRY_STATUS(w->write(std::as_bytes(std::span(tar.data(), tar.size()))));
  return w->finish();
}

/// Renders `tree` as the whole content of the volume mounted at `target`: the
/// archive is extracted into target's parent with target's own directory as
/// its root entry, so that the volume root gets the owner and mode too.
Status put_volume(DockerClient& docker, const std::string& helper, const std::string& target,
                  const std::vector<TreeEntry>& tree, std::uint32_t uid, std::uint32_t gid,
                  std::uint32_t root_mode = 0) {
  auto slash = target.find_last_of('/');
  const std::string parent = slash == 0 || slash == std::string::npos ? "/" : target.substr(0, slash);
  return put_tree(docker, helper, parent, target.substr(slash + 1), tree, uid, gid, root_mode);
}

/// The mount point a shared volume's label names (volumes made before the
/// target was fixed say where their keeper mounts them); refused unless clean.
Result<std::string> volume_target(const VolumeInfo& vol) {
  std::string target = label_of(vol.labels, labels::k_target);
  if (target.empty())
    return fail(ErrorKind::integrity, "volume " + vol.name + " lacks the para-broker labels that say what it holds");
  PB_TRY_STATUS(check_clean_absolute_path(target, "the target label of volume " + vol.name));
  if (target == "/") return fail(ErrorKind::unsafe_input, "the target label of volume " + vol.name + " is '/'");
  return target;
}

/// A uid or gid label of a shared volume: digits only, in range; never a
/// default (a label that is not a number must not make the files root's).
Result<std::uint32_t> label_id(const VolumeInfo& vol, const char* key) {
  const std::string s = label_of(vol.labels, key);
  std::uint32_t id = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size())
    return fail(ErrorKind::integrity, "volume " + vol.name + " has a " + key + " label that is not a number");
  return id;
}

/// The login-dir label of a login volume beside a lock volume: the login is at its root.
constexpr const char* k_login_at_root = ".";

/// Where a shared volume keeps the login below its mount point: its root in
/// a login volume beside a lock volume, login/ in a login volume of the
/// release before, claude/ (the whole <cfg>) in a volume of an earlier one.
Result<std::string> login_subdir(const VolumeInfo& vol) {
  const std::string dir = label_of(vol.labels, labels::k_login_dir);
  if (dir.empty()) return std::string(k_config_subdir);
  if (dir != k_login_subdir && dir != k_login_at_root)
    return fail(ErrorKind::integrity, "volume " + vol.name + " has a login-dir label para-broker does not know");
  if ((dir == k_login_at_root) != is_beside_lock(vol.name))
    return fail(ErrorKind::integrity, "volume " + vol.name + " is not laid out as its name says; remove it");
  return dir;
}

/// The directory of the login in a container that mounts the volume at `target`.
std::string login_path(const std::string& target, const std::string& subdir) {
  return subdir == k_login_at_root ? target : target + "/" + subdir;
}

/// Where a login volume beside a lock volume is mounted.
std::string login_target() {
  return std::string(k_mount_target) + "/" + k_login_subdir;
}

/// The labels of a lock volume (given to Docker when a keeper's creation makes it).
Labels lock_labels(const std::string& cred) {
  Labels l = labels::managed(Role::lock);
  l[labels::k_credential] = cred;
  l[labels::k_target] = k_mount_target;
  return l;
}

/// The <cfg> every session sees: the hold is mounted there.
std::string session_config_dir() {
  return std::string(k_mount_target) + "/" + k_config_subdir;
}

/// What a session's keeper attaches: the session's volumes where the session
/// has them (a login volume beside a lock volume: the lock volume too).
std::vector<KeeperMount> session_mounts(const std::string& cred, const std::string& login, const std::string& hold) {
  if (!is_beside_lock(login)) return {{login, k_mount_target, {}}, {hold, session_config_dir(), {}}};
  return {{lock_volume_name(cred), k_mount_target, lock_labels(cred)},
          {login, login_target(), {}},
          {hold, session_config_dir(), {}}};
}

/// Whether a hold is the session's own <cfg> (this release) or an empty
/// marker (earlier releases); a config label naming another place is refused.
Result<bool> is_config_hold(const VolumeInfo& hold) {
  const std::string cfg = label_of(hold.labels, labels::k_config);
  if (cfg.empty()) return false;
  if (cfg != session_config_dir())
    return fail(ErrorKind::integrity, "hold " + hold.name + " has a config label para-broker does not know");
  return true;
}

/// The keeper of a session: its login volume and its hold, attached where the
/// session has them (made again from the hold's image when it was removed).
Result<std::string> session_keeper(DockerClient& docker, const VolumeInfo& hold) {
  const std::string image = label_of(hold.labels, labels::k_image);
  const std::string login = label_of(hold.labels, labels::k_volume);
  const std::string cred = label_of(hold.labels, labels::k_credential);
  if (image.empty() || login.empty() || cred.empty())
    return fail(ErrorKind::integrity, "hold " + hold.name + " lacks the para-broker labels that say what it holds");
  return keeper_for(docker, image, hold.name, session_mounts(cred, login, hold.name), cred);
}

/// The keeper of one of `holds` that exists and is complete (its config
/// seeded), without making any; "" when there is none.
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

/// Removes a session's keeper and its hold (absent is fine). A hold that a
/// container still mounts is kept: false, and `gc` removes it later.
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

/// Writes back from one shared volume, described by its labels; `hold`, when
/// given, is a session of it whose .claude.json shows the account.
Result<WriteBack> write_back_volume(DockerClient& docker, vault::Vault& v, const VolumeInfo& vol,
                                    const vault::AccessInfo& access, const VolumeInfo* hold = nullptr) {
  const std::string cred = label_of(vol.labels, labels::k_credential);
  const std::string image = label_of(vol.labels, labels::k_image);
  if (cred.empty() || image.empty())
    return fail(ErrorKind::integrity, "volume " + vol.name + " lacks the para-broker labels that say what it holds");
  PB_TRY(std::string target, volume_target(vol));
  PB_TRY(std::string subdir, login_subdir(vol));
  LoginPlace at;
  auto keeper = keeper_for(docker, image, vol.name, target, cred);
  if (!keeper && keeper.error().kind == ErrorKind::not_found && hold != nullptr &&
      !label_of(hold->labels, labels::k_image).empty()) {
    // The image that made the login volume is gone: a session's image runs as
    // the same user (that is what put it in this volume) and serves as well.
    keeper = keeper_for(docker, label_of(hold->labels, labels::k_image), vol.name, target, cred);
  }
  if (!keeper) return std::move(keeper).error();
  at.keeper = std::move(*keeper);
  at.login_dir = login_path(target, subdir);
  if (subdir == k_config_subdir) {
    at.cfg_keeper = at.keeper;
    at.cfg = at.login_dir;
  } else if (hold != nullptr) {
    PB_TRY(bool config, is_config_hold(*hold));
    if (config) {
      PB_TRY(at.cfg_keeper, session_keeper(docker, *hold));
      at.cfg = session_config_dir();
    }
  }
  PB_TRY(VolumeLogin login, read_volume_login(docker, at, vol.name, stored_expiry(v, cred)));
  return write_back(v, cred, login, vol.name, access, &docker, vol.name);
}

/// A session whose Claude Code replaced the link <cfg>/.credentials.json with
/// a file of its own (a build that writes by rename without following links)
/// keeps its refreshed login there: written back like any other.
Result<WriteBack> write_back_detached(DockerClient& docker, vault::Vault& v, const VolumeInfo& hold,
                                      const vault::AccessInfo& access, const std::string& keeper = {}) {
  PB_TRY(bool config, is_config_hold(hold));
  if (!config) return WriteBack{};
  const std::string cred = label_of(hold.labels, labels::k_credential);
  LoginPlace at;
  at.keeper = keeper;
  if (at.keeper.empty()) {
    PB_TRY(at.keeper, session_keeper(docker, hold));
  }
  at.login_dir = at.cfg = session_config_dir();
  at.cfg_keeper = at.keeper;
  PB_TRY(VolumeLogin login, read_volume_login(docker, at, hold.name, stored_expiry(v, cred)));
  return write_back(v, cred, login, hold.name, access, &docker, label_of(hold.labels, labels::k_volume));
}

/// write_back_detached() for a hold whose login volume may be gone: then only
/// through a keeper that exists, since making one would make Docker create
/// the login volume again, empty and unlabelled.
Result<WriteBack> write_back_own(DockerClient& docker, vault::Vault& v, const VolumeInfo& hold,
                                 const vault::AccessInfo& access, bool login_volume_exists) {
  if (login_volume_exists) return write_back_detached(docker, v, hold, access);
  PB_TRY(std::string keeper, existing_session_keeper(docker, {&hold}));
  if (keeper.empty()) return WriteBack{};
  return write_back_detached(docker, v, hold, access, keeper);
}

/// The login volumes beside a lock volume of `cred` in `logins` that a hold
/// in `holds` names (or that `also` names: volumes a container still uses),
/// but `except`: what its relay must serve.
std::vector<RelayMember> relay_members(const std::vector<VolumeInfo>& logins, const std::vector<VolumeInfo>& holds,
                                       const std::string& cred, const std::string& except = {},
                                       const std::set<std::string>& also = {}) {
  auto managed = [&](const VolumeInfo& v, Role role) {
    return labels::has_role(v.labels, role) && label_of(v.labels, labels::k_credential) == cred;
  };
  std::set<std::string> held = also;
  for (const auto& h : holds)
    if (managed(h, Role::hold)) held.insert(label_of(h.labels, labels::k_volume));
  std::vector<RelayMember> out;
  for (const auto& vol : logins) {
    if (vol.name == except || !is_beside_lock(vol.name) || !held.count(vol.name) || !managed(vol, Role::login))
      continue;
    auto uid = label_id(vol, labels::k_uid);
    auto gid = label_id(vol, labels::k_gid);
    if (uid && gid) out.push_back({vol.name, *uid, *gid});
  }
  return out;
}

/// Removes the lock volume of `cred` once no login volume beside it is left
/// in `logins` (but `except`, just removed); one a container still mounts stays for gc.
/// true when it was removed by this call.
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

}  // namespace

namespace {

/// What earlier releases took, and used as it is in volume names.
bool is_docker_safe_session(std::string_view s) {
  if (s.empty() || s.size() > 64 || !std::isalnum(static_cast<unsigned char>(s.front()))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

/// A letter or digit outside ASCII, as far as it can be told without the
/// Unicode tables: not a control, a space, a symbol or punctuation of the
/// blocks where those live (Latin-1, General Punctuation and the symbol
/// blocks up to the arrows, CJK punctuation, specials), nor a private-use or
/// noncharacter code point. para takes what Rust's char::is_alphanumeric
/// says; a name that slips through here is still made Docker-safe by session_key().
bool is_non_ascii_alphanumeric(char32_t c) {
  if (c < 0xa0) return false;  // C1 controls
  if (c <= 0xbf) return c == 0xaa || c == 0xb2 || c == 0xb3 || c == 0xb5 || c == 0xb9 || c == 0xba || c >= 0xbc;
  if (c == 0xd7 || c == 0xf7) return false;      // multiplication and division signs
  if (c >= 0x2000 && c <= 0x206f) return false;  // general punctuation, spaces, format controls
  if (c >= 0x20a0 && c <= 0x20ff) return false;  // currency symbols
  if (c >= 0x2190 && c <= 0x2bff) return false;  // arrows, mathematical and technical symbols, box drawing
  if (c >= 0x2e00 && c <= 0x2e7f) return false;  // supplemental punctuation
  if (c >= 0x3000 && c <= 0x3003) return false;  // ideographic space and punctuation
  if (c >= 0xe000 && c <= 0xf8ff) return false;  // private use
  if (c >= 0xfe00 && c <= 0xfe0f) return false;  // variation selectors
  if (c == 0xfeff || (c >= 0xfff0 && c <= 0xffff)) return false;             // BOM, specials
  if ((c & 0xfffe) == 0xfffe || (c >= 0xfdd0 && c <= 0xfdef)) return false;  // noncharacters
  if (c >= 0xf0000) return false;                                            // supplementary private use
  return true;
}

}  // namespace

bool is_valid_session(std::string_view s) {
  if (is_docker_safe_session(s)) return true;
  if (s.empty() || s.size() > 128) return false;
  auto cps = decode_utf8(s);
  if (!cps) return false;
  return std::all_of(cps->begin(), cps->end(), [](char32_t c) {
    if (c < 0x80) return std::isalnum(static_cast<int>(c)) != 0 || c == '_' || c == '.' || c == '-';
    return is_non_ascii_alphanumeric(c);
  });
}

Status check_session(std::string_view s) {
  if (is_valid_session(s)) return {};
  return fail(ErrorKind::usage, "'" + printable(s, 140) +
                                    "' is not a valid session name (1-128 bytes of letters and digits of any "
                                    "script, _ - and .)");
}

std::string session_key(std::string_view s) {
  if (is_docker_safe_session(s)) return std::string(s);
  std::string ascii;
  for (char c : s)
    if (ascii.size() < 40 && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) ascii += c;
  const std::string hash = vault::to_hex(vault::sha256(as_bytes(std::string(s)))).substr(0, 16);
  return ascii.empty() ? hash : ascii + "-" + hash;
}

namespace {
std::string owner_hash(std::uint32_t uid, std::uint32_t gid) {
  const std::string key = std::to_string(uid) + ":" + std::to_string(gid);
  return vault::to_hex(vault::sha256(as_bytes(key))).substr(0, 12);
}
constexpr std::string_view k_login_prefix = "para-broker-user-";
}  // namespace

std::string login_volume_name(const std::string& credential_id, std::uint32_t uid, std::uint32_t gid) {
  return std::string(k_login_prefix) + credential_id + "-" + owner_hash(uid, gid);
}

std::string legacy_login_volume_name(const std::string& credential_id, std::uint32_t uid, std::uint32_t gid) {
  return "para-broker-shared-" + credential_id + "-" + owner_hash(uid, gid);
}

std::string lock_volume_name(const std::string& credential_id) {
  return "para-broker-lock-" + credential_id;
}

bool is_beside_lock(const std::string& login_volume) {
  return login_volume.starts_with(k_login_prefix);
}

std::string hold_volume_name(const std::string& session) {
  return "para-broker-hold-" + session_key(session);
}

std::string keeper_name(const std::string& volume) {
  const std::string_view prefix = "para-broker-";
  const std::string_view rest = std::string_view(volume).starts_with(prefix)
                                    ? std::string_view(volume).substr(prefix.size())
                                    : std::string_view(volume);
  return std::string(labels::k_container_prefix) + "keeper-" + std::string(rest);
}

std::string legacy_keeper_name(const std::string& volume) {
  return volume + "-keeper";
}

std::vector<std::pair<std::string, std::string>> mounts_of(const MountResult& r) {
  if (r.lock.empty()) return {{r.volume, r.target}, {r.hold, r.config_dir}};
  return {{r.lock, r.target}, {r.volume, r.login_dir}, {r.hold, r.config_dir}};
}

std::vector<std::pair<std::string, std::string>> env_of(const MountResult& r) {
  return {{"CLAUDE_CONFIG_DIR", r.config_dir}, {"CLAUDE_SECURESTORAGE_CONFIG_DIR", r.login_dir}};
}

namespace {

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
