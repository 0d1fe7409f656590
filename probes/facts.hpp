#pragma once
// Facts about an image's runtime, gathered by the in-container probe script
// (probe.sh) or, for images without a shell, read through the archive API.
// parse_probe_output() treats the script's output as hostile: bounded size,
// every field type-checked, paths must be absolute and free of NUL.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "probes/knowledge.hpp"

namespace pb::probes {

struct PackageFact {
  std::string dir;                     ///< .../node_modules/@anthropic-ai/claude-code
  std::optional<std::string> name;     ///< "name" from its package.json
  std::optional<std::string> version;  ///< "version" from its package.json, unvalidated
};

struct LinkFact {
  std::string path;
  bool exists = false;
  std::optional<std::string> resolved;
};

struct PathCheck {
  bool exists = false;
  std::optional<bool> marker;  ///< whether it contains the settings marker (apiKeyHelper)
};

struct Facts {
  std::optional<std::uint32_t> uid;
  std::optional<std::uint32_t> gid;
  std::optional<std::string> user;         ///< name from /etc/passwd (or id -un)
  std::optional<std::string> home;         ///< HOME as the container runs
  std::optional<std::string> passwd_home;  ///< home of the uid in /etc/passwd
  bool in_passwd = false;
  bool can_resolve_links = true;
  /// Variables of interest: set (possibly empty) or unset (nullopt).
  std::map<std::string, std::optional<std::string>> env;
  /// Secret variables: only whether they are set, never their value.
  std::map<std::string, bool> secrets;
  std::optional<std::string> claude_link;      ///< `command -v claude`
  std::optional<std::string> claude_resolved;  ///< its symlinks resolved
  std::vector<LinkFact> native_links;
  std::vector<PackageFact> packages;
  std::map<std::string, PathCheck> checks;  ///< by expanded path
  std::vector<std::string> notes;           ///< how the facts were gathered
};

/// Upper bound on the probe script's output accepted.
inline constexpr std::size_t k_max_probe_output = 256 * 1024;

/// Parses probe.sh output. Refuses (unsafe_input) oversized, malformed or
/// mistyped output with a sentence; never echoes the payload.
Result<Facts> parse_probe_output(std::string_view output);

/// The arguments for probe.sh, from the knowledge (templates validated by
/// parse_knowledge). `${config_dir}` in settings and legacy-config templates
/// is expanded to every config_dir alternative of every rule, so the script
/// only ever sees environment variables.
std::vector<std::string> probe_arguments(const Knowledge& k);

/// Paths the interpretation may ask about (for probing without a shell).
std::vector<std::string> check_templates(const Knowledge& k);

/// Collapses repeated slashes and drops a trailing one ("//.claude/" -> "/.claude").
std::string normalize_path(std::string_view p);

/// Expands `${NAME}` with `vars`; nullopt when a variable is unset or empty.
std::optional<std::string> expand_template(std::string_view tmpl,
                                           const std::map<std::string, std::optional<std::string>>& vars);

}  // namespace pb::probes
