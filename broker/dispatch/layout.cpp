// Where a session's volumes are mounted and what their labels say of it
// (dispatch_internal.hpp); the session container's mounts and environment (dispatch.hpp).

#include <charconv>

#include "broker/dispatch/dispatch.hpp"
#include "broker/dispatch/dispatch_internal.hpp"
#include "broker/objects/labels.hpp"
#include "core/names.hpp"

namespace pb::broker::dispatch {
namespace detail {

Result<std::string> volume_target(const VolumeInfo& vol) {
  std::string target = label_of(vol.labels, labels::k_target);
  if (target.empty())
    return fail(ErrorKind::integrity, "volume " + vol.name + " lacks the para-broker labels that say what it holds");
  PB_TRY_STATUS(check_clean_absolute_path(target, "the target label of volume " + vol.name));
  if (target == "/") return fail(ErrorKind::unsafe_input, "the target label of volume " + vol.name + " is '/'");
  return target;
}

Result<std::uint32_t> label_id(const VolumeInfo& vol, const char* key) {
  const std::string s = label_of(vol.labels, key);
  std::uint32_t id = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size())
    return fail(ErrorKind::integrity, "volume " + vol.name + " has a " + key + " label that is not a number");
  return id;
}

Result<std::string> login_subdir(const VolumeInfo& vol) {
  const std::string dir = label_of(vol.labels, labels::k_login_dir);
  if (dir.empty()) return std::string(k_config_subdir);
  if (dir != k_login_subdir && dir != k_login_at_root)
    return fail(ErrorKind::integrity, "volume " + vol.name + " has a login-dir label para-broker does not know");
  if ((dir == k_login_at_root) != is_beside_lock(vol.name))
    return fail(ErrorKind::integrity, "volume " + vol.name + " is not laid out as its name says; remove it");
  return dir;
}

std::string login_path(const std::string& target, const std::string& subdir) {
  return subdir == k_login_at_root ? target : target + "/" + subdir;
}

std::string login_target() {
  return std::string(k_mount_target) + "/" + k_login_subdir;
}

std::string session_config_dir() {
  return std::string(k_mount_target) + "/" + k_config_subdir;
}

Result<bool> is_config_hold(const VolumeInfo& hold) {
  const std::string cfg = label_of(hold.labels, labels::k_config);
  if (cfg.empty()) return false;
  if (cfg != session_config_dir())
    return fail(ErrorKind::integrity, "hold " + hold.name + " has a config label para-broker does not know");
  return true;
}

}  // namespace detail

std::vector<std::pair<std::string, std::string>> mounts_of(const MountResult& r) {
  if (r.lock.empty()) return {{r.volume, r.target}, {r.hold, r.config_dir}};
  return {{r.lock, r.target}, {r.volume, r.login_dir}, {r.hold, r.config_dir}};
}

std::vector<std::pair<std::string, std::string>> env_of(const MountResult& r) {
  return {{"CLAUDE_CONFIG_DIR", r.config_dir}, {"CLAUDE_SECURESTORAGE_CONFIG_DIR", r.login_dir}};
}

}  // namespace pb::broker::dispatch
