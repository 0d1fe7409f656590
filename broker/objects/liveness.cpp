#include "broker/objects/liveness.hpp"

#include <algorithm>

#include "broker/objects/labels.hpp"

namespace pb::broker::liveness {
namespace {

using labels::label_of;

std::string bare(const std::string& name) {
  return !name.empty() && name.front() == '/' ? name.substr(1) : name;
}

const std::vector<std::string>& users_of(const Usage& usage, const std::string& volume) {
  static const std::vector<std::string> none;
  auto it = usage.users.find(volume);
  return it == usage.users.end() ? none : it->second;
}

}  // namespace

Result<Usage> observe(DockerClient& docker, const std::vector<ContainerSummary>& containers, long long now,
                      long long grace) {
  Usage usage;
  for (const auto& c : containers) {
    const std::string name = c.names.empty() ? c.id.substr(0, 12) : bare(c.names.front());
    for (const auto& n : c.names) usage.names.insert(bare(n));
    if (auto s = label_of(c.labels, labels::k_session); !s.empty()) usage.by_session[s].push_back(name);
    const auto role = labels::role_of(c.labels);
    if (role == Role::keeper || role == Role::reader) continue;
    const bool relay = role == Role::relay;
    if (relay && c.state != "running") usage.relays_down.push_back(name + " (" + c.state + ")");
    const labels::Leftover kind = labels::leftover(c, now, grace);
    const bool left_over = kind != labels::Leftover::none && kind != labels::Leftover::running_login;
    auto info = docker.container_inspect(c.id);
    if (!info) {
      if (info.error().kind == ErrorKind::not_found) continue;  // removed meanwhile
      return std::move(info).error();
    }
    for (const auto& m : info->mounts) {
      if (m.type != "volume" || m.name.empty()) continue;
      if (relay) {
        usage.relays[m.name].push_back(name);
        continue;
      }
      usage.users[m.name].push_back(name);
      if (left_over) ++usage.leftover_users[m.name];
    }
  }
  return usage;
}

Verdict hold(const VolumeInfo& hold, bool config_hold, const Usage& usage, long long now, long long grace) {
  Verdict v;
  const std::string session = label_of(hold.labels, labels::k_session);
  if (auto it = usage.by_session.find(session); it != usage.by_session.end()) v.containers = it->second;
  const std::string para_name = "para-" + session;
  if (usage.names.count(para_name) != 0 &&
      std::find(v.containers.begin(), v.containers.end(), para_name) == v.containers.end())
    v.containers.push_back(para_name);
  if (!v.containers.empty()) {
    v.reason = Reason::session_container;
    return v;
  }
  if (!users_of(usage, config_hold ? hold.name : label_of(hold.labels, labels::k_volume)).empty()) {
    v.reason = Reason::mounted;
    return v;
  }
  if (labels::is_young_hold(hold.labels, now, grace)) {
    v.reason = Reason::young;
    return v;
  }
  v.reason = Reason::stale;
  return v;
}

Verdict login_volume(const std::string& volume, const Usage& usage, std::size_t live_holds) {
  Verdict v;
  v.containers = users_of(usage, volume);
  v.reason = !v.containers.empty() ? Reason::mounted : live_holds > 0 ? Reason::held : Reason::stale;
  return v;
}

Verdict staging(const VolumeInfo& volume, const Usage& usage, long long now, long long grace) {
  Verdict v;
  v.containers = users_of(usage, volume.name);
  auto left = usage.leftover_users.find(volume.name);
  const std::size_t leftovers = left == usage.leftover_users.end() ? 0 : left->second;
  if (v.containers.size() > leftovers)
    v.reason = Reason::mounted;
  else if (labels::is_young(volume.labels, labels::k_created_at, now, grace))
    v.reason = Reason::young;
  else
    v.reason = Reason::stale;
  return v;
}

}  // namespace pb::broker::liveness
