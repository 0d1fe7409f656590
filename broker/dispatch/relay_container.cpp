#include "broker/dispatch/relay_container.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <span>

#include "broker/dispatch/dispatch.hpp"
#include "broker/dispatch/dispatch_internal.hpp"
#include "broker/dispatch/volume_tar.hpp"
#include "broker/docker/docker_client.hpp"
#include "broker/objects/labels.hpp"
#include "core/files.hpp"
#include "core/platform.hpp"
#include "core/text.hpp"
#include "vault/crypto.hpp"

namespace fs = std::filesystem;

namespace pb::broker::dispatch {
namespace {

using labels::label_of;

constexpr const char* k_program = "para-broker-relay";
/// The image the relay runs from: the program alone, at its root.
constexpr const char* k_image_repo = "para-broker-relay";
/// Where the login volumes are mounted in the relay's container.
constexpr const char* k_logins_dir = "/pb-logins";
/// The label that names the set a relay serves ("<volume>:<uid>:<gid>,…").
constexpr const char* k_serves = "para-broker.serves";
/// The label that names the program file it was made from ("<size>:<mtime>"):
/// a relay that serves its set from the same file is kept without reading the file again.
constexpr const char* k_program_stamp = "para-broker.program";

/// The relay program file's stamp; "" when it cannot be told.
std::string program_stamp(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return {};
  const auto size = fs::file_size(path, ec);
  if (ec) return {};
  const auto written = fs::last_write_time(path, ec);
  if (ec) return {};
  // libc++ counts file times in a 128-bit integer, which to_string does not take.
  const auto ticks = static_cast<long long>(written.time_since_epoch().count());
  return std::to_string(size) + ":" + std::to_string(ticks);
}
/// A larger file is not the relay (2.4 MB in Release).
constexpr std::uint64_t k_max_binary = 64ull << 20;

std::string serves_label(const std::vector<RelayMember>& members) {
  std::string out;
  for (const auto& m : members)
    out += (out.empty() ? "" : ",") + m.volume + ":" + std::to_string(m.uid) + ":" + std::to_string(m.gid);
  return out;
}

/// Stops the relay with SIGTERM first (it ends between copies, so it leaves
/// no temp file with a login in it), then removes it.
Status remove_relay(DockerClient& docker, const ContainerInfo& relay) {
  if (relay.state.running && docker.container_kill(relay.id, "SIGTERM"))
    (void)docker.container_wait(relay.id, std::chrono::seconds(3));
  auto s = docker.container_remove(relay.id, true, true);
  if (!s && s.error().kind != ErrorKind::not_found) return s;
  return {};
}

/// The ELF machine (e_machine) a Linux engine of Docker's architecture runs.
std::optional<std::uint16_t> elf_machine(std::string_view arch) {
  if (arch == "amd64") return 62;     // EM_X86_64
  if (arch == "arm64") return 183;    // EM_AARCH64
  if (arch == "arm") return 40;       // EM_ARM
  if (arch == "ppc64le") return 21;   // EM_PPC64
  if (arch == "s390x") return 22;     // EM_S390
  if (arch == "riscv64") return 243;  // EM_RISCV
  return std::nullopt;
}

/// The relay program, read and checked against the engine: a Linux engine,
/// and an ELF executable for its architecture (a relay that cannot run there
/// would start and die at once).
Result<SecureBytes> relay_program(DockerClient& docker) {
  auto path = relay_binary_path();
  if (!path) return fail(ErrorKind::not_found, "the relay program could not be found");
  PB_TRY(DockerVersion engine, docker.version());
  if (!engine.os.empty() && engine.os != "linux")
    return fail(ErrorKind::failure,
                "the Docker engine runs " + printable(engine.os, 32) + " containers, not Linux ones");
  auto binary = read_file(*path, k_max_binary);
  if (!binary)
    return fail(ErrorKind::not_found,
                "the relay program " + *path + " could not be read (" + binary.error().message + ")");
  const auto& b = *binary;
  const bool elf = b.size() > 20 && b[0] == 0x7f && b[1] == 'E' && b[2] == 'L' && b[3] == 'F';
  const auto machine = elf_machine(engine.arch.empty() ? build_arch() : engine.arch);
  const std::uint16_t has =
      elf ? static_cast<std::uint16_t>(b[5] == 2 ? (b[18] << 8) | b[19] : b[18] | (b[19] << 8)) : 0;
  if (!elf || !machine || has != *machine)
    return fail(ErrorKind::failure, "the Docker engine runs on " + printable(engine.arch, 32) +
                                        " and the relay program " + *path + " is not a Linux program for it");
  return std::move(*binary);
}

std::string relay_image_name(const SecureBytes& program) {
  return std::string(k_image_repo) + ":" + vault::to_hex(vault::sha256(ByteSpan(program))).substr(0, 16);
}

/// The image the relay runs from: nothing but the program, imported once per
/// engine under a name its content decides. Not an image of the sessions:
/// what such an image declares would come along (a HEALTHCHECK would run a
/// command of the image's in the relay's container, as root with its
/// capabilities over every user's login volume).
Result<std::string> relay_image(DockerClient& docker, const std::string& ref, const SecureBytes& binary) {
  auto is_ours = [](const ImageInfo& i) { return labels::has_role(i.labels, Role::relay_image); };
  auto found = docker.image_inspect(ref);
  if (found) {
    if (is_ours(*found)) return ref;
    return fail(ErrorKind::conflict, "image " + ref + " exists but is not para-broker's relay; remove it");
  }
  if (found.error().kind != ErrorKind::not_found) return std::move(found).error();
  std::vector<std::string> changes{"ENTRYPOINT [\"/" + std::string(k_program) + "\"]", "USER 0:0"};
  for (const auto& [k, v] : labels::managed(Role::relay_image)) changes.push_back("LABEL " + k + "=\"" + v + "\"");
  TreeEntry program{k_program, false, binary, {}};
  program.mode = 0755;
  PB_TRY(SecureBytes tar, render_tree("", {program}, 0, 0));
  PB_TRY(std::unique_ptr<ByteWriter> w, docker.image_import(ref, changes));
  PB_TRY_STATUS(w->write(std::as_bytes(std::span(tar.data(), tar.size()))));
  PB_TRY_STATUS(w->finish());
  PB_TRY(ImageInfo made, docker.image_inspect(ref));
  if (!is_ours(made)) return fail(ErrorKind::conflict, "image " + ref + " is not the relay image just imported");
  return ref;
}

/// Creates and starts the relay; the container is removed again on any failure.
Status start_relay(DockerClient& docker, const std::string& credential_id, const std::vector<RelayMember>& members,
                   const std::string& image, const std::string& stamp) {
  ContainerSpec spec;
  spec.name = relay_name(credential_id);
  spec.image = image;
  spec.entrypoint = std::vector<std::string>{std::string("/") + k_program};
  spec.cmd = relay_args(members);
  spec.user = "0:0";
  spec.network_mode = "none";
  spec.read_only_rootfs = true;
  spec.cap_drop = {"ALL"};
  spec.cap_add = {"CHOWN", "DAC_OVERRIDE"};
  spec.security_opt = {"no-new-privileges"};
  spec.pids_limit = 16;
  spec.memory_bytes = 64ll << 20;
  // No restart policy: a relay that exits stays exited, so the next mount,
  // sync or gc sees it is not serving and makes it again (a restarting one
  // would count as running). Its refusals are rate-limited, yet a relay may
  // run for weeks: its log is capped.
  spec.log_max_size = "1m";
  spec.labels = labels::managed(Role::relay);
  spec.labels[labels::k_credential] = credential_id;
  spec.labels[k_serves] = serves_label(members);
  for (std::size_t i = 0; i < members.size(); ++i) {
    MountSpec m;
    m.type = MountSpec::Type::volume;
    m.source = members[i].volume;
    m.target = std::string(k_logins_dir) + "/" + std::to_string(i);
    m.no_copy = true;
    spec.mounts.push_back(std::move(m));
  }
  spec.labels[labels::k_image] = image;
  spec.labels[k_program_stamp] = stamp;
  PB_TRY(std::string id, docker.container_create(spec));
  if (auto started = docker.container_start(id); !started) {
    ContainerInfo made;
    made.id = id;
    (void)remove_relay(docker, made);
    return started;
  }
  // One that dies at once (it could not open a directory, inotify failed) is
  // kept for its log; the next mount, release, sync or gc makes it again.
  PB_TRY(ContainerInfo info, docker.container_inspect(id));
  if (!info.state.running && info.state.status != "created")
    return fail(ErrorKind::failure, "it stopped at once (exit code " + std::to_string(info.state.exit_code) +
                                        "; docker logs " + relay_name(credential_id) + " says why)");
  return {};
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
    const bool ours =
        labels::has_role(found->labels, Role::relay) && label_of(found->labels, labels::k_credential) == credential_id;
    if (!ours)
      return std::optional<std::string>("container " + name +
                                        " exists but is not para-broker's relay; sessions of different users of this "
                                        "credential are copies until it is removed (run para-broker sync meanwhile)");
  }
  if (members.size() < 2) {
    if (found) PB_TRY_STATUS(remove_relay(docker, *found));
    return std::optional<std::string>();
  }

