#include "broker/objects/labels.hpp"

#include <map>

#include "core/paths.hpp"

namespace pb::broker::labels {

namespace {

struct RoleName {
  Role role;
  std::string_view label;
};
constexpr RoleName k_roles[] = {
    {Role::login, "session"},           {Role::hold, "hold"},     {Role::lock, "lock"},   {Role::staging, "staging"},
    {Role::keeper, "helper"},           {Role::reader, "helper"}, {Role::probe, "probe"}, {Role::relay, "relay"},
    {Role::relay_image, "relay-image"}, {Role::demo, "demo"},
};

/// {managed=1, role=<role>} plus the labels of PARA_BROKER_EXTRA_LABELS.
Labels managed_as(std::string_view role) {
  Labels l{{k_managed, "1"}, {k_role, std::string(role)}};
  if (auto extra = env_var("PARA_BROKER_EXTRA_LABELS")) {
    std::string_view rest = *extra;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      auto eq = item.find('=');
      if (eq == 0 || item.empty()) continue;
      std::string key(item.substr(0, eq));
      // The product's own labels cannot be overridden from the environment.
      if (key.rfind("para-broker.", 0) == 0 && key != "para-broker.test") continue;
      l[key] = eq == std::string_view::npos ? std::string() : std::string(item.substr(eq + 1));
    }
  }
  return l;
}

}  // namespace

Labels managed(Role role) {
  return managed_as(role_label(role));
}

std::string_view role_label(Role role) {
  for (const auto& r : k_roles)
    if (r.role == role) return r.label;
  return {};
}

std::optional<Role> role_of(const Labels& labels) {
  if (label_of(labels, k_managed) != "1") return std::nullopt;
  const std::string role = label_of(labels, k_role);
  if (role == "helper") return label_of(labels, k_volume).empty() ? Role::reader : Role::keeper;
  for (const auto& r : k_roles)
    if (r.label == role) return r.role;
  return std::nullopt;
}

std::string label_of(const Labels& labels, const char* key) {
  auto it = labels.find(key);
  return it == labels.end() ? std::string() : it->second;
}

bool is_young_hold(const Labels& hold, long long now, long long grace) {
  return is_young(hold, k_mounted_at, now, grace);
}

bool is_young(const Labels& labels, const char* key, long long now, long long grace) {
  auto it = labels.find(key);
  if (it == labels.end() || it->second.empty() || it->second.size() > 18) return false;
  long long at = 0;
  for (char c : it->second) {
    if (c < '0' || c > '9') return false;
    at = at * 10 + (c - '0');
  }
  return at <= now + 60 && now - at < grace;
}

bool carries_extra(const Labels& labels) {
  for (const auto& [k, v] : managed_as("")) {
    if (k == k_managed || k == k_role) continue;
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

Leftover leftover(const ContainerSummary& c, long long now, long long grace) {
  if (!carries_extra(c.labels)) return Leftover::none;
  const auto role = role_of(c.labels);
  Leftover kind = Leftover::none;
  if (role == Role::probe) kind = Leftover::probe;
  if (role == Role::staging) kind = Leftover::login;
  if (role == Role::reader) kind = Leftover::import;
  if (kind == Leftover::none || c.created <= 0 || now - c.created < grace) return Leftover::none;
  if (kind == Leftover::login && c.state == "running") return Leftover::running_login;
  return kind;
}

void disown_inherited_roles(DockerClient& docker, std::vector<ContainerSummary>& containers) {
  std::map<std::string, Labels> image_labels;  // image -> its para-broker labels
  for (auto& c : containers) {
    if (c.labels.find(k_role) == c.labels.end()) continue;
    const std::string image = c.image_id.empty() ? c.image : c.image_id;
    auto known = image_labels.find(image);
    if (known == image_labels.end()) {
      Labels ours;
      // An image that cannot be looked at (gone) carries nothing we know of.
      if (auto info = docker.image_inspect(image))
        for (const auto& [k, v] : info->labels)
          if (k.starts_with("para-broker.")) ours.emplace(k, v);
      known = image_labels.emplace(image, std::move(ours)).first;
    }
    // What para-broker makes carries labels of its own (a keeper its volume
    // and credential, every object the role it was made for); a container
    // whose para-broker labels all come from its image was not made by it.
    bool all_inherited = !known->second.empty();
    for (const auto& [k, v] : c.labels) {
      if (!k.starts_with("para-broker.")) continue;
      auto it = known->second.find(k);
      if (it == known->second.end() || it->second != v) all_inherited = false;
    }
    if (all_inherited) {
      c.labels.erase(k_role);
      c.labels.erase(k_managed);
    }
  }
}

LabelFilters filter(Role role) {
  return {std::string(k_managed) + "=1", std::string(k_role) + "=" + std::string(role_label(role))};
}

}  // namespace pb::broker::labels
