#include "broker/capture/sources.hpp"

#include "broker/capture/tar_policy.hpp"
#include "broker/docker/docker_client.hpp"
#include "broker/docker/guards.hpp"
#include "broker/objects/labels.hpp"
#include "broker/probe/probe_runner.hpp"
#include "probes/report.hpp"

namespace pb::broker::capture {
namespace {

std::string base_name(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string join(const std::string& dir, const std::string& name) {
  return dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
}

/// One file through archive GET and the tar policy; nullopt when it is absent.
Result<std::optional<SecureBytes>> read_one(DockerClient& docker, const std::string& id, const std::string& path,
                                            WantedFile::Mode mode, std::string_view object) {
  std::string what = path + " in " + std::string(object);
  auto got = docker.archive_get(id, path);
  if (!got.ok()) {
    if (got.error().kind == ErrorKind::not_found) return std::optional<SecureBytes>();
    return std::move(got).error();
  }
  // Docker answers with the path itself: a link would be followed by nothing
  // here, and is refused rather than resolved.
  if (got->stat.is_symlink())
    return fail(ErrorKind::unsafe_input, what + " was refused: it is a symbolic link, not a regular file");
  if (got->stat.is_dir())
    return fail(ErrorKind::unsafe_input, what + " was refused: it is a directory, not a regular file");
  WantedFile wanted{base_name(path), mode,
                    mode == WantedFile::Mode::whole ? vault::k_max_credentials_json : vault::k_max_claude_json};
  TarPolicy policy{{wanted}, 1};
  ByteReader& body = *got->body;
  TarSource source = [&body](std::span<std::byte> out) { return body.read(out); };
  PB_TRY(TarFiles files, read_tar(source, policy, "the archive of " + what));
  auto it = files.find(wanted.name);
  if (it == files.end()) return std::optional<SecureBytes>();
  return std::optional<SecureBytes>(std::move(it->second));
}

}  // namespace

LoginFiles login_files(const probes::ProbeReport& report) {
  LoginFiles f;
  if (report.locations.credentials || report.locations.global_config) {
    f.credentials = report.locations.credentials;
    f.global_config = report.locations.global_config;
    return f;
  }
  // No Claude Code (or no rule): Claude's defaults for the runtime user.
  std::string home = report.user.home.empty() ? "/root" : report.user.home;
  f.credentials = join(join(home, ".claude"), ".credentials.json");
  f.global_config = join(home, ".claude.json");
  return f;
}

Result<vault::Capture> read_login(DockerClient& docker, const std::string& id, const LoginFiles& files,
                                  std::string source, std::string_view object) {
  vault::Capture c;
  c.source = std::move(source);
  bool found = false;
  if (files.credentials) {
    PB_TRY(auto data, read_one(docker, id, *files.credentials, WantedFile::Mode::whole, object));
    if (data) {
      c.credentials_json = std::move(*data);
      found = true;
    }
  }
  if (files.global_config) {
    PB_TRY(auto data, read_one(docker, id, *files.global_config, WantedFile::Mode::claude_json, object));
    if (data) {
      c.claude_json = std::move(*data);
      found = true;
    }
  }
  if (!found) {
    std::string where = files.credentials.value_or("");
    if (files.global_config) where += (where.empty() ? "" : " or ") + *files.global_config;
    return fail(ErrorKind::not_found,
                "no Claude Code login was found in " + std::string(object) + " (looked at " + where + ")");
  }
  return c;
}

Result<vault::Capture> capture_from_container(DockerClient& docker, const Paths& paths, const std::string& container) {
  PB_TRY(ContainerInfo info, docker.container_inspect(container));
  PB_TRY(probes::ProbeReport report, probe_image(docker, paths, info.image));
  std::string object = "container " + (info.name.empty() ? container : info.name);
  return read_login(docker, info.id, login_files(report), "container:" + info.id, object);
}

Result<ImageCapture> capture_from_image(DockerClient& docker, const Paths& paths, const std::string& image) {
  PB_TRY(probes::ProbeReport report, probe_image(docker, paths, image));
  ContainerSpec spec;
  spec.image = image;
  // Never started: the command only satisfies `create` for images without one.
  spec.entrypoint = std::vector<std::string>{"/nonexistent/para-broker-never-started"};
  spec.network_mode = "none";
  spec.labels = labels::managed(Role::reader);
  PB_TRY(std::string id, docker.container_create(spec));
  ContainerGuard guard(docker, id);
  ImageCapture out;
  out.files = login_files(report);
  out.image_id = report.image_id;
  PB_TRY(out.capture, read_login(docker, id, out.files, "image:" + image, "image " + image));
  PB_TRY_STATUS(guard.remove());
  return out;
}

}  // namespace pb::broker::capture
