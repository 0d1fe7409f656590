#include "broker/probe/probe_runner.hpp"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "broker/docker/archive_source.hpp"
#include "broker/docker/docker_client.hpp"
#include "broker/docker/guards.hpp"
#include "broker/objects/labels.hpp"
#include "core/c_handles.hpp"
#include "core/text.hpp"
#include "probes/cache.hpp"
#include "probes/facts.hpp"
#include "probes/interpret.hpp"
#include "probes/knowledge.hpp"

namespace pb::broker {

using probes::Facts;
using probes::Knowledge;
using probes::ProbeReport;

namespace {

constexpr std::size_t k_max_small_file = 1024 * 1024;  // /etc/passwd, package.json, settings.json
constexpr std::size_t k_max_changes = 20000;
const char* const k_default_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Reads one small regular file from a (created, maybe never started)
/// container through the archive API; nullopt when it is missing or not a
/// regular file; unsafe_input when it is larger than `max`.
Result<std::optional<std::string>> read_container_file(DockerClient& docker, const std::string& id,
                                                       const std::string& path, std::size_t max = k_max_small_file) {
  const std::string shown = printable(path);  // a path out of the image: it may hold anything
  auto dl = docker.archive_get(id, path);
  if (!dl.ok()) {
    if (dl.error().kind == ErrorKind::not_found) return std::optional<std::string>{};
    return std::move(dl).error();
  }
  if (dl->stat.is_dir() || dl->stat.is_symlink()) return std::optional<std::string>{};
  if (dl->stat.size < 0 || static_cast<std::uint64_t>(dl->stat.size) > max)
    return fail(ErrorKind::unsafe_input,
                shown + " in the image is larger than " + std::to_string(max / 1024) + " KiB; refusing it");
  ArchiveRead a(archive_read_new());
  if (!a) return fail(ErrorKind::failure, "cannot allocate an archive reader");
  archive_read_support_format_tar(a.get());
  // The bound leaves room for the tar headers and padding.
  ArchiveSource src(*dl->body, {.limit = max + 64 * 1024});
  // What ended a read: Docker's own error as Docker's (a lost connection is
  // no fault of the image), else the archive's bytes.
  auto unreadable = [&](const char* what) -> Error {
    if (const auto& e = src.error()) {
      if (e->kind != ErrorKind::unsafe_input) return *e;
      return fail(ErrorKind::unsafe_input, "the archive of " + shown + " from the image: " + e->message);
    }
    return fail(ErrorKind::unsafe_input, "the archive of " + shown + " from the image is " + what);
  };
  if (src.open(a.get()) != ARCHIVE_OK) return unreadable("not a tar stream");
  struct archive_entry* entry = nullptr;
  int rc = archive_read_next_header(a.get(), &entry);
  if (rc == ARCHIVE_EOF) return std::optional<std::string>{};
  if (rc != ARCHIVE_OK) return unreadable("malformed");
  if (archive_entry_filetype(entry) != AE_IFREG) return std::optional<std::string>{};
  if (archive_entry_size(entry) < 0 || static_cast<std::uint64_t>(archive_entry_size(entry)) > max)
    return fail(ErrorKind::unsafe_input, shown + " in the image is too large; refusing it");
  std::string data;
  data.resize(static_cast<std::size_t>(archive_entry_size(entry)));
  std::size_t got = 0;
  while (got < data.size()) {
    la_ssize_t n = archive_read_data(a.get(), data.data() + got, data.size() - got);
    if (n < 0) return unreadable("truncated");
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  data.resize(got);
  return std::optional<std::string>(std::move(data));
}

struct PasswdEntry {
  std::string name;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string home;
};

std::optional<std::uint32_t> parse_id(const std::string& s) {
  if (s.empty() || s.size() > 10 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  auto v = std::stoull(s);
  if (v > 0xFFFFFFFEull) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

std::vector<PasswdEntry> parse_passwd(const std::string& text) {
  std::vector<PasswdEntry> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line) && out.size() < 10000) {
    auto f = split(line, ':');
    if (f.size() < 7) continue;
    auto uid = parse_id(f[2]);
    auto gid = parse_id(f[3]);
    if (!uid || !gid) continue;
    out.push_back({f[0], *uid, *gid, f[5]});
  }
  return out;
}

std::optional<std::string> env_value(const std::vector<std::string>& env, const std::string& name) {
  std::optional<std::string> v;
  for (const auto& e : env)
    if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=')
      v = e.substr(name.size() + 1);
  return v;
}

/// Facts without running anything: /etc/passwd, package.json and links read
/// through the archive API of a created, never started container.
/// Who the image runs as, from its USER and /etc/passwd, without running anything.
Status static_user(DockerClient& docker, const std::string& id, const ImageInfo& info, Facts& f) {
  PB_TRY(auto passwd_text, read_container_file(docker, id, "/etc/passwd"));
  auto passwd = passwd_text ? parse_passwd(*passwd_text) : std::vector<PasswdEntry>{};
  std::string user = info.user.empty() ? "root" : info.user;
  std::string user_part = user.substr(0, user.find(':'));
  std::optional<std::string> group_part;
  if (user.find(':') != std::string::npos) group_part = user.substr(user.find(':') + 1);
  const PasswdEntry* pw = nullptr;
  if (auto uid = parse_id(user_part)) {
    f.uid = *uid;
    for (const auto& e : passwd)
      if (e.uid == *uid) {
        pw = &e;
        break;
      }
  } else {
    for (const auto& e : passwd)
      if (e.name == user_part) {
        pw = &e;
        break;
      }
    if (!pw)
      return fail(ErrorKind::failure, "image '" + printable(info.id, 80) + "' runs as user '" +
                                          printable(user_part, 80) + "', which its /etc/passwd does not define");
    f.uid = pw->uid;
  }
  f.gid = pw ? pw->gid : 0;
  if (group_part) {
    if (auto gid = parse_id(*group_part)) f.gid = *gid;
  }
  if (pw) {
    f.user = pw->name;
    f.passwd_home = pw->home;
    f.in_passwd = true;
  }
  auto home_env = env_value(info.env, "HOME");
  f.home = home_env && !home_env->empty() ? *home_env : (pw && !pw->home.empty() ? pw->home : "/");
  return {};
}

/// What the archive API says of `path` in the container; nullopt when it is absent.
Result<std::optional<PathStat>> stat_of(DockerClient& docker, const std::string& id, const std::string& path) {
  auto s = docker.archive_stat(id, path);
  if (!s.ok()) {
    if (s.error().kind == ErrorKind::not_found) return std::optional<PathStat>{};
    return std::move(s).error();
  }
  return std::optional<PathStat>(*s);
}

/// Where a link at `path` points (one step, normalized); `path` itself when it is no link.
std::string resolved_of(const std::string& path, const PathStat& st) {
  if (!st.is_symlink() || st.link_target.empty()) return path;
  if (st.link_target.front() == '/') return probes::normalize_path(st.link_target);
  return probes::normalize_path(path.substr(0, path.rfind('/') + 1) + st.link_target);
}

/// claude on the image's PATH, and the native installer's link.
Status static_claude(DockerClient& docker, const std::string& id, const ImageInfo& info, const Knowledge& k, Facts& f) {
  std::string path_env = env_value(info.env, "PATH").value_or(k_default_path);
  for (const auto& dir : split(path_env, ':')) {
    if (dir.empty() || dir.front() != '/') continue;
    std::string candidate = probes::normalize_path(dir + "/claude");
    PB_TRY(auto st, stat_of(docker, id, candidate));
    if (!st || st->is_dir()) continue;
    f.claude_link = candidate;
    f.claude_resolved = resolved_of(candidate, *st);
    break;
  }
  if (auto l = probes::expand_template(k.native_link, f.env)) {
    PB_TRY(auto st, stat_of(docker, id, *l));
    f.native_links.push_back(
        {*l, st.has_value(), st ? std::optional<std::string>(resolved_of(*l, *st)) : std::nullopt});
  }
  return {};
}

/// The Claude Code packages where claude points and where node_modules are (no globs: they need a shell).
Status static_packages(DockerClient& docker, const std::string& id, const Knowledge& k, Facts& f) {
  std::vector<std::string> pkg_dirs;
  const std::string marker = "/node_modules/" + k.package_name + "/";
  for (const auto& p : {f.claude_resolved, f.claude_link})
    if (p && p->find(marker) != std::string::npos)
      pkg_dirs.push_back(p->substr(0, p->find(marker) + marker.size() - 1));
  for (const auto& t : k.node_modules_dirs) {
    if (t.find('*') != std::string::npos) continue;  // globs need a shell
    if (auto d = probes::expand_template(t, f.env)) pkg_dirs.push_back(*d + "/" + k.package_name);
  }
  for (const auto& d : pkg_dirs) {
    if (std::any_of(f.packages.begin(), f.packages.end(), [&](const auto& p) { return p.dir == d; })) continue;
    PB_TRY(auto text, read_container_file(docker, id, d + "/package.json"));
    if (!text) continue;
    probes::PackageFact pf{d, std::nullopt, std::nullopt};
    try {
      auto j = nlohmann::json::parse(*text);
      if (j.is_object() && j.contains("name") && j["name"].is_string()) pf.name = j["name"].get<std::string>();
      if (j.is_object() && j.contains("version") && j["version"].is_string())
        pf.version = j["version"].get<std::string>();
    } catch (const nlohmann::json::exception&) {
      f.notes.push_back(d + "/package.json is not valid JSON");
    }
    f.packages.push_back(std::move(pf));
  }
  return {};
}

/// Which of the knowledge's paths exist, and which settings files carry the marker.
Status static_checks(DockerClient& docker, const std::string& id, const Knowledge& k, Facts& f) {
  for (const auto& t : probes::check_templates(k)) {
    auto p = probes::expand_template(t, f.env);
    if (!p) continue;
    PB_TRY(auto st, stat_of(docker, id, *p));
    probes::PathCheck pc;
    pc.exists = st.has_value();
    if (st && !st->is_dir() && !k.settings_marker.empty()) {
      auto text = read_container_file(docker, id, *p);
      if (text.ok() && *text) pc.marker = text->value().find(k.settings_marker) != std::string::npos;
    }
    f.checks[*p] = pc;
  }
  return {};
}

Result<Facts> static_facts(DockerClient& docker, const std::string& id, const ImageInfo& info, const Knowledge& k) {
  Facts f;
  f.notes.push_back("the image has no /bin/sh: its files were read through the archive API without running anything");
  PB_TRY_STATUS(static_user(docker, id, info, f));
  for (const auto& name : k.env_of_interest) f.env[name] = env_value(info.env, name);
  f.env["HOME"] = f.home;
  for (const auto& a : k.auth_env) {
    auto v = env_value(info.env, a.name);
    f.secrets[a.name] = v && !v->empty();
  }
  PB_TRY_STATUS(static_claude(docker, id, info, k, f));
  PB_TRY_STATUS(static_packages(docker, id, k, f));
  PB_TRY_STATUS(static_checks(docker, id, k, f));
  return f;
}

std::string short_id(const std::string& id) {
  std::string s = id.starts_with("sha256:") ? id.substr(7) : id;
  return printable(s.substr(0, 12));
}

/// Runs probe.sh in a container from the image; the container is removed on
/// every path.
Result<Facts> probe_facts(DockerClient& docker, const ImageInfo& info, const Knowledge& k, const ProbeOptions& opt) {
  ContainerSpec spec;
  spec.image = info.id;
  spec.entrypoint = std::vector<std::string>{"/bin/sh"};
  spec.cmd = {"-c", std::string(probes::embedded_probe_script()), "pb-probe"};
  for (auto& a : probes::probe_arguments(k)) spec.cmd.push_back(std::move(a));
  spec.network_mode = "none";
  spec.labels = labels::managed(Role::probe);
  spec.labels[k_probe_label] = "probe";
  spec.memory_bytes = 256LL * 1024 * 1024;
  spec.pids_limit = 64;
  spec.security_opt = {"no-new-privileges"};
  PB_TRY(std::string id, docker.container_create(spec));
  ContainerGuard guard(docker, id);

  auto sh = docker.archive_stat(id, "/bin/sh");
  if (!sh.ok()) {
    if (sh.error().kind != ErrorKind::not_found) return std::move(sh).error();
    return static_facts(docker, id, info, k);
  }
  PB_TRY_STATUS(docker.container_start(id));
  auto waited = docker.container_wait(id, opt.timeout);
  if (!waited.ok()) {
    (void)docker.container_kill(id, "SIGKILL");
    if (waited.error().kind == ErrorKind::timeout)
      return fail(ErrorKind::timeout, "probing image " + short_id(info.id) + " took longer than " +
                                          std::to_string(opt.timeout.count()) + " s; the probe was stopped");
    return std::move(waited).error();
  }
  LogOptions lo;
  lo.stderr_stream = false;
  lo.max_bytes = probes::k_max_probe_output + 1;
  PB_TRY(Logs logs, docker.container_logs(id, lo));
  if (logs.truncated || logs.out.size() > probes::k_max_probe_output)
    return fail(ErrorKind::unsafe_input,
                "the probe's output in image " + short_id(info.id) + " is too large; refusing it");
  if (waited->exit_code != 0)
    return fail(ErrorKind::failure, "the probe script failed in image " + short_id(info.id) + " (exit code " +
                                        std::to_string(waited->exit_code) + ")");
  PB_TRY(Facts f, probes::parse_probe_output(logs.out));
  f.notes.insert(f.notes.begin(), "probe.sh ran in a container from the image as its USER ('" +
                                      (info.user.empty() ? std::string("root") : info.user) + "'), without network");
  return f;
}

// ----------------------------------------------------------------- research

bool under_or_equal(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

bool strictly_under(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
}

/// Runs the installed Claude with the knowledge's harmless command and returns
/// the paths it added or changed (outside /tmp, /proc, /dev, /run).
Result<std::vector<std::string>> research_run(DockerClient& docker, const ImageInfo& info, const ProbeReport& r,
                                              const Knowledge& k, const std::optional<std::string>& config_dir) {
  ContainerSpec spec;
  spec.image = info.id;
  std::string exe = r.claude.link ? *r.claude.link : r.claude.path.value_or("claude");
  spec.entrypoint = std::vector<std::string>{exe};
  spec.cmd = k.research.command;
  spec.env = k.research.env;
  if (config_dir) spec.env.push_back("CLAUDE_CONFIG_DIR=" + *config_dir);
  spec.network_mode = "none";
  spec.labels = labels::managed(Role::probe);
  spec.labels[k_probe_label] = "research";
  spec.memory_bytes = k.research.memory_bytes;
  spec.pids_limit = 256;
  spec.security_opt = {"no-new-privileges"};
  PB_TRY(std::string id, docker.container_create(spec));
  ContainerGuard guard(docker, id);
  PB_TRY_STATUS(docker.container_start(id));
  auto waited = docker.container_wait(id, std::chrono::seconds(k.research.timeout_seconds));
  if (!waited.ok()) {
    (void)docker.container_kill(id, "SIGKILL");
    if (waited.error().kind != ErrorKind::timeout) return std::move(waited).error();
    (void)docker.container_wait(id, std::chrono::seconds(10));
  }
  PB_TRY(auto changes, docker.container_changes(id));
  std::vector<std::string> written;
  for (const auto& c : changes) {
    if (c.kind == FileChange::Kind::deleted) continue;
    const std::string& p = c.path;
    bool scratch = config_dir && under_or_equal(p, *config_dir);
    if (!scratch && (under_or_equal(p, "/tmp") || under_or_equal(p, "/proc") || under_or_equal(p, "/dev") ||
                     under_or_equal(p, "/run")))
      continue;
    if (written.size() >= k_max_changes) break;
    written.push_back(p);
  }
  std::sort(written.begin(), written.end());
  return written;
}

std::string basename_of(const std::string& p) {
  return p.substr(p.rfind('/') + 1);
}

std::string replace_prefix(const std::string& p, const std::string& from, const std::string& to) {
  if (under_or_equal(p, from)) return to + p.substr(from.size());
  // <cfg>.lock beside <cfg>
  if (p.size() > from.size() && p.compare(0, from.size(), from) == 0) return to + p.substr(from.size());
  return p;
}

/// Where the research run's writes show the config directory and the global
/// config to be, starting from the prediction in `r.locations`.
probes::Locations observed_locations(const ProbeReport& r, const Knowledge& k, const std::vector<std::string>& written,
                                     std::vector<std::string>& evidence) {
  // Candidate config directories: every alternative of every rule, expanded.
  probes::EnvMap vars = r.env;
  vars["HOME"] = r.user.home;
  std::vector<std::string> candidates;
  if (r.locations.config_dir) candidates.push_back(*r.locations.config_dir);
  for (const auto& rule : k.rules)
    for (const auto& alt : rule.config_dir)
      if (auto p = probes::expand_template(alt.path, vars))
        if (std::find(candidates.begin(), candidates.end(), *p) == candidates.end()) candidates.push_back(*p);
  std::optional<std::string> seen_cfg;
  for (const auto& c : candidates)
    if (std::any_of(written.begin(), written.end(), [&](const auto& w) { return strictly_under(w, c); })) {
      seen_cfg = c;
      break;
    }
  std::optional<std::string> seen_global;
  if (r.locations.global_config) {
    if (std::find(written.begin(), written.end(), *r.locations.global_config) != written.end()) {
      seen_global = r.locations.global_config;
    } else {
      std::string base = basename_of(*r.locations.global_config);
      for (const auto& w : written)
        if (basename_of(w) == base) {
          seen_global = w;
          break;
        }
    }
  }
  probes::Locations observed = r.locations;
  if (seen_cfg && r.locations.config_dir && *seen_cfg != *r.locations.config_dir) {
    const std::string from = *r.locations.config_dir;
    observed.config_dir = *seen_cfg;
    if (observed.credentials) observed.credentials = replace_prefix(*observed.credentials, from, *seen_cfg);
    for (auto& l : observed.locks) l = replace_prefix(l, from, *seen_cfg);
    observed.lock = observed.locks.empty() ? std::nullopt : std::optional<std::string>(observed.locks.front());
  }
  if (seen_global) observed.global_config = seen_global;
  evidence.push_back(seen_cfg ? "research: config directory observed at " + *seen_cfg
                              : "research: the run wrote nothing inside a config directory; the predicted one stands");
  evidence.push_back(seen_global ? "research: global config observed at " + *seen_global
                                 : "research: the run did not write the global config; the predicted one stands");
  return observed;
}

/// Whether the run with CLAUDE_CONFIG_DIR=`scratch` wrote there; nullopt when it wrote nothing.
std::optional<bool> honored_scratch(const std::vector<std::string>& written, const std::string& scratch,
                                    std::vector<std::string>& evidence) {
  std::optional<bool> honors;
  if (std::any_of(written.begin(), written.end(), [&](const auto& w) { return under_or_equal(w, scratch); }))
    honors = true;
  else if (!written.empty())
    honors = false;
  evidence.push_back(honors ? (*honors ? "research: with CLAUDE_CONFIG_DIR=" + scratch + " it wrote there"
                                       : "research: with CLAUDE_CONFIG_DIR=" + scratch + " it wrote elsewhere")
                            : "research: with CLAUDE_CONFIG_DIR=" + scratch + " it wrote nothing to decide by");
  return honors;
}

/// The observation replaces the prediction where they differ, and says so.
void settle(ProbeReport& r, probes::ResearchResult& rr) {
  rr.agrees = rr.observed == r.locations &&
              (!rr.honors_claude_config_dir || *rr.honors_claude_config_dir == r.honors_claude_config_dir);
  if (rr.agrees) {
    r.evidence.push_back("research: the observation agrees with the prediction");
    return;
  }
  r.warnings.push_back("research: what Claude Code did differs from the knowledge's prediction (rule " + r.rule +
                       "); the observation is reported");
  if (!(rr.observed == r.locations))
    r.evidence.push_back("research: predicted config " + r.locations.config_dir.value_or("(none)") + " and " +
                         r.locations.global_config.value_or("(none)") + ", observed " +
                         rr.observed.config_dir.value_or("(none)") + " and " +
                         rr.observed.global_config.value_or("(none)"));
  // What the image ships was checked at the predicted paths only.
  if (rr.observed.config_dir != r.locations.config_dir) r.in_image.config_dir.reset();
  if (rr.observed.global_config != r.locations.global_config) r.in_image.global_config.reset();
  r.locations = rr.observed;
  if (rr.honors_claude_config_dir) r.honors_claude_config_dir = *rr.honors_claude_config_dir;
}

Status research(DockerClient& docker, const ImageInfo& info, ProbeReport& r, const Knowledge& k) {
  r.method = "research";
  if (!r.claude.found) {
    r.evidence.push_back("research: nothing to run, the image has no Claude Code");
    return {};
  }
  PB_TRY(auto written, research_run(docker, info, r, k, std::nullopt));
  PB_TRY(auto written2, research_run(docker, info, r, k, k.research.scratch_config_dir));

  std::string cmd = "claude";
  for (const auto& c : k.research.command) cmd += " " + c;
  probes::ResearchResult rr;
  rr.written = written;
  std::string list;
  for (std::size_t i = 0; i < written.size() && i < 12; ++i) list += (i ? ", " : "") + written[i];
  r.evidence.push_back(
      "research: '" + cmd + "' (no network) wrote " +
      (written.empty() ? std::string("nothing outside /tmp") : list + (written.size() > 12 ? ", ..." : "")));
  rr.observed = observed_locations(r, k, written, r.evidence);
  rr.honors_claude_config_dir = honored_scratch(written2, k.research.scratch_config_dir, r.evidence);
  settle(r, rr);
  r.research = std::move(rr);
  return {};
}

}  // namespace

Result<ProbeReport> probe_image(DockerClient& docker, const Paths& paths, const std::string& image,
                                const ProbeOptions& options) {
  auto inspected = docker.image_inspect(image);
  if (!inspected.ok()) {
    if (inspected.error().kind == ErrorKind::not_found)
      return fail(ErrorKind::not_found, "image '" + image + "' not found; build or pull it first");
    return std::move(inspected).error();
  }
  const ImageInfo& info = *inspected;

  probes::ProbeCache cache(paths.cache_dir);
  if (!options.refresh) {
    const std::string version(probes::embedded_knowledge_version());
    if (auto hit = cache.load(info.id, version); hit && (!options.research || hit->method == "research")) {
      hit->image = image;
      // The cache is a file on disk: what it says is checked like a fresh probe.
      PB_TRY_STATUS(probes::check_paths(*hit));
      return std::move(*hit);
    }
  }
  const auto& kr = probes::builtin_knowledge();
  if (!kr.ok()) return kr.error();
  const Knowledge& k = kr.value();

  PB_TRY(Facts facts, probe_facts(docker, info, k, options));
  ProbeReport r = probes::interpret(k, facts);
  r.image = image;
  r.image_id = info.id;
  r.method = facts.notes.empty() || facts.notes.front().find("archive API") == std::string::npos ? "probe" : "static";
  // Every path here came out of the image: nothing uses one that could change
  // the meaning of a Docker argument or an archive request.
  PB_TRY_STATUS(probes::check_paths(r));
  if (!info.entrypoint.empty()) {
    std::string ep;
    for (const auto& e : info.entrypoint) ep += (ep.empty() ? "" : " ") + e;
    r.evidence.push_back("the image's entrypoint (" + ep.substr(0, 200) + ") was overridden for the probe");
  }
  if (options.research) {
    PB_TRY_STATUS(research(docker, info, r, k));
    PB_TRY_STATUS(probes::check_paths(r));
  }
  if (auto s = cache.store(r); !s.ok()) r.warnings.push_back("the probe cache was not updated: " + s.error().message);
  return r;
}

}  // namespace pb::broker
