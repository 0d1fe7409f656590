#include "probes/knowledge.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <regex>

namespace pb::probes {

using nlohmann::json;

bool Rule::measured_at(const Version& v) const {
  return std::any_of(measured.begin(), measured.end(), [&](const auto& r) { return v >= r.first && v <= r.second; });
}

const Rule& Knowledge::rule_for(const std::optional<Version>& v) const {
  if (v)
    for (const auto& r : rules)
      if (r.covers(*v)) return r;
  return rules.back();
}

const Rule* Knowledge::rule_by_id(std::string_view id) const {
  for (const auto& r : rules)
    if (r.id == id) return &r;
  return nullptr;
}

std::optional<std::vector<std::string>> template_variables(std::string_view tmpl) {
  std::vector<std::string> names;
  std::size_t i = 0;
  while ((i = tmpl.find('$', i)) != std::string_view::npos) {
    if (i + 1 >= tmpl.size() || tmpl[i + 1] != '{') return std::nullopt;
    auto close = tmpl.find('}', i + 2);
    if (close == std::string_view::npos) return std::nullopt;
    std::string name(tmpl.substr(i + 2, close - i - 2));
    if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return std::nullopt;
    for (char c : name)
      if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
        return std::nullopt;
    names.push_back(std::move(name));
    i = close + 1;
  }
  return names;
}

namespace {

// Thrown only inside parse_knowledge() and caught there.
struct KnowledgeError {
  std::string message;
};

[[noreturn]] void bad(const std::string& what) {
  throw KnowledgeError{what};
}

Version version_field(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j[key].is_string()) bad(where + ": '" + key + "' must be a version string");
  auto v = parse_version(j[key].get<std::string>());
  if (!v) bad(where + ": '" + key + "' is not a version");
  return *v;
}

std::vector<std::string> strings(const json& j, const char* key, bool required = true) {
  if (!j.contains(key)) {
    if (required) bad(std::string("'") + key + "' is missing");
    return {};
  }
  if (!j[key].is_array()) bad(std::string("'") + key + "' must be a list of strings");
  std::vector<std::string> out;
  for (const auto& e : j[key]) {
    if (!e.is_string()) bad(std::string("'") + key + "' must be a list of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

std::string string_field(const json& j, const char* key, bool required = true) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) bad(std::string("'") + key + "' is missing");
    return {};
  }
  if (!j[key].is_string()) bad(std::string("'") + key + "' must be a string");
  return j[key].get<std::string>();
}

class TemplateChecker {
 public:
  explicit TemplateChecker(const std::vector<std::string>& env) : m_env(env) {}
  void check(const std::string& tmpl, const std::string& where, bool allow_config_dir, bool allow_glob = false) const {
    if (tmpl.empty() || tmpl.size() > 512) bad(where + ": empty or over-long template");
    if (tmpl.front() != '/' && tmpl.front() != '$') bad(where + ": template '" + tmpl + "' is not absolute");
    for (char c : tmpl) {
      bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                std::string_view("_./${}@+-").find(c) != std::string_view::npos || (allow_glob && c == '*');
      if (!ok) bad(where + ": template '" + tmpl + "' has a character outside [A-Za-z0-9_./${}@+-]");
    }
    auto vars = template_variables(tmpl);
    if (!vars) bad(where + ": template '" + tmpl + "' is malformed");
    for (const auto& v : *vars) {
      if (v == "config_dir" && allow_config_dir) continue;
      if (std::find(m_env.begin(), m_env.end(), v) == m_env.end())
        bad(where + ": template '" + tmpl + "' uses ${" + v + "}, which is not in env_of_interest");
    }
  }

