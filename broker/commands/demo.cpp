// `para-broker demo`: the whole job on a machine with Docker and nothing else.
// Builds a small local image with a stand-in `claude` (imported through the
// Engine API from the host's static busybox: no registry), captures a clearly
// fake credential into a demo vault of its own, probes the image, mounts the
// credential into two containers that run in parallel and say they are logged
// in, releases them, prints the audit table, and removes every container,
// volume and image it made. The demo vault stays, and is named.

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <ostream>
#include <random>

#include "broker/commands/commands.hpp"
#include "broker/commands/run.hpp"
#include "broker/commands/vault_view.hpp"
#include "broker/dispatch/dispatch.hpp"
#include "broker/docker/docker_client.hpp"
#include "broker/objects/labels.hpp"
#include "broker/probe/probe_runner.hpp"
#include "core/c_handles.hpp"
#include "core/files.hpp"

namespace fs = std::filesystem;

namespace pb::broker::commands {
namespace {

constexpr const char* k_credential = "demo";
constexpr const char* k_version = "1.0.40";
constexpr const char* k_busybox = "/bin/busybox";

/// The stand-in `claude`: reads the login where Claude Code would and says whose it is.
/// It prints a fingerprint of the access token, never the token.
constexpr const char* k_standin = R"SH(#!/bin/sh
# Stand-in for Claude Code (para-broker demo image): reports the login it finds.
cfg=${CLAUDE_CONFIG_DIR:-$HOME/.claude}
if [ -n "${CLAUDE_CONFIG_DIR:-}" ]; then global=$CLAUDE_CONFIG_DIR/.claude.json; else global=$HOME/.claude.json; fi
creds=$cfg/.credentials.json
field() { tr ',{}' '\n\n\n' <"$2" | sed -n "s/^[[:space:]]*\"$1\"[[:space:]]*:[[:space:]]*\"\{0,1\}\([^\"]*\)\"\{0,1\}[[:space:]]*$/\1/p" | head -n 1; }
if [ ! -r "$creds" ]; then
  echo "claude (stand-in): not logged in: $creds does not exist" >&2
  exit 1
fi
token=$(field accessToken "$creds")
[ -n "$token" ] || { echo "claude (stand-in): not logged in: no access token in $creds" >&2; exit 1; }
email=$(field emailAddress "$global" 2>/dev/null)
plan=$(field subscriptionType "$creds")
expires=$(field expiresAt "$creds")
when=$(date -u -d "@$((expires / 1000))" '+%Y-%m-%d %H:%M UTC' 2>/dev/null || echo "$expires")
fp=$(printf '%s' "$token" | sha256sum | cut -c1-12)
if touch "$cfg/.write-test" 2>/dev/null && rm -f "$cfg/.write-test"; then rw=writable; else rw=read-only; fi
echo "claude (stand-in) as $(id -un) in $(hostname): logged in as ${email:-unknown}, plan ${plan:-unknown}, token expires $when, fingerprint $fp, config $cfg ($rw)"
)SH";

/// Busybox applets the stand-in and the probe script use.
constexpr const char* k_applets[] = {
    "sh",      "ash",   "cat",   "sed",  "tr",       "head",   "tail",     "cut",   "grep", "sha256sum", "date",
    "id",      "ls",    "touch", "rm",   "mkdir",    "printf", "echo",     "env",   "test", "[",         "[[",
    "sleep",   "awk",   "wc",    "sort", "readlink", "find",   "hostname", "stat",  "true", "false",     "basename",
    "dirname", "uname", "chmod", "cp",   "mv",       "ln",     "expr",     "which", "od",   "xargs",     "realpath"};

std::string random_hex(std::size_t n) {
  std::random_device rd;
  static const char* k_hex = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += k_hex[rd() % 16];
  return s;
}

/// The demo's vault, key and cache: the environment's when it names them, else
/// under $XDG_DATA_HOME/para-broker-demo, never the user's real vault.
struct DemoPaths {
  Paths paths;
  fs::path root;
};

Result<DemoPaths> demo_paths() {
  fs::path data;
  if (auto x = env_var("XDG_DATA_HOME"))
    data = *x;
  else if (auto h = env_var("HOME"))
    data = fs::path(*h) / ".local" / "share";
  else
    return fail(ErrorKind::not_found, "neither XDG_DATA_HOME nor HOME is set, so the demo vault has no place");
  DemoPaths d;
  d.root = data / "para-broker-demo";
  d.paths.vault_home = env_var("PARA_BROKER_HOME") ? fs::path(*env_var("PARA_BROKER_HOME")) : d.root / "vault";
  d.paths.key_file =
      env_var("PARA_BROKER_KEY_FILE") ? fs::path(*env_var("PARA_BROKER_KEY_FILE")) : d.root / "vault.key";
  d.paths.cache_dir = env_var("PARA_BROKER_CACHE") ? fs::path(*env_var("PARA_BROKER_CACHE")) : d.root / "cache";
  if (!env_var("PARA_BROKER_HOME") || !env_var("PARA_BROKER_KEY_FILE") || !env_var("PARA_BROKER_CACHE"))
    PB_TRY_STATUS(ensure_private_dir(d.root, "demo directory"));
  return d;
}

// ------------------------------------------------------------ the image

/// Writes the demo root file system as a tar into `out`.
class RootfsWriter {
 public:
  explicit RootfsWriter(ByteWriter& out) : m_out(out), m_archive(archive_write_new()) {
    archive_write_set_format_pax_restricted(m_archive.get());
    archive_write_open(m_archive.get(), this, nullptr, &RootfsWriter::write_cb, nullptr);
  }

