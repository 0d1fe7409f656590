#pragma once
// The probe report (SPEC "Probe report"): which Claude Code an image has,
// as which user, and where that build keeps its config and credentials.
//
// JSON form (schema 1), as printed by `probe --json` and kept in the cache:
//   {"schema":1, "image":..., "image_id":...,
//    "claude":{"found","kind","version","path"},
//    "user":{"name","uid","gid","home"},
//    "env":{"CLAUDE_CONFIG_DIR":null|"...", ...},
//    "locations":{"config_dir","global_config","credentials","lock","locks":[...]},
//    "honors_claude_config_dir":bool, "method":"probe"|"static"|"research",
//    "rule":"<knowledge rule id>", "knowledge_version":"...",
//    "login_keys":{"credentials":[...],"global_config":[...]},
//    "in_image":{"config_dir":bool|null,"global_config":bool|null},
//    "login_overrides":[{"name","where","why"}...],
//    "evidence":[...], "warnings":[...], "research":{...}|null}

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace pb::probes {

struct ClaudeInstall {
  bool found = false;
  std::string kind = "unknown";  ///< npm-js, npm-native, native-installer, unknown
  std::optional<std::string> version;
  std::optional<std::string> path;  ///< the resolved executable or script
  std::optional<std::string> link;  ///< `claude` as found on PATH, before resolving links
};

struct RuntimeUser {
  std::optional<std::string> name;  ///< nullopt: uid without an /etc/passwd entry
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string home;  ///< HOME as the container runs ("/" when Docker finds no entry)
};

struct Locations {
  std::optional<std::string> config_dir;
  std::optional<std::string> global_config;
  std::optional<std::string> credentials;  ///< nullopt: this build keeps no credentials file
  std::optional<std::string> lock;         ///< the refresh lock Claude takes first
  std::vector<std::string> locks;          ///< every refresh lock it takes
  bool operator==(const Locations&) const = default;
};

/// Whether the image itself ships its config directory and global config
/// (nullopt: not known). A mount copies what the image ships into the volume;
/// knowing that a path is absent spares it a read through the archive API.
struct InImage {
  std::optional<bool> config_dir;
  std::optional<bool> global_config;
};

/// Something the image itself sets that Claude Code prefers over a mounted
/// login: an authentication variable in its ENV, or a settings file with an
/// apiKeyHelper.
struct LoginOverride {
  std::string name;   ///< "ANTHROPIC_API_KEY", "apiKeyHelper", …
  std::string where;  ///< "image ENV" (the image's environment) or the settings file
  std::string why;
};

/// What `--research` saw Claude write, compared with the prediction.
struct ResearchResult {
  Locations observed;                            ///< without CLAUDE_CONFIG_DIR
  std::vector<std::string> written;              ///< paths the sandboxed run added or changed (bounded)
  std::optional<bool> honors_claude_config_dir;  ///< nullopt: the run wrote nothing to decide by
  bool agrees = true;                            ///< observation equals the prediction
};

struct ProbeReport {
  std::string image;
  std::string image_id;
  ClaudeInstall claude;
  RuntimeUser user;
  /// Variables that move Claude's config, as the image sets them (nullopt: unset).
  std::map<std::string, std::optional<std::string>> env;
  Locations locations;
  bool honors_claude_config_dir = true;
  std::string method = "probe";  ///< probe (script ran), static (archive only), research
  std::string rule;              ///< id of the knowledge rule used
  std::string knowledge_version;
  std::vector<std::string> login_credentials_keys;    ///< top-level keys of .credentials.json to keep
  std::vector<std::string> login_global_config_keys;  ///< keys of .claude.json that carry login state
  InImage in_image;
  /// nullopt: a report written before the field existed (the cache probes again).
  std::optional<std::vector<LoginOverride>> login_overrides = std::vector<LoginOverride>{};
  std::vector<std::string> evidence;
  std::vector<std::string> warnings;
  std::optional<ResearchResult> research;
};

/// Serialises a report (schema 1, pretty when indent >= 0).
std::string report_to_json(const ProbeReport& r, int indent = 2);

/// Parses a report written by report_to_json (the cache); integrity error
/// when it is malformed.
Result<ProbeReport> report_from_json(std::string_view text);

/// Every path the report took from the image (HOME, the variables in `env`,
/// the locations, Claude's path) is a clean absolute path (core/names.hpp);
/// otherwise ErrorKind::unsafe_input (exit 7) naming the first that is not.
/// Checked on every report before anything uses it, fresh or cached.
Status check_paths(const ProbeReport& r);

/// The human-readable form printed by `para-broker probe IMAGE`.
std::string report_to_text(const ProbeReport& r);

}  // namespace pb::probes
