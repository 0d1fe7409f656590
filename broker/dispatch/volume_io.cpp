// Trees and files through a container's archive API, and a volume's login as
// read from it (dispatch_internal.hpp).

#include <span>
#include <thread>

#include "broker/dispatch/dispatch_internal.hpp"
#include "broker/dispatch/volume_tar.hpp"
#include "broker/dispatch/writeback_rules.hpp"
#include "broker/docker/docker_client.hpp"

namespace pb::broker::dispatch::detail {
namespace {

/// How long a read that found a login file half-written waits before it reads again.
constexpr std::chrono::milliseconds k_torn_read_retry{100};

}  // namespace

Result<std::vector<TreeEntry>> get_tree(DockerClient& docker, const std::string& id, const std::string& path,
                                        const TreeLimits& limits, const std::string& what, bool* absent) {
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

Result<std::optional<SecureBytes>> get_file(DockerClient& docker, const std::string& id, const std::string& path,
                                            std::uint64_t max_size, const std::string& what, bool* absent) {
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

Status put_tree(DockerClient& docker, const std::string& helper, const std::string& parent, const std::string& root,
                const std::vector<TreeEntry>& tree, std::uint32_t uid, std::uint32_t gid, std::uint32_t root_mode) {
  PB_TRY(SecureBytes tar, render_tree(root, tree, uid, gid, root_mode));
  PB_TRY(std::unique_ptr<ByteWriter> w, docker.archive_put(helper, parent));
  PB_TRY_STATUS(w->write(std::as_bytes(std::span(tar.data(), tar.size()))));
  return w->finish();
}

Status put_volume(DockerClient& docker, const std::string& helper, const std::string& target,
                  const std::vector<TreeEntry>& tree, std::uint32_t uid, std::uint32_t gid, std::uint32_t root_mode) {
  auto slash = target.find_last_of('/');
  const std::string parent = slash == 0 || slash == std::string::npos ? "/" : target.substr(0, slash);
  return put_tree(docker, helper, parent, target.substr(slash + 1), tree, uid, gid, root_mode);
}

}  // namespace pb::broker::dispatch::detail