  Status dir(const std::string& name, mode_t mode, int uid = 0) { return add(name, AE_IFDIR | mode, uid, {}, {}); }
  Status file(const std::string& name, mode_t mode, std::string_view data) {
    return add(name, AE_IFREG | mode, 0, data, {});
  }
  Status link(const std::string& name, const std::string& target) { return add(name, AE_IFLNK | 0777, 0, {}, target); }

  Status close() {
    if (archive_write_close(m_archive.get()) != ARCHIVE_OK) return failed("finish");
    PB_TRY_STATUS(std::move(m_status));
    return m_out.finish();
  }

 private:
  static la_ssize_t write_cb(struct archive*, void* self, const void* buffer, size_t length) {
    auto* w = static_cast<RootfsWriter*>(self);
    Status s = w->m_out.write({static_cast<const std::byte*>(buffer), length});
    if (!s.ok()) {
      w->m_status = std::move(s);
      return -1;
    }
    return static_cast<la_ssize_t>(length);
  }

  Status add(const std::string& name, mode_t mode, int uid, std::string_view data, const std::string& target) {
    ArchiveEntry e(archive_entry_new());
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_mode(e.get(), mode);
    archive_entry_set_uid(e.get(), uid);
    archive_entry_set_gid(e.get(), uid);
    archive_entry_set_mtime(e.get(), 946684800, 0);
    if (!target.empty()) archive_entry_set_symlink(e.get(), target.c_str());
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
    if (archive_write_header(m_archive.get(), e.get()) != ARCHIVE_OK) return failed(name);
    if (!data.empty() && archive_write_data(m_archive.get(), data.data(), data.size()) < 0) return failed(name);
    return {};
  }

  Status failed(const std::string& what) {
    if (!m_status.ok()) return std::move(m_status);
    const char* msg = archive_error_string(m_archive.get());
    return fail(ErrorKind::failure,
                "could not write the demo image's file system (" + what + "): " + (msg ? msg : "?"));
  }

  ByteWriter& m_out;
  ArchiveWrite m_archive;
  Status m_status;
};

/// Whether an ELF64 executable asks for a dynamic loader (a PT_INTERP program header).
bool has_interpreter(const std::string& elf) {
  auto num = [&](std::size_t off, std::size_t n) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n && off + i < elf.size(); ++i)
      v |= std::uint64_t(static_cast<unsigned char>(elf[off + i])) << (8 * i);
    return v;
  };
  if (elf.size() < 64 ||
      elf.compare(0, 4,
                  "\x7f"
                  "ELF") != 0 ||
      elf[4] != 2)
    return true;  // not ELF64: refuse
  const std::uint64_t phoff = num(32, 8), phentsize = num(54, 2), phnum = num(56, 2);
  for (std::uint64_t i = 0; i < phnum; ++i) {
    const std::uint64_t at = phoff + i * phentsize;
    if (at + 4 > elf.size()) return true;
    if (num(at, 4) == 3) return true;  // PT_INTERP
  }
  return false;
}

