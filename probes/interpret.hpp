#pragma once
// Pure interpretation: facts about an image + knowledge -> probe report.
// No I/O, so every rule of CLAUDE-CODE-FACTS.md is a table-driven unit test.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "probes/facts.hpp"
#include "probes/knowledge.hpp"
#include "probes/report.hpp"

namespace pb::probes {

using EnvMap = std::map<std::string, std::optional<std::string>>;

/// Where a rule puts things for the given variables (HOME must be set).
/// `checks` answers if_exists alternatives; a path it does not know counts as
/// absent. Each choice made is appended to `evidence` when given.
Locations resolve_locations(const Rule& rule, const EnvMap& vars, const std::map<std::string, PathCheck>& checks,
                            std::vector<std::string>* evidence = nullptr);

/// The whole report from facts (image and image_id left for the caller).
ProbeReport interpret(const Knowledge& k, const Facts& facts);

/// Where the report's Claude keeps things when the container gets extra
/// environment (e.g. a mount setting CLAUDE_CONFIG_DIR). Uses the report's
/// rule, user home and image env; not_found when the rule is unknown to `k`.
Result<Locations> locations_with_env(const Knowledge& k, const ProbeReport& report, const EnvMap& overrides);

}  // namespace pb::probes
