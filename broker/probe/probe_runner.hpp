#pragma once
// Probing an image: static phase (image inspect), probe phase (probes/probe.sh
// in a throw-away container: entrypoint overridden, no network, time-bounded,
// always removed; images without /bin/sh are read through the archive API
// without running anything), optional research phase (runs the installed
// Claude Code offline and reads the container's filesystem changes), and the
// cache keyed by image ID. Used by `probe`, `mount`, `login` and `import`.

#include <chrono>
#include <string>

#include "core/error.hpp"
#include "core/paths.hpp"
#include "probes/report.hpp"

namespace pb::broker {

class DockerClient;

struct ProbeOptions {
  bool research = false;             ///< also run Claude Code and observe where it writes
  bool refresh = false;              ///< ignore the cache
  std::chrono::seconds timeout{20};  ///< bound on the probe container's run
};

/// Label on every container the probe makes (value: "probe" or "research").
inline constexpr const char* k_probe_label = "para-broker.probe";

/// The report for `image` (cached by image ID in paths.cache_dir). Errors:
/// not_found (no such image), unsafe_input (hostile probe output), timeout,
/// and Docker errors. An image without Claude Code is a report with
/// claude.found == false, not an error.
Result<probes::ProbeReport> probe_image(DockerClient& docker, const Paths& paths, const std::string& image,
                                        const ProbeOptions& options = {});

}  // namespace pb::broker