Result<std::string> read_busybox() {
  auto r = read_file(k_busybox, 16u << 20);
  if (!r.ok())
    return fail(ErrorKind::not_found, std::string("the demo needs a static busybox at ") + k_busybox +
                                          "; install busybox-static (scripts/setup does)");
  std::string data(reinterpret_cast<const char*>(r->data()), r->size());
  if (has_interpreter(data))
    return fail(ErrorKind::failure,
                std::string(k_busybox) + " is linked dynamically; the demo image needs busybox-static");
  return data;
}

Status build_image(DockerClient& docker, const std::string& ref, const std::string& busybox) {
  std::vector<std::string> changes{"USER demo", "ENV HOME=/home/demo", "ENV PATH=/usr/local/bin:/bin",
                                   "WORKDIR /home/demo", "CMD [\"claude\"]"};
  for (const auto& [k, v] : labels::managed(Role::demo)) changes.push_back("LABEL " + k + "=\"" + v + "\"");
  PB_TRY(auto writer, docker.image_import(ref, changes));
  RootfsWriter w(*writer);
  const std::string pkg = "usr/local/lib/node_modules/@anthropic-ai/claude-code";
  for (const char* d : {"bin", "etc", "home", "usr", "usr/local", "usr/local/bin", "usr/local/lib",
                        "usr/local/lib/node_modules", "usr/local/lib/node_modules/@anthropic-ai"})
    PB_TRY_STATUS(w.dir(d, 0755));
  PB_TRY_STATUS(w.dir("tmp", 01777));
  PB_TRY_STATUS(w.dir("root", 0700));
  PB_TRY_STATUS(w.dir("home/demo", 0755, 1000));
  PB_TRY_STATUS(w.file("bin/busybox", 0755, busybox));
  for (const char* a : k_applets) PB_TRY_STATUS(w.link(std::string("bin/") + a, "busybox"));
  PB_TRY_STATUS(
      w.file("etc/passwd", 0644, "root:x:0:0:root:/root:/bin/sh\ndemo:x:1000:1000:demo:/home/demo:/bin/sh\n"));
  PB_TRY_STATUS(w.file("etc/group", 0644, "root:x:0:\ndemo:x:1000:\n"));
  PB_TRY_STATUS(w.dir(pkg, 0755));
  PB_TRY_STATUS(w.file(pkg + "/cli.js", 0755, k_standin));
  PB_TRY_STATUS(w.file(pkg + "/package.json", 0644,
                       std::string("{\n  \"name\": \"@anthropic-ai/claude-code\",\n  \"version\": \"") + k_version +
                           "\",\n  \"bin\": {\"claude\": \"cli.js\"},\n  \"description\": \"para-broker demo stand-in: "
                           "reports its login, nothing else\"\n}\n"));
  PB_TRY_STATUS(w.link("usr/local/bin/claude", "../lib/node_modules/@anthropic-ai/claude-code/cli.js"));
  return w.close();
}

// ------------------------------------------------------------ the credential

vault::Capture demo_capture() {
  using namespace std::chrono;
  const auto expires = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count() + 8LL * 3600 * 1000;
  const std::string tail = random_hex(24);
  nlohmann::json creds = {{"claudeAiOauth",
                           {{"accessToken", "sk-ant-oat01-DEMO-fake-token-not-real-" + tail},
                            {"refreshToken", "sk-ant-ort01-DEMO-fake-token-not-real-" + tail},
                            {"expiresAt", expires},
                            {"scopes", {"user:inference", "user:profile"}},
                            {"subscriptionType", "max"}}}};
  nlohmann::json global = {{"hasCompletedOnboarding", true},
                           {"oauthAccount",
                            {{"accountUuid", "00000000-0000-4000-8000-00000000dead"},
                             {"emailAddress", "demo@example.com"},
                             {"organizationUuid", "00000000-0000-4000-8000-00000000beef"},
                             {"organizationName", "para-broker demo (not a real account)"}}}};
  vault::Capture c;
  std::string a = creds.dump(), b = global.dump();
  c.credentials_json.assign(a.begin(), a.end());
  c.claude_json.assign(b.begin(), b.end());
  secure_wipe(a.data(), a.size());
  c.source = "demo";
  return c;
}

