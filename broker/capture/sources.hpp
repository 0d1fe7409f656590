#pragma once
// Login state read out of containers and images through the Docker archive
// API, straight into memory under the tar entry policy (tar_policy.hpp).
// Nothing is ever extracted to disk and no image is ever committed.

#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/paths.hpp"
#include "vault/capture.hpp"

namespace pb::probes {
struct ProbeReport;
}

namespace pb::broker {
class DockerClient;
}

namespace pb::broker::capture {

/// Where, inside a container, a login's two files are.
struct LoginFiles {
  std::optional<std::string> credentials;    ///< .credentials.json; nullopt: the build keeps none
  std::optional<std::string> global_config;  ///< .claude.json
};

/// The files a probe report names; for an image without Claude Code, Claude's
/// defaults under the runtime user's HOME.
LoginFiles login_files(const probes::ProbeReport& report);

/// Reads the login files from container `id` (running or not) via archive GET.
/// Absent files stay empty; not_found when both are absent. Hostile content:
/// unsafe_input. `object` names the container or image in messages.
Result<vault::Capture> read_login(DockerClient& docker, const std::string& id, const LoginFiles& files,
                                  std::string source, std::string_view object);

/// `import --from-container ID`: probes the container's image for locations and reads them.
Result<vault::Capture> capture_from_container(DockerClient& docker, const Paths& paths, const std::string& container);

struct ImageCapture {
  vault::Capture capture;
  LoginFiles files;  ///< where the image carries them
  std::string image_id;
};

/// `import --from-image IMAGE`: creates (never starts) a container from the
/// image, reads the baked files, removes the container on every path.
Result<ImageCapture> capture_from_image(DockerClient& docker, const Paths& paths, const std::string& image);

}  // namespace pb::broker::capture
