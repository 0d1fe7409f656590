// Write-back: reading a volume's login and storing it in the vault as the
// judge of writeback_rules.hpp decides, and the logins refused before (dispatch_internal.hpp).

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

#include "broker/dispatch/dispatch.hpp"
#include "broker/dispatch/dispatch_internal.hpp"
#include "broker/dispatch/json_object.hpp"
#include "broker/dispatch/writeback_rules.hpp"
#include "broker/docker/docker_client.hpp"
#include "broker/objects/labels.hpp"
#include "core/files.hpp"
#include "core/text.hpp"
#include "vault/capture.hpp"
#include "vault/crypto.hpp"
#include "vault/json_wipe.hpp"
#include "vault/vault.hpp"

namespace pb::broker::dispatch::detail {
namespace {

/// The access log's record of a write-back that kept or refused a volume's login.
vault::LogRecord writeback_record(const vault::EntryMeta& meta, const vault::AccessInfo& access, std::string result,
                                  std::string detail) {
  vault::LogRecord rec = log_record("writeback", meta, access);
  rec.result = std::move(result);
  rec.detail = std::move(detail);
  return rec;
}

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

}  // namespace

std::optional<std::int64_t> stored_expiry(const vault::Vault& v, const std::string& credential_id) {
  auto meta = v.find(credential_id);
  return meta ? believable_expiry(meta->expires_at, unix_now_ms()) : std::nullopt;
}

RefusedLogins::RefusedLogins(const vault::Vault& v, const std::string& credential_id)
    : m_file(v.options().home / "locks" / (credential_id + ".refused")), m_vault(v) {}

std::optional<std::string> RefusedLogins::tag(const SecureBytes& credentials) const {
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

bool RefusedLogins::contains(const std::string& tag) const {
  for (const auto& t : read())
    if (t == tag) return true;
  return false;
}

void RefusedLogins::add(const std::string& tag) const {
  auto tags = read();
  if (std::find(tags.begin(), tags.end(), tag) != tags.end()) return;
  tags.push_back(tag);
  if (tags.size() > 64) tags.erase(tags.begin(), tags.end() - 64);
  std::string text;
  for (const auto& t : tags) text += t + "\n";
  (void)write_file_atomic(m_file, as_bytes(text));
}

std::vector<std::string> RefusedLogins::read() const {
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
      PB_TRY_STATUS(v.log(writeback_record(entry.meta, access, "kept-newer-stored",
                                           "the login in volume " + volume + " expires no later than the stored one")));
    return out;
  }
  if (d.verdict == WritebackDecision::Verdict::refuse && d.account_unshown && login.no_account_source) {
    // Not a hostile volume: its sessions are gone (a release that did not write
    // back, then was interrupted), and with them what showed the account.
    out.note = "the newer login left in volume " + volume +
               " was not written back: no session is left to show its account; the vault keeps its login";
    PB_TRY_STATUS(v.log(writeback_record(entry.meta, access, "kept-stored",
                                         "no session of volume " + volume + " is left to show the account")));
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
    PB_TRY_STATUS(v.log(writeback_record(entry.meta, access, "refused", d.reason)));
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
    PB_TRY_STATUS(v.log(writeback_record(entry.meta, access, "refused", objection)));
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

Result<WriteBack> write_back_volume(DockerClient& docker, vault::Vault& v, const VolumeInfo& vol,
                                    const vault::AccessInfo& access, const VolumeInfo* hold) {
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

Result<WriteBack> write_back_detached(DockerClient& docker, vault::Vault& v, const VolumeInfo& hold,
                                      const vault::AccessInfo& access, const std::string& keeper) {
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

Result<WriteBack> write_back_own(DockerClient& docker, vault::Vault& v, const VolumeInfo& hold,
                                 const vault::AccessInfo& access, bool login_volume_exists) {
  if (login_volume_exists) return write_back_detached(docker, v, hold, access);
  PB_TRY(std::string keeper, existing_session_keeper(docker, {&hold}));
  if (keeper.empty()) return WriteBack{};
  return write_back_detached(docker, v, hold, access, keeper);
}

}  // namespace pb::broker::dispatch::detail
