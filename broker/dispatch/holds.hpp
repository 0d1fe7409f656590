#pragma once
// Which sessions hold which credential right now, from the labels of the
// session hold volumes (docs/dispatch.md). Used by `list` and `rm`.

#include <map>
#include <string>
#include <vector>

#include "broker/docker/docker_client.hpp"
#include "core/error.hpp"

namespace pb::broker::dispatch {

/// Credential id -> sessions holding it (a hold exists from `mount` until
/// `release`, also before the session's container is created).
Result<std::map<std::string, std::vector<std::string>>> sessions_by_credential(DockerClient& docker);

}  // namespace pb::broker::dispatch
