#include "broker/audit/report.hpp"

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <sstream>

#include "broker/dispatch/dispatch.hpp"
#include "broker/docker/docker_client.hpp"
#include "broker/objects/labels.hpp"
#include "broker/objects/liveness.hpp"
#include "core/json.hpp"
#include "core/text.hpp"
#include "vault/view.hpp"

namespace pb::broker::audit {
namespace {

constexpr std::int64_t k_day_ms = 24LL * 3600 * 1000;

using labels::label_of;

std::string human_bytes(std::uint64_t b) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(1);
  if (b >= (1ULL << 30)) {
    s << static_cast<double>(b) / static_cast<double>(1ULL << 30) << " GiB";
  } else {
    s << static_cast<double>(b) / static_cast<double>(1ULL << 20) << " MiB";
  }
  return s.str();
}

std::string short_id(std::string_view id) {
  if (id.starts_with("sha256:")) id.remove_prefix(7);
  return std::string(id.substr(0, 12));
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string layer_text(const ImageFinding& f, std::size_t layers) {
  if (f.layer_index < 0) return escape_controls(f.layer_path);
  std::string t = std::to_string(f.layer_index + 1) + "/" + std::to_string(layers);
  if (!f.diff_id.empty()) t += " " + short_id(f.diff_id);
  return t;
}

std::string fate_text(const ImageFinding& f) {
  switch (f.fate) {
    case Fate::present:
      return "in the image's files";
    case Fate::deleted:
      return "deleted in layer " + std::to_string(f.fate_layer + 1) + ", still in the image";
    case Fate::replaced:
      return "overwritten in layer " + std::to_string(f.fate_layer + 1) + ", still in the image";
  }
  return {};
}

std::string credential_label(const vault::EntryMeta& m) {
  return "credential '" + m.name + "'";
}

}  // namespace

std::string_view expiry_state_name(ExpiryState s) {
  switch (s) {
    case ExpiryState::valid:
      return "valid";
    case ExpiryState::expiring:
      return "expiring";
    case ExpiryState::expired:
      return "expired";
    case ExpiryState::no_expiry:
      return "no-expiry";
    case ExpiryState::unknown:
      return "unknown";
  }
  return "unknown";
}

ExpiryState expiry_state(const vault::EntryMeta& meta, std::int64_t now_ms, int warn_days) {
  if (meta.kind == "api-key") return ExpiryState::no_expiry;
  if (!meta.expires_at) return ExpiryState::unknown;
  if (*meta.expires_at <= now_ms) return ExpiryState::expired;
  // An OAuth login carries a refresh token: Claude Code renews its ~8-hour
  // access token before it runs out, so only a token that is never renewed
  // (a setup token) is "expiring".
  if (meta.kind != "oauth" && *meta.expires_at - now_ms <= static_cast<std::int64_t>(warn_days) * k_day_ms)
    return ExpiryState::expiring;
  return ExpiryState::valid;
}

// ---------------------------------------------------------------- Docker

namespace {

/// What killed probes, imports and logins left: the rule gc removes them by (broker/objects/labels.hpp).
std::vector<LeftoverContainer> leftover_containers(const std::vector<ContainerSummary>& containers, long long now) {
  std::vector<LeftoverContainer> out;
  for (const auto& c : containers) {
    const std::string name = c.names.empty() ? short_id(c.id) : c.names.front();
    const labels::Leftover kind = labels::leftover(c, now, labels::k_default_grace_seconds);
    if (kind == labels::Leftover::probe) out.push_back({name, "probe", c.state, "left by a probe that was killed"});
    if (kind == labels::Leftover::login)
      out.push_back({name, "login", c.state,
                     "left by a login that did not finish; its staging volume holds that login unencrypted"});
    if (kind == labels::Leftover::import) out.push_back({name, "import", c.state, "left by an import that was killed"});
  }
  std::sort(out.begin(), out.end(),
            [](const LeftoverContainer& a, const LeftoverContainer& b) { return a.name < b.name; });
  return out;
}

/// One volume as its labels and the engine's use describe it; a live hold
/// counts for the login volume it holds in `live_holds`.
VolumeUse volume_use(const VolumeInfo& v, liveness::Usage& usage, long long now,
                     std::map<std::string, std::size_t>& live_holds) {
  VolumeUse u;
  u.name = v.name;
  u.role = labels::role_of(v.labels);
  u.role_label = label_of(v.labels, labels::k_role);
  u.credential = label_of(v.labels, labels::k_credential);
  u.session = label_of(v.labels, labels::k_session);
  u.shared = label_of(v.labels, labels::k_volume);
  u.image = label_of(v.labels, labels::k_image);
  if (u.role == Role::hold) {
    // A session's own config volume is used by its container; an empty hold
    // of an earlier release counts the users of the volume it holds.
    const bool config_hold = !label_of(v.labels, labels::k_config).empty();
    auto verdict = liveness::hold(v, config_hold, usage, now, labels::k_default_grace_seconds);
    u.containers = verdict.containers;
    if (verdict.live()) {
      ++live_holds[u.shared];
    } else {
      u.stale = true;
      u.why = "no container of session '" + u.session + "' exists";
    }
  } else if (u.role == Role::staging) {
    auto verdict = liveness::staging(v, usage, now, labels::k_default_grace_seconds);
    u.containers = verdict.containers;
    if (!verdict.live()) {
      u.stale = true;
      u.why = "left by a login that did not finish, it holds that login unencrypted";
    }
  } else {
    u.containers = usage.users[u.name];
    // The relay copies refreshed logins between the login volumes it mounts.
    for (const auto& relay : usage.relays[u.name]) u.containers.push_back(relay + " (relay)");
  }
  return u;
}

/// Login volumes no live session holds and nothing uses, and lock volumes
/// with no login volume left beside them, are stale.
void mark_stale_logins_and_locks(std::vector<VolumeUse>& volumes, const liveness::Usage& usage,
                                 std::map<std::string, std::size_t>& live_holds) {
  std::set<std::string> with_login;  // credentials with a login volume beside a lock volume
  for (const auto& u : volumes)
    if (u.role == Role::login && dispatch::is_beside_lock(u.name)) with_login.insert(u.credential);
  for (auto& u : volumes) {
    if (u.role == Role::lock && u.containers.empty() && !with_login.count(u.credential)) {
      u.stale = true;
      u.why = "no login volume of its credential is left";
    }
    if (u.role != Role::login || liveness::login_volume(u.name, usage, live_holds[u.name]).live()) continue;
    u.stale = true;
    u.why = "no container uses it and no live session holds it";
  }
}

}  // namespace

DockerPart collect_docker(DockerClient& docker) {
  DockerPart part;
  part.endpoint = docker.endpoint();
  auto volumes = docker.volume_list({std::string(labels::k_managed) + "=1"});
  if (!volumes) {
    part.error = volumes.error().message;
    return part;
  }
  part.looked = true;

  auto containers = docker.container_list({});
  if (!containers) {
    part.looked = false;
    part.error = containers.error().message;
    return part;
  }
  labels::disown_inherited_roles(docker, *containers);
  const long long now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  part.leftovers = leftover_containers(*containers, now);
  // Who uses what, judged by the rules gc acts on (broker/objects/liveness.hpp).
  liveness::Usage usage;
  if (!volumes->empty()) {
    auto observed = liveness::observe(docker, *containers, now, labels::k_default_grace_seconds);
    if (!observed) {
      part.looked = false;
      part.error = observed.error().message;
      return part;
    }
    usage = std::move(*observed);
  }
  part.relays_down = usage.relays_down;
  std::map<std::string, std::size_t> live_holds;  // login volume -> holds that are live
  for (const auto& v : *volumes) part.volumes.push_back(volume_use(v, usage, now, live_holds));
  mark_stale_logins_and_locks(part.volumes, usage, live_holds);
  std::sort(part.volumes.begin(), part.volumes.end(), [](const VolumeUse& a, const VolumeUse& b) {
    return std::tie(a.role_label, a.name) < std::tie(b.role_label, b.name);
  });
  return part;
}

// ---------------------------------------------------------------- images

std::string image_reference(const ImageEntry& image) {
  for (const auto& t : image.tags)
    if (t != "<none>:<none>") return t;
  return image.id;
}

ImagesPart scan_local_images(DockerClient& docker, const ImageProgress& progress,
                             const std::vector<std::string>& only) {
  ImagesPart part;
  std::vector<ImageSummary> list;
  if (only.empty()) {
    auto all = docker.image_list({});
    if (!all) {
      part.error = all.error().message;
      return part;
    }
    list = std::move(*all);
  } else {
    for (const auto& ref : only) {
      auto info = docker.image_inspect(ref);
      if (!info) {
        part.error = info.error().message;
        return part;
      }
      list.push_back({info->id, info->repo_tags, info->labels, info->size, 0});
    }
  }
  part.looked = true;
  for (const auto& summary : list) {
    ImageEntry entry;
    entry.id = summary.id;
    for (const auto& t : summary.repo_tags)
      if (t != "<none>:<none>") entry.tags.push_back(t);
    const std::string ref = image_reference(entry);
    ScanOptions options;
    if (auto info = docker.image_inspect(summary.id)) options.diff_ids = info->layers;
    if (progress) options.progress = [&](std::uint64_t bytes) { progress(ref, bytes); };
    auto stream = docker.image_export(summary.id);
    if (!stream) {
      entry.error = stream.error().message;
      part.images.push_back(std::move(entry));
      continue;
    }
    auto scan = scan_image_export(**stream, options);
    ++part.scanned;
    if (!scan) {
      entry.error = "image " + ref + " could not be scanned: " + scan.error().message;
      part.images.push_back(std::move(entry));
      continue;
    }
    part.bytes += scan->bytes;
    if (!scan->findings.empty() || scan->findings_dropped > 0 || !scan->warnings.empty()) {
      entry.scan = std::move(*scan);
      part.images.push_back(std::move(entry));
    }
  }
  return part;
}

// ---------------------------------------------------------------- assembly

void attach_credentials(Report& report, const vault::Listing& listing) {
  report.damaged = listing.damaged;
  for (auto& v : report.docker.volumes) {
    const bool ours = std::any_of(listing.entries.begin(), listing.entries.end(),
                                  [&](const vault::EntryMeta& m) { return m.id == v.credential; });
    if (v.stale && !ours && v.role != Role::staging) {
      v.why += "; its credential is not in this vault, so gc leaves it";
      v.gc_leaves = true;
    }
  }
  for (const auto& m : listing.entries) {
    CredentialRow row;
    row.meta = m;
    row.state = expiry_state(m, report.now_ms, report.warn_days);
    for (const auto& v : report.docker.volumes) {
      if (v.credential != m.id) continue;
      if (v.role == Role::login) row.volumes.push_back(v.name + (v.stale ? " (stale)" : ""));
      if (v.role == Role::hold) row.sessions.push_back(v.session + (v.stale ? " (stale)" : ""));
    }
    report.credentials.push_back(std::move(row));
  }
}

std::vector<std::string> Report::attention() const {
  std::vector<std::string> out;
  for (const auto& c : credentials) {
    if (c.state == ExpiryState::expired)
      out.push_back(credential_label(c.meta) + ": its stored token expired at " +
                    vault::format_time(c.meta.expires_at) + " UTC" +
                    (c.meta.kind == "oauth" ? "; the next session renews it if its refresh token still works, "
                                              "else log in again"
                                            : "; log in again"));
    if (c.state == ExpiryState::expiring)
      out.push_back(credential_label(c.meta) + ": its token expires at " + vault::format_time(c.meta.expires_at) +
                    " UTC, within " + std::to_string(warn_days) + " days; create a new one");
  }
  for (const auto& d : damaged) out.push_back(d.message);
  if (!docker.looked) out.push_back("Docker could not be asked which volumes hold credentials: " + docker.error);
  for (const auto& relay : docker.relays_down)
    out.push_back("relay " + relay +
                  " does not run: sessions of different users of its credential are copies until the next mount, "
                  "release, sync or gc makes it again (docker logs says why it stopped)");
  for (const auto& v : docker.volumes)
    if (v.stale)
      out.push_back("volume " + v.name + " is stale (" + v.why + ")" +
                    (v.gc_leaves ? "" : "; remove it with 'para-broker gc'"));
  for (const auto& c : docker.leftovers)
    out.push_back("container " + c.name + " is stale (" + c.why + "); remove it with 'para-broker gc'");
  if (images) {
    if (!images->looked) out.push_back("local images could not be scanned: " + images->error);
    for (const auto& i : images->images) {
      const std::string ref = image_reference(i);
      if (!i.error.empty()) {
        out.push_back(i.error);
        continue;
      }
      if (!i.scan) continue;
      if (!i.scan->findings.empty())
        out.push_back("image " + ref +
                      " carries Claude login state; migrate it with 'para-broker import --from-image " + ref +
                      "' and rebuild the image without it");
      for (const auto& w : i.scan->warnings) out.push_back("image " + ref + ": " + w);
    }
  }
  if (verify)
    for (const auto& p : verify->problems) out.push_back(p.message);
  return out;
}

// ---------------------------------------------------------------- output

namespace {

void write_credentials_table(const Report& r, std::ostream& out) {
  out << "CREDENTIALS";
  if (!r.vault_exists) out << ": no vault yet";
  out << "\n";
  if (!r.credentials.empty()) {
    out << std::left << std::setw(16) << "NAME" << std::setw(12) << "KIND" << std::setw(24) << "ACCOUNT" << std::setw(6)
        << "PLAN" << std::setw(18) << "EXPIRES (UTC)" << std::setw(10) << "STATE" << std::setw(18) << "CREATED"
        << std::setw(18) << "CAPTURED" << std::setw(18) << "MOUNTED"
        << "SESSIONS\n";
    for (const auto& c : r.credentials) {
      const auto& m = c.meta;
      out << std::left << std::setw(16) << m.name << std::setw(12) << m.kind << std::setw(24)
          << vault::mask_account(m.account) << std::setw(6) << (m.plan.empty() ? "-" : m.plan) << std::setw(18)
          << vault::format_time(m.expires_at) << std::setw(10) << expiry_state_name(c.state) << std::setw(18)
          << vault::format_time(m.created) << std::setw(18) << vault::format_time(m.updated) << std::setw(18)
          << vault::format_time(m.last_used) << (c.sessions.empty() ? "-" : join(c.sessions, ", ")) << "\n";
    }
  } else if (r.vault_exists) {
    out << "  none stored\n";
  }
  for (const auto& c : r.credentials)
    if (auto note = vault::previous_note(c.meta); !note.empty()) out << "  note: " << note << "\n";
  for (const auto& d : r.damaged) out << "  DAMAGED " << d.id << ": " << d.message << "\n";
}

void write_docker_table(const Report& r, std::ostream& out) {
  out << "\nVOLUMES (" << (r.docker.endpoint.empty() ? "Docker" : r.docker.endpoint) << ")\n";
  if (!r.docker.looked) {
    out << "  could not look: " << r.docker.error << "\n";
  } else if (r.docker.volumes.empty()) {
    out << "  no para-broker volumes\n";
  } else {
    out << std::left << std::setw(44) << "VOLUME" << std::setw(9) << "ROLE" << std::setw(18) << "CREDENTIAL"
        << std::setw(16) << "SESSION" << std::setw(24) << "CONTAINERS"
        << "STATE\n";
    for (const auto& v : r.docker.volumes)
      out << std::left << std::setw(44) << v.name << std::setw(9) << v.role_label << std::setw(18)
          << (v.credential.empty() ? "-" : v.credential) << std::setw(16) << (v.session.empty() ? "-" : v.session)
          << std::setw(24) << (v.containers.empty() ? "-" : join(v.containers, ","))
          << (v.stale ? "stale: " + v.why : "live") << "\n";
  }
  if (!r.docker.leftovers.empty()) {
    out << "\nLEFTOVER CONTAINERS\n";
    out << std::left << std::setw(44) << "CONTAINER" << std::setw(9) << "LEFT BY" << std::setw(10) << "STATE"
        << "WHY\n";
    for (const auto& c : r.docker.leftovers)
      out << std::left << std::setw(44) << c.name << std::setw(9) << c.left_by << std::setw(10) << c.state << c.why
          << "\n";
  }
}

void write_images_table(const ImagesPart& im, std::ostream& out) {
  out << "\nIMAGES";
  if (!im.looked) {
    out << "\n  could not look: " << im.error << "\n";
    return;
  }
  out << " (" << im.scanned << " scanned, " << human_bytes(im.bytes) << ")\n";
  bool any = false;
  for (const auto& i : im.images) {
    const std::string ref = image_reference(i);
    if (!i.error.empty()) {
      out << "  " << escape_controls(ref) << ": " << escape_controls(i.error) << "\n";
      continue;
    }
    if (!i.scan) continue;
    any = any || !i.scan->findings.empty();
    for (const auto& f : i.scan->findings)
      out << "  " << escape_controls(ref) << "  layer " << layer_text(f, i.scan->layers) << "  /"
          << escape_controls(f.path) << "  " << join(mark_names(f.marks), ", ") << "  (" << fate_text(f) << ")\n";
    if (i.scan->findings_dropped > 0)
      out << "  " << escape_controls(ref) << "  ... and " << i.scan->findings_dropped << " more\n";
    for (const auto& w : i.scan->warnings) out << "  " << escape_controls(ref) << ": " << escape_controls(w) << "\n";
    if (!i.scan->findings.empty())
      out << "    migrate: para-broker import --from-image " << escape_controls(ref) << "\n";
  }
  if (!any) out << "  no baked Claude credentials found\n";
}

}  // namespace

void write_table(const Report& r, std::ostream& out) {
  write_credentials_table(r, out);
  write_docker_table(r, out);
  if (r.images) write_images_table(*r.images, out);
  if (r.verify) {
    out << "\nVERIFY: " << r.verify->entries_ok << " entries intact, access log " << r.verify->log_records
        << " records";
    out << (r.verify->ok() ? ", chain intact\n" : "\n");
    for (const auto& p : r.verify->problems) out << "  FAILED: " << p.message << "\n";
  }
  const auto reasons = r.attention();
  if (reasons.empty()) {
    out << "\nall is well\n";
  } else {
    out << "\nNEEDS ATTENTION\n";
    for (const auto& s : reasons) out << "  - " << escape_controls(s) << "\n";
  }
}

namespace {

using ojson = nlohmann::ordered_json;

ojson credentials_json(const Report& r) {
  ojson creds = ojson::array();
  for (const auto& c : r.credentials) {
    const auto& m = c.meta;
    creds.push_back({{"name", m.name},
                     {"id", m.id},
                     {"kind", m.kind},
                     {"account", vault::mask_account(m.account)},
                     {"plan", m.plan},
                     {"source", m.source},
                     {"expires_at", json_or_null(m.expires_at)},
                     {"state", expiry_state_name(c.state)},
                     {"created", m.created},
                     {"last_captured", m.updated},
                     {"last_mounted", json_or_null(m.last_used)},
                     {"replaced_at", m.previous ? ojson(m.previous->replaced_at) : ojson()},
                     {"volumes", c.volumes},
                     {"sessions", c.sessions}});
  }
  return creds;
}

ojson docker_json(const DockerPart& d) {
  ojson vols = ojson::array();
  for (const auto& v : d.volumes)
    vols.push_back({{"name", v.name},
                    {"role", v.role_label},
                    {"credential", v.credential},
                    {"session", v.session},
                    {"shared_volume", v.shared},
                    {"image", v.image},
                    {"containers", v.containers},
                    {"stale", v.stale},
                    {"reason", v.why}});
  ojson leftovers = ojson::array();
  for (const auto& c : d.leftovers)
    leftovers.push_back({{"name", c.name}, {"left_by", c.left_by}, {"state", c.state}, {"reason", c.why}});
  return {{"looked", d.looked},
          {"endpoint", d.endpoint},
          {"error", d.error.empty() ? ojson() : ojson(d.error)},
          {"volumes", vols},
          {"leftover_containers", leftovers}};
}

ojson image_json(const ImageEntry& i) {
  ojson ji = {{"id", i.id}, {"tags", i.tags}, {"error", i.error.empty() ? ojson() : ojson(i.error)}};
  ojson findings = ojson::array();
  if (i.scan) {
    for (const auto& f : i.scan->findings)
      findings.push_back({{"layer", f.layer_index < 0 ? ojson() : ojson(f.layer_index)},
                          {"diff_id", f.diff_id.empty() ? ojson() : ojson(f.diff_id)},
                          {"layer_path", f.layer_path},
                          {"path", "/" + f.path},
                          {"kinds", mark_names(f.marks)},
                          {"state", fate_name(f.fate)},
                          {"changed_in_layer", f.fate_layer < 0 ? ojson() : ojson(f.fate_layer)}});
    ji["layers"] = i.scan->layers;
    ji["bytes"] = i.scan->bytes;
    ji["findings_not_listed"] = i.scan->findings_dropped;
    ji["warnings"] = i.scan->warnings;
  }
  ji["findings"] = findings;
  ji["import_command"] =
      (i.scan && !i.scan->findings.empty()) ? ojson("para-broker import --from-image " + image_reference(i)) : ojson();
  return ji;
}

ojson images_json(const ImagesPart& im) {
  ojson imgs = ojson::array();
  for (const auto& i : im.images) imgs.push_back(image_json(i));
  return {{"looked", im.looked},
          {"error", im.error.empty() ? ojson() : ojson(im.error)},
          {"scanned", im.scanned},
          {"bytes", im.bytes},
          {"images", imgs}};
}

}  // namespace

void write_json(const Report& r, std::ostream& out) {
  ojson j = {{"schema", 1}, {"time", r.now_ms}, {"warn_days", r.warn_days}, {"vault", r.vault_exists}};
  j["credentials"] = credentials_json(r);
  ojson damaged = ojson::array();
  for (const auto& d : r.damaged) damaged.push_back({{"id", d.id}, {"message", d.message}});
  j["damaged"] = damaged;
  j["docker"] = docker_json(r.docker);
  j["images"] = r.images ? images_json(*r.images) : ojson(nullptr);
  if (r.verify) {
    ojson problems = ojson::array();
    for (const auto& p : r.verify->problems)
      problems.push_back({{"id", p.id}, {"name", p.name}, {"message", p.message}});
    j["verify"] = {{"ok", r.verify->ok()},
                   {"entries_ok", r.verify->entries_ok},
                   {"log_records", r.verify->log_records},
                   {"problems", problems}};
  } else {
    j["verify"] = nullptr;
  }
  const auto reasons = r.attention();
  j["attention"] = reasons;
  j["ok"] = reasons.empty();
  out << j.dump(2, ' ', false, ojson::error_handler_t::replace) << "\n";
}

}  // namespace pb::broker::audit
