#include "probes/report.hpp"

#include <nlohmann/json.hpp>
#include <sstream>

#include "core/json.hpp"
#include "core/names.hpp"
#include "core/text.hpp"

namespace pb::probes {

using nlohmann::json;

namespace {

json opt(const std::optional<std::string>& s) {
  return s ? json(*s) : json(nullptr);
}

json locations_json(const Locations& l) {
  return {{"config_dir", opt(l.config_dir)},
          {"global_config", opt(l.global_config)},
          {"credentials", opt(l.credentials)},
          {"lock", opt(l.lock)},
          {"locks", l.locks}};
}

struct BadReport {};

json opt_bool(const std::optional<bool>& b) {
  return b ? json(*b) : json(nullptr);
}

std::optional<bool> get_opt_bool(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  if (!j[key].is_boolean()) throw BadReport{};
  return j[key].get<bool>();
}

/// A uid or gid: a whole number that fits, not a float or a negative number cast.
std::uint32_t id_of(const json& j) {
  auto v = whole_number<std::uint32_t>(j);
  if (!v) throw BadReport{};
  return *v;
}

std::optional<std::string> get_opt(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  if (!j[key].is_string()) throw BadReport{};
  return j[key].get<std::string>();
}

std::vector<std::string> get_strings(const json& j, const char* key) {
  std::vector<std::string> out;
  if (!j.contains(key)) return out;
  for (const auto& e : j.at(key)) out.push_back(e.get<std::string>());
  return out;
}

Locations locations_from(const json& j) {
  if (!j.is_object()) throw BadReport{};
  Locations l;
  l.config_dir = get_opt(j, "config_dir");
  l.global_config = get_opt(j, "global_config");
  l.credentials = get_opt(j, "credentials");
  l.lock = get_opt(j, "lock");
  l.locks = get_strings(j, "locks");
  return l;
}

std::string show(const std::optional<std::string>& s, const char* none = "(none)") {
  return s ? *s : none;
}

}  // namespace

std::string report_to_json(const ProbeReport& r, int indent) {
  json env = json::object();
  for (const auto& [k, v] : r.env) env[k] = opt(v);
  json j = {
      {"schema", 1},
      {"image", r.image},
      {"image_id", r.image_id},
      {"claude",
       {{"found", r.claude.found},
        {"kind", r.claude.kind},
        {"version", opt(r.claude.version)},
        {"path", opt(r.claude.path)},
        {"link", opt(r.claude.link)}}},
      {"user", {{"name", opt(r.user.name)}, {"uid", r.user.uid}, {"gid", r.user.gid}, {"home", r.user.home}}},
      {"env", env},
      {"locations", locations_json(r.locations)},
      {"honors_claude_config_dir", r.honors_claude_config_dir},
      {"method", r.method},
      {"rule", r.rule.empty() ? json(nullptr) : json(r.rule)},
      {"knowledge_version", r.knowledge_version},
      {"login_keys", {{"credentials", r.login_credentials_keys}, {"global_config", r.login_global_config_keys}}},
      {"in_image",
       {{"config_dir", opt_bool(r.in_image.config_dir)}, {"global_config", opt_bool(r.in_image.global_config)}}},
      {"evidence", r.evidence},
      {"warnings", r.warnings},
      {"research", nullptr},
  };
  if (r.login_overrides) {
    j["login_overrides"] = json::array();
    for (const auto& o : *r.login_overrides)
      j["login_overrides"].push_back({{"name", o.name}, {"where", o.where}, {"why", o.why}});
  }
  if (r.research) {
    const auto& s = *r.research;
    j["research"] = {
        {"observed", locations_json(s.observed)},
        {"written", s.written},
        {"honors_claude_config_dir", s.honors_claude_config_dir ? json(*s.honors_claude_config_dir) : json(nullptr)},
        {"agrees", s.agrees}};
  }
  // Paths from an image may hold invalid UTF-8; replace rather than throw.
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

Result<ProbeReport> report_from_json(std::string_view text) {
  try {
    json j = json::parse(text);
    if (!j.is_object() || !j.contains("schema") || whole_number<int>(j["schema"]) != 1) throw BadReport{};
    ProbeReport r;
    r.image = j.at("image").get<std::string>();
    r.image_id = j.at("image_id").get<std::string>();
    const auto& c = j.at("claude");
    r.claude.found = c.at("found").get<bool>();
    r.claude.kind = c.at("kind").get<std::string>();
    r.claude.version = get_opt(c, "version");
    r.claude.path = get_opt(c, "path");
    r.claude.link = get_opt(c, "link");
    const auto& u = j.at("user");
    r.user.name = get_opt(u, "name");
    r.user.uid = id_of(u.at("uid"));
    r.user.gid = id_of(u.at("gid"));
    r.user.home = u.at("home").get<std::string>();
    for (auto it = j.at("env").begin(); it != j.at("env").end(); ++it)
      r.env[it.key()] = it->is_null() ? std::nullopt : std::optional<std::string>(it->get<std::string>());
    r.locations = locations_from(j.at("locations"));
    r.honors_claude_config_dir = j.at("honors_claude_config_dir").get<bool>();
    r.method = j.at("method").get<std::string>();
    r.rule = get_opt(j, "rule").value_or("");
    r.knowledge_version = j.at("knowledge_version").get<std::string>();
    r.login_credentials_keys = get_strings(j.at("login_keys"), "credentials");
    r.login_global_config_keys = get_strings(j.at("login_keys"), "global_config");
    if (j.contains("in_image") && !j["in_image"].is_null()) {
      const auto& ii = j["in_image"];
      if (!ii.is_object()) throw BadReport{};
      r.in_image.config_dir = get_opt_bool(ii, "config_dir");
      r.in_image.global_config = get_opt_bool(ii, "global_config");
    }
    if (!j.contains("login_overrides") || j["login_overrides"].is_null()) {
      r.login_overrides = std::nullopt;
    } else {
      const auto& lo = j["login_overrides"];
      if (!lo.is_array()) throw BadReport{};
      for (const auto& o : lo)
        r.login_overrides->push_back(
            {o.at("name").get<std::string>(), o.at("where").get<std::string>(), o.at("why").get<std::string>()});
    }
    r.evidence = get_strings(j, "evidence");
    r.warnings = get_strings(j, "warnings");
    if (j.contains("research") && !j["research"].is_null()) {
      const auto& s = j["research"];
      ResearchResult rr;
      rr.observed = locations_from(s.at("observed"));
      rr.written = get_strings(s, "written");
      if (!s.at("honors_claude_config_dir").is_null())
        rr.honors_claude_config_dir = s["honors_claude_config_dir"].get<bool>();
      rr.agrees = s.at("agrees").get<bool>();
      r.research = std::move(rr);
    }
    return r;
  } catch (const BadReport&) {
    return fail(ErrorKind::integrity, "the cached probe report is malformed");
  } catch (const json::exception&) {
    return fail(ErrorKind::integrity, "the cached probe report is malformed");
  }
}

Status check_paths(const ProbeReport& r) {
  const std::string of = " of image '" + printable(r.image, 120) + "'";
  auto check = [&](const std::optional<std::string>& p, const std::string& what) -> Status {
    if (!p) return {};
    return check_clean_absolute_path(*p, what + of);
  };
  PB_TRY_STATUS(check(r.user.home, "the HOME"));
  for (const auto& [name, value] : r.env)
    if (value && !value->empty()) PB_TRY_STATUS(check(value, name));
  PB_TRY_STATUS(check(r.locations.config_dir, "the config directory"));
  PB_TRY_STATUS(check(r.locations.global_config, "the global config"));
  PB_TRY_STATUS(check(r.locations.credentials, "the credentials file"));
  PB_TRY_STATUS(check(r.locations.lock, "the refresh lock"));
  for (const auto& l : r.locations.locks) PB_TRY_STATUS(check(l, "the refresh lock"));
  PB_TRY_STATUS(check(r.claude.path, "Claude Code's path"));
  PB_TRY_STATUS(check(r.claude.link, "Claude Code's link"));
  return {};
}

std::string report_to_text(const ProbeReport& r) {
  std::ostringstream o;
  o << "image:        " << r.image << " (" << r.image_id << ")\n";
  if (!r.claude.found) {
    o << "claude:       not found\n";
  } else {
    o << "claude:       " << r.claude.kind << " " << show(r.claude.version, "(version unknown)") << " at "
      << show(r.claude.path) << "\n";
  }
  o << "user:         " << show(r.user.name, "(no passwd entry)") << " uid=" << r.user.uid << " gid=" << r.user.gid
    << " home=" << r.user.home << "\n";
  for (const auto& [k, v] : r.env)
    if (v) o << "env:          " << k << "=" << *v << "\n";
  if (r.claude.found) {
    o << "config dir:   " << show(r.locations.config_dir) << "\n";
    o << "global config:"
      << " " << show(r.locations.global_config) << "\n";
    o << "credentials:  " << show(r.locations.credentials) << "\n";
    o << "refresh lock: " << show(r.locations.lock) << "\n";
    for (std::size_t i = 1; i < r.locations.locks.size(); ++i) o << "              " << r.locations.locks[i] << "\n";
    o << "CLAUDE_CONFIG_DIR honoured: " << (r.honors_claude_config_dir ? "yes" : "no") << "\n";
  }
  o << "method:       " << r.method << (r.rule.empty() ? "" : " (rule " + r.rule + ")") << "\n";
  if (r.research) {
    o << "research:     "
      << (r.research->agrees ? "observation agrees with the prediction"
                             : "observation differs from the prediction; the observation is reported")
      << "\n";
  }
  for (const auto& e : r.evidence) o << "  - " << e << "\n";
  for (const auto& w : r.warnings) o << "warning: " << w << "\n";
  // Strings come from the image: no terminal control sequences get through.
  std::string text = o.str();
  for (char& ch : text)
    if ((static_cast<unsigned char>(ch) < 0x20 && ch != '\n') || ch == 0x7f) ch = '?';
  return text;
}

}  // namespace pb::probes
