#include "probes/facts.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/json.hpp"

namespace pb::probes {

using nlohmann::json;

namespace {

struct BadFacts {
  std::string what;
};

[[noreturn]] void bad(const std::string& what) {
  throw BadFacts{what};
}

constexpr std::size_t k_max_string = 4096;
constexpr std::size_t k_max_items = 64;

std::optional<std::string> opt_string(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  if (!j[key].is_string()) bad(std::string("'") + key + "' is not a string");
  auto s = j[key].get<std::string>();
  if (s.size() > k_max_string) bad(std::string("'") + key + "' is too long");
  if (s.find('\0') != std::string::npos) bad(std::string("'") + key + "' contains NUL");
  return s;
}

std::optional<std::string> opt_path(const json& j, const char* key) {
  auto s = opt_string(j, key);
  if (s && (s->empty() || s->front() != '/')) bad(std::string("'") + key + "' is not an absolute path");
  return s;
}

std::optional<std::uint32_t> opt_id(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  if (!j[key].is_number_unsigned()) bad(std::string("'") + key + "' is not a number");
  auto v = j[key].get<std::uint64_t>();
  if (v > 0xFFFFFFFEu) bad(std::string("'") + key + "' is out of range");
  return static_cast<std::uint32_t>(v);
}

bool opt_bool(const json& j, const char* key, bool fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_boolean()) bad(std::string("'") + key + "' is not true or false");
  return j[key].get<bool>();
}

const json& list(const json& j, const char* key) {
  static const json k_empty = json::array();
  if (!j.contains(key)) return k_empty;
  if (!j[key].is_array()) bad(std::string("'") + key + "' is not a list");
  if (j[key].size() > k_max_items) bad(std::string("'") + key + "' has too many entries");
  return j[key];
}

bool is_name(const std::string& n) {
  if (n.empty() || n.size() > 128 || (n[0] >= '0' && n[0] <= '9')) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Facts parse(const json& j) {
  if (!j.is_object()) bad("it is not a JSON object");
  if (!j.contains("probe") || whole_number<int>(j["probe"]) != 1) bad("it does not come from probe version 1");
  Facts f;
  f.uid = opt_id(j, "uid");
  f.gid = opt_id(j, "gid");
  f.user = opt_string(j, "user");
  if (f.user && (f.user->empty() || f.user->find_first_of("/:\n") != std::string::npos)) f.user.reset();
  f.home = opt_path(j, "home");
  f.passwd_home = opt_string(j, "passwd_home");
  if (f.passwd_home && (f.passwd_home->empty() || f.passwd_home->front() != '/')) f.passwd_home.reset();
  f.in_passwd = opt_bool(j, "in_passwd", false);
  f.can_resolve_links = opt_bool(j, "readlink", true);

  for (const char* section : {"env", "secrets"}) {
    if (!j.contains(section)) continue;
    const json& e = j[section];
    if (!e.is_object() || e.size() > k_max_items) bad(std::string("'") + section + "' is not a small object");
    for (auto it = e.begin(); it != e.end(); ++it) {
      if (!is_name(it.key())) bad(std::string("'") + section + "' has a bad variable name");
      if (std::string_view(section) == "env") {
        if (it->is_null()) {
          f.env[it.key()] = std::nullopt;
        } else if (it->is_string()) {
          auto v = it->get<std::string>();
          if (v.size() > k_max_string || v.find('\0') != std::string::npos) bad("an environment value is too long");
          f.env[it.key()] = std::move(v);
        } else {
          bad("an environment value is not a string");
        }
      } else {
        if (!it->is_boolean()) bad("a secret's presence is not true or false");
        f.secrets[it.key()] = it->get<bool>();
      }
    }
  }

  if (j.contains("claude")) {
    const json& c = j["claude"];
    if (!c.is_object()) bad("'claude' is not an object");
    f.claude_link = opt_path(c, "link");
    f.claude_resolved = opt_path(c, "resolved");
  }
  for (const auto& l : list(j, "native_links")) {
    if (!l.is_object()) bad("a native link is not an object");
    auto p = opt_path(l, "path");
    if (!p) continue;  // template with unset variables
    f.native_links.push_back({normalize_path(*p), opt_bool(l, "exists", false), opt_path(l, "resolved")});
  }
  for (const auto& p : list(j, "packages")) {
    if (!p.is_object()) bad("a package is not an object");
    auto dir = opt_path(p, "dir");
    if (!dir) bad("a package has no directory");
    f.packages.push_back({*dir, opt_string(p, "name"), opt_string(p, "version")});
  }
  for (const auto& c : list(j, "checks")) {
    if (!c.is_object()) bad("a path check is not an object");
    auto p = opt_string(c, "path");
    if (!p || p->empty() || p->front() != '/') continue;  // expanded from unset variables
    PathCheck pc;
    pc.exists = opt_bool(c, "exists", false);
    if (c.contains("marker") && !c["marker"].is_null()) pc.marker = opt_bool(c, "marker", false);
    f.checks[normalize_path(*p)] = pc;
  }
  return f;
}

void add_unique(std::vector<std::string>& v, std::string s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(std::move(s));
}

}  // namespace

std::string normalize_path(std::string_view p) {
  std::string out;
  out.reserve(p.size());
  for (char c : p) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out.push_back(c);
  }
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

Result<Facts> parse_probe_output(std::string_view output) {
  if (output.size() > k_max_probe_output)
    return fail(ErrorKind::unsafe_input,
                "the probe's output is larger than " + std::to_string(k_max_probe_output / 1024) + " KiB; refusing it");
  // The script prints one line; anything before it (an image's noisy shell
  // profile) is ignored, the last non-empty line is the report.
  auto end = output.find_last_not_of("\r\n \t");
  if (end == std::string_view::npos) return fail(ErrorKind::unsafe_input, "the probe printed nothing");
  auto start = output.rfind('\n', end);
  std::string_view line = output.substr(start == std::string_view::npos ? 0 : start + 1,
                                        end + 1 - (start == std::string_view::npos ? 0 : start + 1));
  try {
    json j = json::parse(line, nullptr, true, false);
    return parse(j);
  } catch (const BadFacts& e) {
    return fail(ErrorKind::unsafe_input, "the probe's output was refused: " + e.what);
  } catch (const json::exception&) {
    return fail(ErrorKind::unsafe_input, "the probe's output is not valid JSON");
  }
}

std::vector<std::string> check_templates(const Knowledge& k) {
  std::vector<std::string> config_dirs;
  for (const auto& r : k.rules)
    for (const auto& a : r.config_dir) add_unique(config_dirs, a.path);
  std::vector<std::string> raw = k.settings_files;
  // Every config directory and global config (whether the image ships them
  // tells a mount what to copy), and the credentials alternatives chosen by existence.
  for (const auto& r : k.rules) {
    for (const auto* alts : {&r.config_dir, &r.global_config})
      for (const auto& a : *alts) raw.push_back(a.path);
    for (const auto& a : r.credentials)
      if (a.if_exists) raw.push_back(a.path);
  }
  std::vector<std::string> out;
  const std::string key = "${config_dir}";
  for (const auto& t : raw) {
    auto pos = t.find(key);
    if (pos == std::string::npos) {
      add_unique(out, t);
      continue;
    }
    for (const auto& cd : config_dirs) {
      std::string e = t;
      for (auto p = e.find(key); p != std::string::npos; p = e.find(key, p + cd.size())) e.replace(p, key.size(), cd);
      add_unique(out, e);
    }
  }
  return out;
}

std::vector<std::string> probe_arguments(const Knowledge& k) {
  std::vector<std::string> a;
  auto add = [&](const char* flag, const std::string& v) {
    a.emplace_back(flag);
    a.push_back(v);
  };
  add("-p", k.package_name);
  if (!k.settings_marker.empty()) add("-m", k.settings_marker);
  for (const auto& v : k.env_of_interest) add("-v", v);
  for (const auto& s : k.auth_env) add("-s", s.name);
  for (const auto& d : k.node_modules_dirs) add("-n", d);
  add("-l", k.native_link);
  for (const auto& t : check_templates(k)) add("-e", t);
  return a;
}

std::optional<std::string> expand_template(std::string_view tmpl,
                                           const std::map<std::string, std::optional<std::string>>& vars) {
  std::string out;
  std::size_t i = 0;
  while (i < tmpl.size()) {
    auto d = tmpl.find("${", i);
    if (d == std::string_view::npos) {
      out.append(tmpl.substr(i));
      break;
    }
    out.append(tmpl.substr(i, d - i));
    auto close = tmpl.find('}', d + 2);
    if (close == std::string_view::npos) return std::nullopt;
    auto it = vars.find(std::string(tmpl.substr(d + 2, close - d - 2)));
    if (it == vars.end() || !it->second || it->second->empty()) return std::nullopt;
    out.append(*it->second);
    i = close + 1;
  }
  return normalize_path(out);
}

}  // namespace pb::probes
