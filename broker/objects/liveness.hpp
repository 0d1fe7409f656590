#pragma once
// When the volumes of a session are still in use: the one rule that `gc` acts
// on and `audit` reports from (docs/dispatch.md, "gc decides by labels and by
// Docker's record of mounts").

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "broker/docker/docker_client.hpp"
#include "core/error.hpp"

namespace pb::broker::liveness {

/// What the engine says about use, from one container list.
struct Usage {
  std::set<std::string> names;  ///< every container's names, without Docker's leading '/'
  /// volume -> names of the containers that mount it; keepers are not users
  /// (a keeper lives and dies with its volume)
  std::map<std::string, std::vector<std::string>> users;
  /// volume -> how many of its users are leftovers gc removes (labels::leftover)
  std::map<std::string, std::size_t> leftover_users;
  /// volume -> names of the relays that mount it (not users either: a relay
  /// serves the login volumes that are live for other reasons, and is made
  /// again without one before it is removed)
  std::map<std::string, std::vector<std::string>> relays;
  /// relays that do not run: "name (state)"
  std::vector<std::string> relays_down;
  /// session label -> names of the containers that carry it
  std::map<std::string, std::vector<std::string>> by_session;
};

/// Reads who uses what from `containers` (a list that went through
/// labels::disown_inherited_roles): one inspect per container that is not a
/// keeper; a container removed meanwhile is skipped.
Result<Usage> observe(DockerClient& docker, const std::vector<ContainerSummary>& containers, long long now,
                      long long grace);

/// Why a volume lives, or that it does not.
enum class Reason {
  session_container,  ///< hold: a container of its session exists
  mounted,  ///< a container mounts it (a hold: its config; an empty hold of an earlier release: its login volume)
  young,    ///< hold or staging volume: made less than the grace period ago
  held,     ///< login volume: a live hold names it
  stale,    ///< none of these: gc removes it (after writing its login back)
};

struct Verdict {
  Reason reason = Reason::stale;
  std::vector<std::string> containers;  ///< the session's containers, or the volume's users
  bool live() const { return reason != Reason::stale; }
};

/// A hold lives while a container of its session exists (`para-<session>`,
/// or one labelled with the session), while its config volume is mounted
/// (`config_hold`; an empty hold of an earlier release: while its login
/// volume is), or for `grace` seconds after its mount.
Verdict hold(const VolumeInfo& hold, bool config_hold, const Usage& usage, long long now, long long grace);

/// A login volume lives while a container mounts it or a live hold names it.
Verdict login_volume(const std::string& volume, const Usage& usage, std::size_t live_holds);

/// A login's staging volume (a fresh login in plain text) is stale once it is
/// older than `grace` and nothing but leftovers uses it.
Verdict staging(const VolumeInfo& volume, const Usage& usage, long long now, long long grace);

}  // namespace pb::broker::liveness