  const std::string copies =
      "; sessions of different users of this credential are copies of its login (run para-broker sync while they "
      "run)";
  // The relay keeps serving when it serves this set with this program; else
  // it is made again. The file's stamp tells without reading it (mount and
  // sync of several users come here every time).
  const auto path = relay_binary_path();
  const std::string stamp = path ? program_stamp(*path) : std::string();
  const bool serves = found && found->state.running && label_of(found->labels, k_serves) == serves_label(members);
  if (serves && !stamp.empty() && label_of(found->labels, k_program_stamp) == stamp)
    return std::optional<std::string>();
  auto program = relay_program(docker);
  if (!program) {
    if (found) PB_TRY_STATUS(remove_relay(docker, *found));
    return std::optional<std::string>(program.error().message + copies);
  }
  const std::string ref = relay_image_name(*program);
  if (serves && label_of(found->labels, labels::k_image) == ref) return std::optional<std::string>();
  if (found) PB_TRY_STATUS(remove_relay(docker, *found));
  auto image = relay_image(docker, ref, *program);
  if (!image)
    return std::optional<std::string>("the relay's image could not be made (" + image.error().message + ")" + copies);
  if (auto s = start_relay(docker, credential_id, members, ref, stamp); !s)
    return std::optional<std::string>("the relay could not be started (" + s.error().message + ")" + copies);
  return std::optional<std::string>();
}

namespace detail {

std::vector<RelayMember> relay_members(const std::vector<VolumeInfo>& logins, const std::vector<VolumeInfo>& holds,
                                       const std::string& cred, const std::string& except,
                                       const std::set<std::string>& also) {
  auto managed = [&](const VolumeInfo& v, Role role) {
    return labels::has_role(v.labels, role) && label_of(v.labels, labels::k_credential) == cred;
  };
  std::set<std::string> held = also;
  for (const auto& h : holds)
    if (managed(h, Role::hold)) held.insert(label_of(h.labels, labels::k_volume));
  std::vector<RelayMember> out;
  for (const auto& vol : logins) {
    if (vol.name == except || !is_beside_lock(vol.name) || !held.count(vol.name) || !managed(vol, Role::login))
      continue;
    auto uid = label_id(vol, labels::k_uid);
    auto gid = label_id(vol, labels::k_gid);
    if (uid && gid) out.push_back({vol.name, *uid, *gid});
  }
  return out;
}

}  // namespace detail

}  // namespace pb::broker::dispatch
