#include "broker/dispatch/relay_container.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <span>

#include "broker/dispatch/volume_tar.hpp"
#include "broker/docker/docker_client.hpp"
#include "broker/labels.hpp"
#include "core/files.hpp"
#include "core/platform.hpp"
#include "core/text.hpp"

namespace fs = std::filesystem;

namespace pb::broker::dispatch {
namespace {

using labels::label_of;

/// The relay's own directory (an anonymous volume, so that the root can be
/// read-only: Docker refuses an upload into a read-only root) and where the
/// login volumes are mounted.
constexpr const char* k_bin_dir = "/pb-relay";
constexpr const char* k_program = "para-broker-relay";
constexpr const char* k_logins_dir = "/pb-logins";
/// The label that names the set a relay serves ("<volume>:<uid>:<gid>,…").
constexpr const char* k_serves = "para-broker.serves";
/// A larger file is not the relay (2.4 MB in Release).
constexpr std::uint64_t k_max_binary = 64ull << 20;

std::string serves_label(const std::vector<RelayMember>& members) {
  std::string out;
  for (const auto& m : members)
    out += (out.empty() ? "" : ",") + m.volume + ":" + std::to_string(m.uid) + ":" + std::to_string(m.gid);
  return out;
}

Status remove_relay(DockerClient& docker, const std::string& id) {
  // Its anonymous volume (the binary) goes with it.
  auto s = docker.container_remove(id, true, true);
  if (!s && s.error().kind != ErrorKind::not_found) return s;
  return {};
}

/// Creates, fills and starts the relay; the container is removed again on any failure.
Status start_relay(DockerClient& docker, const std::string& credential_id, const std::vector<RelayMember>& members,
                   const SecureBytes& binary) {
  ContainerSpec spec;
  spec.name = relay_name(credential_id);
  spec.entrypoint = std::vector<std::string>{std::string(k_bin_dir) + "/" + k_program};
  spec.cmd = relay_args(members);
  spec.user = "0:0";
  spec.network_mode = "none";
  spec.read_only_rootfs = true;
  spec.cap_drop = {"ALL"};
  spec.cap_add = {"CHOWN", "DAC_OVERRIDE"};
  spec.security_opt = {"no-new-privileges"};
  spec.pids_limit = 16;
  spec.memory_bytes = 64ll << 20;
  spec.labels = labels::managed("relay");
  spec.labels[labels::k_credential] = credential_id;
  spec.labels[k_serves] = serves_label(members);
  MountSpec bin;
  bin.type = MountSpec::Type::volume;
  bin.target = k_bin_dir;  // no source: anonymous, removed with the container
  bin.no_copy = true;
  bin.volume_labels = labels::managed("relay");
  bin.volume_labels[labels::k_credential] = credential_id;
  spec.mounts.push_back(std::move(bin));
  for (std::size_t i = 0; i < members.size(); ++i) {
    MountSpec m;
    m.type = MountSpec::Type::volume;
    m.source = members[i].volume;
    m.target = std::string(k_logins_dir) + "/" + std::to_string(i);
    m.no_copy = true;
    spec.mounts.push_back(std::move(m));
  }
  // Any member's image serves: the first one that still exists.
  std::optional<Error> last;
  std::string id;
  std::vector<std::string> tried;
  for (const auto& m : members) {
    if (m.image.empty() || std::find(tried.begin(), tried.end(), m.image) != tried.end()) continue;
    tried.push_back(m.image);
    spec.image = m.image;
    auto made = docker.container_create(spec);
    if (made) {
      id = std::move(*made);
      break;
    }
    if (made.error().kind != ErrorKind::not_found) return std::move(made).error();
    last = std::move(made).error();
  }
  if (id.empty()) return last ? std::move(*last) : fail(ErrorKind::not_found, "no image to make it from");
  auto filled = [&]() -> Status {
    TreeEntry program{k_program, false, binary, {}};
    program.mode = 0755;
    PB_TRY(SecureBytes tar, render_tree("", {program}, 0, 0));
    PB_TRY(std::unique_ptr<ByteWriter> w, docker.archive_put(id, k_bin_dir));
    PB_TRY_STATUS(w->write(std::as_bytes(std::span(tar.data(), tar.size()))));
    PB_TRY_STATUS(w->finish());
    return docker.container_start(id);
  }();
  if (!filled) (void)remove_relay(docker, id);
  return filled;
}

}  // namespace

std::string relay_name(const std::string& credential_id) {
  return std::string(labels::k_container_prefix) + "relay-" + credential_id;
}

std::optional<std::string> relay_binary_path() {
  if (const char* set = std::getenv("PARA_BROKER_RELAY"); set != nullptr && *set != '\0') return std::string(set);
  auto self = platform::executable_path();
  if (!self) return std::nullopt;
  return (fs::path(*self).parent_path() / ".." / "libexec" / "para-broker" / k_program).lexically_normal().string();
}

std::string build_arch() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__arm__)
  return "arm";
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
  return "ppc64le";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#else
  return "unknown";
#endif
}

std::vector<std::string> relay_args(const std::vector<RelayMember>& members) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < members.size(); ++i)
    out.push_back(std::string(k_logins_dir) + "/" + std::to_string(i) + ":" + std::to_string(members[i].uid) + ":" +
                  std::to_string(members[i].gid));
  return out;
}

Result<std::optional<std::string>> reconcile_relay(DockerClient& docker, const std::string& credential_id,
                                                   std::vector<RelayMember> members) {
  std::sort(members.begin(), members.end(),
            [](const RelayMember& a, const RelayMember& b) { return a.volume < b.volume; });
  members.erase(std::unique(members.begin(), members.end(),
                            [](const RelayMember& a, const RelayMember& b) { return a.volume == b.volume; }),
                members.end());
  const std::string name = relay_name(credential_id);
  auto found = docker.container_inspect(name);
  if (!found && found.error().kind != ErrorKind::not_found) return std::move(found).error();
  if (found) {
    const bool ours = label_of(found->labels, labels::k_managed) == "1" &&
                      label_of(found->labels, labels::k_role) == "relay" &&
                      label_of(found->labels, labels::k_credential) == credential_id;
    if (!ours)
      return std::optional<std::string>("container " + name +
                                        " exists but is not para-broker's relay; sessions of different users of this "
                                        "credential are copies until it is removed (run para-broker sync meanwhile)");
    if (members.size() >= 2 && found->state.running && label_of(found->labels, k_serves) == serves_label(members))
      return std::optional<std::string>();
    PB_TRY_STATUS(remove_relay(docker, found->id));
  }
  if (members.size() < 2) return std::optional<std::string>();

  const std::string copies =
      "; sessions of different users of this credential are copies of its login (run para-broker sync while they "
      "run)";
  auto path = relay_binary_path();
  if (!path) return std::optional<std::string>("the relay program could not be found" + copies);
  PB_TRY(DockerVersion engine, docker.version());
  if (!engine.arch.empty() && engine.arch != build_arch())
    return std::optional<std::string>("the Docker engine runs on " + printable(engine.arch, 32) +
                                      " and this para-broker's relay program on " + build_arch() + copies);
  auto binary = read_file(*path, k_max_binary);
  if (!binary)
    return std::optional<std::string>("the relay program " + *path + " could not be read (" + binary.error().message +
                                      ")" + copies);
  if (auto s = start_relay(docker, credential_id, members, *binary); !s)
    return std::optional<std::string>("the relay could not be started (" + s.error().message + ")" + copies);
  return std::optional<std::string>();
}

}  // namespace pb::broker::dispatch