 private:
  const std::vector<std::string>& m_env;
};

std::vector<PathAlternative> alternatives(const json& rule, const char* key, const std::string& where,
                                          const TemplateChecker& tc, bool allow_config_dir) {
  if (!rule.contains(key) || !rule[key].is_array()) bad(where + ": '" + key + "' must be a list");
  std::vector<PathAlternative> out;
  for (const auto& e : rule[key]) {
    PathAlternative a;
    if (e.is_string()) {
      a.path = e.get<std::string>();
    } else if (e.is_object() && e.contains("path") && e["path"].is_string()) {
      a.path = e["path"].get<std::string>();
      if (e.contains("if_exists")) {
        if (!e["if_exists"].is_boolean()) bad(where + ": 'if_exists' must be true or false");
        a.if_exists = e["if_exists"].get<bool>();
      }
    } else {
      bad(where + ": each entry of '" + key + "' must be a template or {\"path\": ...}");
    }
    tc.check(a.path, where + "." + key, allow_config_dir);
    out.push_back(std::move(a));
  }
  return out;
}

void parse_env(const json& j, Knowledge& k) {
  k.env_of_interest = strings(j, "env_of_interest");
  for (const auto& n : k.env_of_interest)
    if (!template_variables("${" + n + "}")) bad("env_of_interest: '" + n + "' is not a variable name");
  k.env_reported = strings(j, "env_reported");
  for (const auto& n : k.env_reported)
    if (std::find(k.env_of_interest.begin(), k.env_of_interest.end(), n) == k.env_of_interest.end())
      bad("env_reported: '" + n + "' is not in env_of_interest");
}

void parse_installation(const json& j, const TemplateChecker& tc, Knowledge& k) {
  if (!j.contains("package") || !j["package"].is_object()) bad("'package' is missing");
  k.package_name = string_field(j["package"], "name");
  if (!template_variables(k.package_name) || k.package_name.find('$') != std::string::npos ||
      k.package_name.find("..") != std::string::npos)
    bad("package.name is not a package name");
  k.node_modules_dirs = strings(j["package"], "node_modules_dirs");
  for (const auto& d : k.node_modules_dirs) tc.check(d, "package.node_modules_dirs", false, true);

  if (!j.contains("native_installer") || !j["native_installer"].is_object()) bad("'native_installer' is missing");
  k.native_link = string_field(j["native_installer"], "link");
  tc.check(k.native_link, "native_installer.link", false);
}

KindRule parse_kind(const json& e) {
  KindRule kr;
  kr.kind = string_field(e, "kind");
  if (kr.kind != "npm-js" && kr.kind != "npm-native" && kr.kind != "native-installer")
    bad("kinds: '" + kr.kind + "' is not one of npm-js, npm-native, native-installer");
  kr.description = string_field(e, "description", false);
  kr.path_regex = string_field(e, "path_regex");
  kr.version_regex = string_field(e, "version_regex", false);
  try {
    std::regex r1(kr.path_regex);
    if (!kr.version_regex.empty()) {
      std::regex r2(kr.version_regex);
      if (r2.mark_count() < 1) bad("kinds." + kr.kind + ": version_regex needs a group");
    }
  } catch (const std::regex_error&) {
    bad("kinds." + kr.kind + ": a regex does not compile");
  }
  return kr;
}

/// What hides a mounted login: variables of the environment, a settings key.
void parse_overrides(const json& j, const TemplateChecker& tc, Knowledge& k) {
  if (j.contains("auth_env")) {
    if (!j["auth_env"].is_array()) bad("'auth_env' must be a list");
    for (const auto& e : j["auth_env"]) {
      AuthEnv a{string_field(e, "name"), string_field(e, "why")};
      if (!template_variables("${" + a.name + "}")) bad("auth_env: '" + a.name + "' is not a variable name");
      k.auth_env.push_back(std::move(a));
    }
  }
  k.settings_marker = string_field(j, "settings_marker", false);
  for (char c : k.settings_marker)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      bad("settings_marker must be a word");
  k.settings_files = strings(j, "settings_files", false);
  for (const auto& s : k.settings_files) tc.check(s, "settings_files", true);
}

std::vector<std::pair<Version, Version>> parse_measured(const json& e, const std::string& where) {
  std::vector<std::pair<Version, Version>> out;
  if (!e.contains("measured")) return out;
  if (!e["measured"].is_array()) bad(where + ": 'measured' must be a list of [first, last]");
  for (const auto& m : e["measured"]) {
    if (!m.is_array() || m.size() != 2 || !m[0].is_string() || !m[1].is_string())
      bad(where + ": 'measured' must be a list of [first, last]");
    auto a = parse_version(m[0].get<std::string>());
    auto b = parse_version(m[1].get<std::string>());
    if (!a || !b || *b < *a) bad(where + ": a measured range is not a version range");
    out.emplace_back(*a, *b);
  }
  return out;
}

Rule parse_rule(const json& e, const TemplateChecker& tc) {
  if (!e.is_object()) bad("each rule must be an object");
  Rule r;
  r.id = string_field(e, "id");
  std::string where = "rule " + r.id;
  r.from = version_field(e, "from", where);
  if (e.contains("until") && !e["until"].is_null()) r.until = version_field(e, "until", where);
  if (r.until && !(r.from < *r.until)) bad(where + ": 'until' must be after 'from'");
  r.measured = parse_measured(e, where);
  if (!e.contains("honors_claude_config_dir") || !e["honors_claude_config_dir"].is_boolean())
    bad(where + ": 'honors_claude_config_dir' must be true or false");
  r.honors_claude_config_dir = e["honors_claude_config_dir"].get<bool>();
  r.config_dir = alternatives(e, "config_dir", where, tc, false);
  if (r.config_dir.empty()) bad(where + ": 'config_dir' needs at least one alternative");
  r.global_config = alternatives(e, "global_config", where, tc, true);
  r.credentials = alternatives(e, "credentials", where, tc, true);
  r.locks = strings(e, "locks");
  for (const auto& l : r.locks) tc.check(l, where + ".locks", true);
  r.notes = strings(e, "notes", false);
  return r;
}

void parse_rules(const json& j, const TemplateChecker& tc, Knowledge& k) {
  if (!j.contains("rules") || !j["rules"].is_array() || j["rules"].empty()) bad("'rules' must be a non-empty list");
  for (const auto& e : j["rules"]) {
    Rule r = parse_rule(e, tc);
    if (!k.rules.empty()) {
      const Rule& prev = k.rules.back();
      if (!prev.until || !(*prev.until == r.from)) bad("rule " + r.id + ": ranges must be sorted and contiguous");
    }
    k.rules.push_back(std::move(r));
  }
  if (k.rules.back().until) bad("the last rule must be open-ended (until: null)");
}

void parse_research(const json& j, const TemplateChecker& tc, Knowledge& k) {
  if (!j.contains("research") || !j["research"].is_object()) bad("'research' is missing");
  const auto& rs = j["research"];
  k.research.command = strings(rs, "command");
  k.research.env = strings(rs, "env", false);
  for (const auto& e : k.research.env) {
    auto eq = e.find('=');
    if (eq == std::string::npos || !template_variables("${" + e.substr(0, eq) + "}"))
      bad("research.env: '" + e + "' is not KEY=value");
  }
  if (!rs.contains("timeout_seconds") || !rs["timeout_seconds"].is_number_integer())
    bad("research.timeout_seconds is missing");
  k.research.timeout_seconds = rs["timeout_seconds"].get<int>();
  if (k.research.timeout_seconds < 1 || k.research.timeout_seconds > 600)
    bad("research.timeout_seconds is out of range");
  if (!rs.contains("memory_bytes") || !rs["memory_bytes"].is_number_integer()) bad("research.memory_bytes is missing");
  k.research.memory_bytes = rs["memory_bytes"].get<long long>();
  if (k.research.memory_bytes < (64LL << 20)) bad("research.memory_bytes is too small");
  k.research.scratch_config_dir = string_field(rs, "scratch_config_dir");
  tc.check(k.research.scratch_config_dir, "research.scratch_config_dir", false);
}

Knowledge parse(const json& j) {
  if (!j.is_object()) bad("the top level must be an object");
  if (!j.contains("schema") || !j["schema"].is_number_integer()) bad("'schema' is missing");
  if (j["schema"].get<int>() != 1)
    bad("schema " + j["schema"].dump() + " is not supported (this build reads schema 1)");
  Knowledge k;
  k.knowledge_version = string_field(j, "knowledge_version");
  parse_env(j, k);
  TemplateChecker tc(k.env_of_interest);
  parse_installation(j, tc, k);
  if (!j.contains("kinds") || !j["kinds"].is_array() || j["kinds"].empty()) bad("'kinds' must be a non-empty list");
  for (const auto& e : j["kinds"]) k.kinds.push_back(parse_kind(e));
  parse_overrides(j, tc, k);
  parse_rules(j, tc, k);
  if (!j.contains("login_state") || !j["login_state"].is_object()) bad("'login_state' is missing");
  const auto& ls = j["login_state"];
  k.login_state.credentials_keys = strings(ls, "credentials_keys");
  k.login_state.global_config_keys = strings(ls, "global_config_keys");
  k.login_state.onboarding_key = string_field(ls, "onboarding_key");
  k.login_state.account_key = string_field(ls, "account_key");
  parse_research(j, tc, k);
  return k;
}

}  // namespace

Result<Knowledge> parse_knowledge(std::string_view json_text) {
  try {
    json j = json::parse(json_text);
    return parse(j);
  } catch (const KnowledgeError& e) {
    return fail(ErrorKind::integrity, "the Claude Code knowledge file is invalid: " + e.message);
  } catch (const json::exception&) {
    return fail(ErrorKind::integrity, "the Claude Code knowledge file is not valid JSON");
  }
}

const Result<Knowledge>& builtin_knowledge() {
  static const Result<Knowledge> k_knowledge = parse_knowledge(embedded_knowledge_json());
  return k_knowledge;
}

}  // namespace pb::probes
