#pragma once
// Knowledge of Claude Code installations, loaded from probes/knowledge.json
// (embedded into the binary at build time). Everything that changes between
// Claude Code releases lives in that file: recognising an installation,
// version ranges and the path templates each range uses.
//
// Template grammar:  template := ( literal | "${" NAME "}" )*
//   NAME is an environment variable listed in env_of_interest, or
//   "config_dir" (the resolved config directory). A location is a list of
//   alternatives; the first one whose variables are all set and non-empty
//   (and, for if_exists, whose path exists in the image) wins.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "probes/version.hpp"

namespace pb::probes {

struct PathAlternative {
  std::string path;        ///< template
  bool if_exists = false;  ///< only when the expanded path exists in the image
};

struct Rule {
  std::string id;
  Version from;                                       ///< inclusive
  std::optional<Version> until;                       ///< exclusive; none = open-ended
  std::vector<std::pair<Version, Version>> measured;  ///< inclusive ranges checked on real builds
  bool honors_claude_config_dir = true;
  std::vector<PathAlternative> config_dir;
  std::vector<PathAlternative> global_config;
  std::vector<PathAlternative> credentials;
  std::vector<std::string> locks;  ///< every refresh lock, templates
  std::vector<std::string> notes;

  bool covers(const Version& v) const { return v >= from && (!until || v < *until); }
  bool measured_at(const Version& v) const;
};

struct KindRule {
  std::string kind;  ///< npm-js, npm-native, native-installer
  std::string description;
  std::string path_regex;     ///< matched (search) against the resolved claude path
  std::string version_regex;  ///< optional: group 1 is the version, from the path
};

struct AuthEnv {
  std::string name;
  std::string why;
};

struct LoginState {
  std::vector<std::string> credentials_keys;
  std::vector<std::string> global_config_keys;
  std::string onboarding_key;
  std::string account_key;
};

struct ResearchSettings {
  std::vector<std::string> command;  ///< arguments after `claude`
  std::vector<std::string> env;      ///< "KEY=value" that keep the run offline and quiet
  int timeout_seconds = 30;
  long long memory_bytes = 1LL << 30;
  std::string scratch_config_dir;
};

struct Knowledge {
  std::string knowledge_version;
  std::string package_name;
  std::vector<std::string> node_modules_dirs;  ///< templates, may contain globs
  std::string native_link;                     ///< template
  std::vector<KindRule> kinds;
  std::vector<std::string> env_of_interest;
  std::vector<std::string> env_reported;
  std::vector<AuthEnv> auth_env;
  std::string settings_marker;
  std::vector<std::string> settings_files;  ///< templates
  std::vector<Rule> rules;                  ///< sorted by `from`
  LoginState login_state;
  ResearchSettings research;

  /// The rule for a version; for an unknown version, the newest rule.
  const Rule& rule_for(const std::optional<Version>& v) const;
  const Rule* rule_by_id(std::string_view id) const;
};

/// Parses and validates a knowledge file (schema 1): unknown template
/// variables, overlapping or unsorted ranges and bad regexes are refused.
Result<Knowledge> parse_knowledge(std::string_view json_text);

/// The knowledge embedded at build time, parsed once. An error here is a
/// build defect (the unit tests load it), reported as an integrity failure.
const Result<Knowledge>& builtin_knowledge();

/// The raw embedded knowledge.json and probe.sh.
std::string_view embedded_knowledge_json();
std::string_view embedded_probe_script();
/// The embedded knowledge's `knowledge_version`, read at build time: enough to
/// look up a cached probe report without parsing the knowledge.
std::string_view embedded_knowledge_version();

/// Variable names used in a template ("${HOME}/.claude" -> {"HOME"}); nullopt
/// when the template is malformed (unterminated "${", bad name).
std::optional<std::vector<std::string>> template_variables(std::string_view tmpl);

}  // namespace pb::probes