// ------------------------------------------------------------ clean-up on every path

struct Leftovers {
  explicit Leftovers(DockerClient& d) : docker(d) {}
  Leftovers(const Leftovers&) = delete;
  Leftovers& operator=(const Leftovers&) = delete;
  DockerClient& docker;
  vault::Vault* vault = nullptr;
  std::string image;
  std::vector<std::string> containers;
  std::vector<std::string> sessions;  ///< mounted and not yet released

  ~Leftovers() {
    for (const auto& c : containers) (void)docker.container_remove(c, true, true);
    if (vault != nullptr)
      for (const auto& s : sessions) (void)dispatch::release(docker, *vault, s, false);
    if (!image.empty()) (void)docker.image_remove(image, true);
  }
};

/// Step 4 of the demo: two sessions of the demo credential mounted, with what para would pass docker run.
Result<std::vector<dispatch::MountResult>> mount_sessions(DockerClient& docker, vault::Vault& v, const Paths& paths,
                                                          const std::string& image, const std::string& tag,
                                                          Leftovers& left, std::ostream& out) {
  std::vector<dispatch::MountResult> mounts;
  for (int i = 1; i <= 2; ++i) {
    dispatch::MountRequest req{image, "demo-" + tag + "-" + std::to_string(i), std::string(k_credential), {}};
    PB_TRY(dispatch::MountResult m, dispatch::mount(docker, v, paths, req));
    left.sessions.push_back(m.session);
    mounts.push_back(m);
    out << "4. mounted session " << m.session << ":";
    for (const auto& [volume, target] : dispatch::mounts_of(m))
      out << " --mount type=volume,src=" << volume << ",dst=" << target;
    for (const auto& [key, value] : dispatch::env_of(m)) out << " --env " << key << "=" << value;
    out << "\n";
  }
  return mounts;
}

/// A container per session, run at once: each must find its login.
Status run_sessions(DockerClient& docker, const std::string& image, const std::vector<dispatch::MountResult>& mounts,
                    Leftovers& left, std::ostream& out) {
  for (const auto& m : mounts) {
    ContainerSpec spec;
    spec.image = image;
    spec.name = std::string(labels::k_container_prefix) + m.session;
    spec.cmd = {"claude"};
    for (const auto& [key, value] : dispatch::env_of(m)) spec.env.push_back(key + "=" + value);
    for (const auto& [volume, target] : dispatch::mounts_of(m))
      spec.mounts.push_back({MountSpec::Type::volume, volume, target, false, false, {}});
    spec.labels = labels::managed(Role::demo);
    spec.labels[labels::k_session] = m.session;
    spec.network_mode = "none";
    PB_TRY(std::string id, docker.container_create(spec));
    left.containers.push_back(id);
  }
  for (const auto& id : left.containers) PB_TRY_STATUS(docker.container_start(id));
  for (std::size_t i = 0; i < left.containers.size(); ++i) {
    const std::string& id = left.containers[i];
    PB_TRY(WaitResult w, docker.container_wait(id, std::chrono::seconds(30)));
    PB_TRY(Logs logs, docker.container_logs(id, {true, true, 64 * 1024}));
    std::string text = logs.out + logs.err;
    while (!text.empty() && text.back() == '\n') text.pop_back();
    out << "   container " << (i + 1) << " (" << id.substr(0, 12) << "): " << text << "\n";
    if (w.exit_code != 0)
      return fail(ErrorKind::failure, "the demo container of session " + mounts[i].session +
                                          " is not logged in (exit " + std::to_string(w.exit_code) + ")");
  }
  for (const auto& id : left.containers) PB_TRY_STATUS(docker.container_remove(id, true, true));
  left.containers.clear();
  return {};
}

/// The demo takes no options.
struct Options {};

void declare(CLI::App&, Options&) {}

