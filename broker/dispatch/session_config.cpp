// A session's own config (<cfg>, its hold): what the image ships, read through
// the session's keeper, with the vault's login merged in (dispatch_internal.hpp).

#include <nlohmann/json.hpp>

#include "broker/dispatch/dispatch.hpp"
#include "broker/dispatch/dispatch_internal.hpp"
#include "broker/dispatch/json_object.hpp"
#include "broker/dispatch/seed_cache.hpp"
#include "broker/dispatch/volume_tar.hpp"
#include "vault/entry.hpp"
#include "vault/json_wipe.hpp"

namespace pb::broker::dispatch::detail {
namespace {

SecureBytes dump(const nlohmann::json& j) {
  std::string text = j.dump(2);
  SecureBytes out(text.begin(), text.end());
  secure_wipe(text.data(), text.size());
  return out;
}

/// Whether what is read at `path` through a session's keeper is the image's
/// alone: the keeper attaches the session's volumes at k_mount_target, so a
/// path at, below or above it reads volumes (a session's own config among
/// them), which must never be cached as the image's and handed to another session.
bool reads_the_image_alone(const std::string& path) {
  const std::string target = k_mount_target;
  return path != "/" && path != target && !path.starts_with(target + "/") && !target.starts_with(path + "/");
}

}  // namespace

bool cacheable(const SeedSource& s) {
  return (!s.read_config_dir || reads_the_image_alone(s.config_dir)) &&
         (!s.read_global_config || reads_the_image_alone(s.global_config));
}

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

}  // namespace pb::broker::dispatch::detail
