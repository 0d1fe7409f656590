#include "probes/interpret.hpp"

#include <algorithm>
#include <regex>

namespace pb::probes {

namespace {

std::optional<std::string> choose(const std::vector<PathAlternative>& alts, const EnvMap& vars,
                                  const std::map<std::string, PathCheck>& checks, const char* what,
                                  std::vector<std::string>* evidence) {
  for (const auto& a : alts) {
    auto p = expand_template(a.path, vars);
    if (!p) continue;
    if (a.if_exists) {
      auto it = checks.find(*p);
      bool exists = it != checks.end() && it->second.exists;
      if (!exists) continue;
      if (evidence)
        evidence->push_back(std::string(what) + ": " + *p + " exists in the image, so it is used (" + a.path + ")");
      return p;
    }
    if (evidence) evidence->push_back(std::string(what) + ": " + *p + " (from " + a.path + ")");
    return p;
  }
  return std::nullopt;
}

std::string range_text(const Rule& r) {
  std::string s = r.from.to_string() + " up to " + (r.until ? "before " + r.until->to_string() : "the newest");
  return s;
}

std::string measured_text(const Rule& r) {
  std::string s;
  for (const auto& [a, b] : r.measured) {
    if (!s.empty()) s += ", ";
    s += a == b ? a.to_string() : a.to_string() + "–" + b.to_string();
  }
  return s.empty() ? "none" : s;
}

bool under(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
}

std::string detect_kind(const Knowledge& k, const std::string& path, std::optional<Version>* version_from_path) {
  for (const auto& kr : k.kinds) {
    std::regex re(kr.path_regex);
    if (!std::regex_search(path, re)) continue;
    if (!kr.version_regex.empty()) {
      std::smatch m;
      std::regex vr(kr.version_regex);
      if (std::regex_search(path, m, vr) && m.size() > 1) *version_from_path = parse_version(m[1].str());
    }
    return kr.kind;
  }
  return "unknown";
}

}  // namespace

Locations resolve_locations(const Rule& rule, const EnvMap& vars, const std::map<std::string, PathCheck>& checks,
                            std::vector<std::string>* evidence) {
  Locations loc;
  loc.config_dir = choose(rule.config_dir, vars, checks, "config directory", evidence);
  EnvMap with_cfg = vars;
  with_cfg["config_dir"] = loc.config_dir;
  loc.global_config = choose(rule.global_config, with_cfg, checks, "global config", evidence);
  loc.credentials = choose(rule.credentials, with_cfg, checks, "credentials", evidence);
  if (!loc.credentials && evidence) evidence->push_back("credentials: this build keeps no credentials file");
  for (const auto& t : rule.locks)
    if (auto p = expand_template(t, with_cfg)) loc.locks.push_back(*p);
  if (!loc.locks.empty()) loc.lock = loc.locks.front();
  return loc;
}

namespace {

/// Who runs: uid, gid, name and HOME, with what does not add up.
void read_user(const Facts& f, ProbeReport& r) {
  r.user.uid = f.uid.value_or(0);
  r.user.gid = f.gid.value_or(0);
  r.user.name = f.user;
  r.user.home = f.home.value_or(f.passwd_home.value_or("/"));
  if (!f.uid) r.warnings.push_back("the runtime uid could not be read; assuming 0");
  if (!f.in_passwd)
    r.warnings.push_back("uid " + std::to_string(r.user.uid) + " has no entry in the image's /etc/passwd; HOME is " +
                         r.user.home);
  if (r.user.home == "/") r.warnings.push_back("HOME is /, so Claude Code keeps its config at the filesystem root");
  if (f.passwd_home && f.home && normalize_path(*f.passwd_home) != normalize_path(*f.home))
    r.evidence.push_back("HOME is set to " + *f.home + " although /etc/passwd says " + *f.passwd_home);
}

/// The claude executable: on PATH, else a native installer link.
std::optional<std::string> find_executable(const Facts& f, ProbeReport& r) {
  std::optional<std::string> exe;
  if (f.claude_link) {
    exe = f.claude_resolved ? f.claude_resolved : f.claude_link;
    r.evidence.push_back(
        "claude on PATH: " + *f.claude_link +
        (f.claude_resolved && *f.claude_resolved != *f.claude_link ? " -> " + *f.claude_resolved : ""));
  }
  for (const auto& l : f.native_links) {
    if (!l.exists) continue;
    r.evidence.push_back("native installer link " + l.path + (l.resolved ? " -> " + *l.resolved : "") + " exists");
    if (!exe) {
      exe = l.resolved ? l.resolved : l.path;
      r.warnings.push_back(l.path + " is not on the image's PATH");
    }
  }
  return exe;
}

/// The version the package says, and what the path says when it should win.
std::optional<Version> read_version(const PackageFact* pkg, const std::string& exe,
                                    const std::optional<Version>& path_version, ProbeReport& r) {
  std::optional<Version> version;
  if (pkg && pkg->version) {
    version = parse_version(*pkg->version);
    if (version)
      r.evidence.push_back(pkg->dir + "/package.json says version " + version->to_string());
    else
      r.warnings.push_back(pkg->dir + "/package.json has no valid version");
    if (r.claude.kind == "unknown" && !under(exe, pkg->dir))
      r.evidence.push_back("claude at " + exe + " is not inside the package at " + pkg->dir);
  }
  if (path_version && (!version || r.claude.kind == "native-installer")) {
    version = path_version;
    r.evidence.push_back("version " + version->to_string() + " from the installation path");
  }
  return version;
}

/// Which Claude Code: whether one is found, its kind and version. False when none is.
bool read_claude(const Knowledge& k, const Facts& f, ProbeReport& r, std::optional<Version>& version) {
  std::optional<std::string> exe = find_executable(f, r);
  const PackageFact* pkg = nullptr;
  for (const auto& p : f.packages) {
    if (!p.name || *p.name != k.package_name) continue;
    if (!pkg || (exe && under(*exe, p.dir))) pkg = &p;
  }
  if (!exe && pkg) {
    exe = pkg->dir;
    r.warnings.push_back("the " + k.package_name + " package is installed at " + pkg->dir +
                         " but no claude is on PATH");
  }
  if (!exe) {
    r.claude.found = false;
    r.evidence.push_back("no claude on PATH, no native installer link, no " + k.package_name + " package found");
    return false;
  }
  std::optional<Version> path_version;
  r.claude.found = true;
  r.claude.path = *exe;
  r.claude.link = f.claude_link;
  r.claude.kind = detect_kind(k, *exe, &path_version);
  if (r.claude.kind == "unknown" && f.claude_link && !f.can_resolve_links)
    r.evidence.push_back("the image has no readlink, so the claude link could not be followed");
  version = read_version(pkg, *exe, path_version, r);
  if (version) r.claude.version = version->to_string();
  return true;
}

/// The knowledge's rule for `version`, and the locations it gives.
void apply_rule(const Knowledge& k, const Facts& f, const EnvMap& vars, const std::optional<Version>& version,
                ProbeReport& r) {
  const Rule& rule = k.rule_for(version);
  r.rule = rule.id;
  r.honors_claude_config_dir = rule.honors_claude_config_dir;
  if (!version) {
    r.warnings.push_back("the Claude Code version is unknown; assuming the newest known rules (" + rule.id +
                         "); run 'probe --research' to confirm");
  } else if (!rule.measured_at(*version)) {
    r.warnings.push_back("version " + version->to_string() + " was not measured; assuming the rules of " + rule.id +
                         " (measured on " + measured_text(rule) + "); run 'probe --research' to confirm");
  }
  r.evidence.push_back("rule " + rule.id + " covers " + range_text(rule) + ", measured on " + measured_text(rule));
  for (const auto& n : rule.notes) r.evidence.push_back(n);
  r.locations = resolve_locations(rule, vars, f.checks, &r.evidence);
  auto shipped = [&](const std::optional<std::string>& p) -> std::optional<bool> {
    if (!p) return std::nullopt;
    auto it = f.checks.find(*p);
    return it == f.checks.end() ? std::nullopt : std::optional<bool>(it->second.exists);
  };
  r.in_image.config_dir = shipped(r.locations.config_dir);
  r.in_image.global_config = shipped(r.locations.global_config);
}

/// What would hide a mounted login: the image's ENV, and settings with the marker.
void read_login_overrides(const Knowledge& k, const Facts& f, const EnvMap& vars, ProbeReport& r) {
  for (const auto& a : k.auth_env) {
    auto it = f.secrets.find(a.name);
    if (it != f.secrets.end() && it->second) {
      r.warnings.push_back("the image sets " + a.name + ": " + a.why + ", so a mounted login would be hidden");
      r.login_overrides->push_back({a.name, "image ENV", a.why});
    }
  }
  if (k.settings_marker.empty()) return;
  EnvMap with_cfg = vars;
  with_cfg["config_dir"] = r.locations.config_dir;
  std::vector<std::string> seen;
  for (const auto& t : k.settings_files) {
    auto p = expand_template(t, with_cfg);
    if (!p || std::find(seen.begin(), seen.end(), *p) != seen.end()) continue;
    seen.push_back(*p);
    auto it = f.checks.find(*p);
    if (it != f.checks.end() && it->second.marker.value_or(false)) {
      r.warnings.push_back(*p + " sets " + k.settings_marker + ", which takes precedence over a mounted login");
      r.login_overrides->push_back({k.settings_marker, *p, k.settings_marker + " takes precedence over the login"});
    }
  }
}

}  // namespace

ProbeReport interpret(const Knowledge& k, const Facts& f) {
  ProbeReport r;
  r.knowledge_version = k.knowledge_version;
  r.login_credentials_keys = k.login_state.credentials_keys;
  r.login_global_config_keys = k.login_state.global_config_keys;
  r.evidence = f.notes;
  read_user(f, r);
  EnvMap vars;
  for (const auto& name : k.env_of_interest) {
    auto it = f.env.find(name);
    vars[name] = it == f.env.end() ? std::nullopt : it->second;
  }
  vars["HOME"] = r.user.home;
  for (const auto& name : k.env_reported) r.env[name] = vars[name] && !vars[name]->empty() ? vars[name] : std::nullopt;
  std::optional<Version> version;
  if (!read_claude(k, f, r, version)) {
    r.rule.clear();
    r.honors_claude_config_dir = false;
    return r;
  }
  apply_rule(k, f, vars, version, r);
  read_login_overrides(k, f, vars, r);
  return r;
}

Result<Locations> locations_with_env(const Knowledge& k, const ProbeReport& report, const EnvMap& overrides) {
  const Rule* rule = report.rule.empty() ? nullptr : k.rule_by_id(report.rule);
  if (!rule)
    return fail(ErrorKind::not_found, "the probe report's rule '" + report.rule + "' is not in this knowledge");
  EnvMap vars = report.env;
  vars["HOME"] = report.user.home;
  for (const auto& [key, value] : overrides) vars[key] = value;
  return resolve_locations(*rule, vars, {}, nullptr);
}

}  // namespace pb::probes