Result<int> run_demo(Context& ctx, const Options&) {
  using clock = std::chrono::steady_clock;
  const auto started = clock::now();
  auto& out = ctx.out;
  PB_TRY(DemoPaths dp, demo_paths());
  out << "para-broker demo: a fake credential, a local image, two parallel sessions.\n"
      << "  demo vault: " << dp.paths.vault_home.string() << "\n"
      << "  key file:   " << dp.paths.key_file.string() << "\n"
      << "  cache:      " << dp.paths.cache_dir.string() << "\n"
      << "  (your real vault is not touched)\n\n";

  PB_TRY(auto docker, ctx.docker());
  PB_TRY_STATUS(docker->ping());
  PB_TRY(std::string busybox, read_busybox());
  const std::string tag = random_hex(8);
  Leftovers left(*docker);

  // 1. The image: busybox and a stand-in claude, imported through the Engine API.
  const std::string image = "para-broker-demo/claude:" + tag;
  PB_TRY_STATUS(build_image(*docker, image, busybox));
  left.image = image;
  out << "1. built image " << image << " (busybox and a stand-in claude " << k_version << ", user demo)\n";

  // 2. The credential: clearly fake, into the demo vault.
  PB_TRY(vault::Vault v, vault::Vault::open_or_create(vault_options(dp.paths)));
  left.vault = &v;
  vault::CaptureOptions co;
  co.name = k_credential;
  PB_TRY(vault::CaptureOutcome captured, v.capture(demo_capture(), co));
  out << "2. captured credential '" << captured.meta.name << "' (" << captured.meta.id << "): " << captured.meta.kind
      << ", " << mask_account(captured.meta.account) << ", plan " << captured.meta.plan << ", expires "
      << format_time(captured.meta.expires_at) << " UTC (a fake sk-ant-oat01-DEMO-fake-token-not-real)\n";

  // 3. Probe.
  PB_TRY(probes::ProbeReport report, probe_image(*docker, dp.paths, image));
  if (!report.claude.found)
    return fail(ErrorKind::not_found, "the demo image's stand-in claude was not found by probe");
  out << "3. probe: Claude Code " << report.claude.version.value_or("?") << " (" << report.claude.kind << ") runs as "
      << report.user.name.value_or("?") << " (uid " << report.user.uid << "), config "
      << report.locations.config_dir.value_or("?") << ", credentials " << report.locations.credentials.value_or("?")
      << "\n";

  // 4. Two sessions, two containers, in parallel.
  PB_TRY(std::vector<dispatch::MountResult> mounts, mount_sessions(*docker, v, dp.paths, image, tag, left, out));
  PB_TRY_STATUS(run_sessions(*docker, image, mounts, left, out));

  // 5. Release: write back (nothing refreshed here) and remove the volumes.
  for (const auto& m : mounts) {
    PB_TRY(dispatch::ReleaseResult r, dispatch::release(*docker, v, m.session, true));
    std::erase(left.sessions, m.session);
    out << "5. released session " << m.session << (r.volume_removed ? " (volume " + r.volume + " removed)" : "")
        << "\n";
  }

  // 6. The audit, as `para-broker audit` prints it for the demo vault.
  out << "\n6. para-broker audit (demo vault):\n";
  Context audit_ctx{dp.paths, ctx.out, ctx.err, ctx.docker, false};
  int audit_rc = run(std::vector<std::string>{"para-broker", "audit"}, audit_ctx);
  if (audit_rc != 0 && audit_rc != 10) return fail(ErrorKind::failure, "the audit of the demo vault failed");

  // 7. Clean up what the demo made; the vault stays.
  PB_TRY_STATUS(docker->image_remove(image, true));
  left.image.clear();
  const auto seconds = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started).count() / 1000.0;
  out << "\n7. removed the demo's containers, volumes and image in " << seconds << " s in all.\n"
      << "The demo vault stays in " << dp.paths.vault_home.string() << " (remove it with: rm -rf " << dp.root.string()
      << ").\n";
  return 0;
}

}  // namespace

CommandSpec demo_spec() {
  return {"demo", "Show the whole flow with a fake credential and a local image (needs only Docker)",
          "para-broker demo", &handle<Options, declare, run_demo>};
}

}  // namespace pb::broker::commands
