// `para-broker login --image IMAGE`: run the image's own `claude /login` on the
// user's terminal in a throw-away container, then capture what it wrote.
//
// The container gets a fresh staging volume where Claude will write (under
// CLAUDE_CONFIG_DIR when this build honours it, else its config directory),
// owned by the image's runtime user. When the login ends the two login files
// are read through the archive API straight into memory (tar_policy.hpp) and
// stored through the same path as `import`. The container and the volume are
// removed on every path (success, failure, Ctrl-C, SIGTERM); no image is ever
// committed.
//
// The login container's network and environment are the user's to give
// (--network, --env, --add-host, --ca-file: a proxy, its CA, a private name),
// checked in capture/login_network.hpp; nothing of the caller's environment
// reaches the container unless named with --env.

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstring>
#include <ctime>
#include <ostream>
#include <random>

#include "broker/capture/interrupt.hpp"
#include "broker/capture/login_network.hpp"
#include "broker/capture/sources.hpp"
#include "broker/commands/commands.hpp"
#include "broker/commands/store_capture.hpp"
#include "broker/dispatch/dispatch.hpp"
#include "broker/dispatch/volume_tar.hpp"
#include "broker/docker/connect.hpp"
#include "broker/docker/docker_client.hpp"
#include "broker/docker/guards.hpp"
#include "broker/objects/labels.hpp"
#include "broker/probe/probe_runner.hpp"
#include "core/files.hpp"
#include "core/paths.hpp"
#include "probes/interpret.hpp"
#include "probes/knowledge.hpp"

namespace pb::broker::commands {
namespace {

struct Options {
  std::string image;
  std::string name;
  bool json = false;
  capture::LoginNetworkRequest network;
};

std::string random_suffix() {
  std::random_device rd;
  std::uniform_int_distribution<unsigned> d(0, 15);
  std::string s;
  for (int i = 0; i < 16; ++i) s += "0123456789abcdef"[d(rd)];
  return s;
}

std::string join(const std::string& dir, const std::string& name) {
  return dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
}

/// One entry of what is copied into the login container before it starts, at
/// `path` (absolute); owned by the runtime user unless `owner` says otherwise.
dispatch::TreeEntry staged(const std::string& path, bool directory, std::string_view content, std::uint32_t mode,
                           std::optional<dispatch::TreeEntry::Owner> owner = std::nullopt) {
  dispatch::TreeEntry e;
  e.name = path.substr(std::min(path.find_first_not_of('/'), path.size()));  // relative to "/"
  e.is_dir = directory;
  e.data.assign(content.begin(), content.end());
  e.mode = mode;
  e.owner = owner;
  return e;
}

/// What the docker CLI would add to a container it creates from its proxies setting (none without a config.json).
Result<std::vector<std::string>> docker_cli_proxies(const std::string& endpoint,
                                                    const std::vector<std::string>& given) {
  const auto path = docker::docker_config_dir() / "config.json";
  auto bytes = read_file(path, 1u << 20);
  if (!bytes) {
    if (bytes.error().kind == ErrorKind::not_found) return std::vector<std::string>{};
    return fail(ErrorKind::failure,
                "cannot read the docker CLI configuration " + path.string() + ": " + bytes.error().message);
  }
  auto config = nlohmann::json::parse(bytes->begin(), bytes->end(), nullptr, false);
  if (config.is_discarded()) return std::vector<std::string>{};  // no proxies to be found in it
  return capture::docker_cli_proxy_env(config, endpoint, given);
}

Error interrupted() {
  return fail(ErrorKind::failure, "login was interrupted; nothing was stored");
}

/// Where Claude will write: a fresh directory under CLAUDE_CONFIG_DIR when the
/// build honours it (no image content is hidden), else its config directory.
struct LoginPlan {
  std::string mount_target;       ///< where the staging volume is mounted
  std::vector<std::string> dirs;  ///< directories made for the runtime user before Claude starts
  capture::LoginFiles files;      ///< where the login will be
  std::vector<std::string> env;   ///< CLAUDE_CONFIG_DIR, when set
};

Result<LoginPlan> plan_login(const probes::ProbeReport& report, const std::string& image) {
  LoginPlan plan;
  if (report.honors_claude_config_dir) {
    // The same fixed place as a session's volume: nothing of the image's HOME is used.
    plan.mount_target = dispatch::k_mount_target;
    std::string cfg = join(plan.mount_target, "claude");
    const auto& knowledge = probes::builtin_knowledge();
    if (!knowledge.ok()) return knowledge.error();
    PB_TRY(probes::Locations loc, probes::locations_with_env(knowledge.value(), report, {{"CLAUDE_CONFIG_DIR", cfg}}));
    plan.files = {loc.credentials, loc.global_config};
    plan.env.push_back("CLAUDE_CONFIG_DIR=" + cfg);
    plan.dirs = {plan.mount_target, cfg};
    return plan;
  }
  if (!report.locations.config_dir)
    return fail(ErrorKind::failure, "the probe of " + image + " found no config directory to log in to");
  plan.mount_target = *report.locations.config_dir;
  plan.files = capture::login_files(report);
  plan.dirs = {plan.mount_target};
  return plan;
}

/// The staging directories belong to the runtime user before Claude starts;
/// the login CA, if any, is root's and readable by all.
Status stage_login(DockerClient& docker, const std::string& id, const probes::ProbeReport& report,
                   const LoginPlan& plan, const capture::LoginNetwork& network) {
  std::vector<dispatch::TreeEntry> entries;
  for (const auto& d : plan.dirs) entries.push_back(staged(d, true, {}, 0700));
  if (report.honors_claude_config_dir && plan.files.global_config) {
    // Claude Code's first-run screens (theme, notes) are not the login, and the
    // sessions get this key with the login anyway. Skipping them also skips
    // 1.0.x's first-run connectivity check, which asks Anthropic's public hosts
    // whatever USE_LOCAL_OAUTH says.
    entries.push_back(staged(*plan.files.global_config, false,
                             R"({"hasCompletedOnboarding":true})"
                             "\n",
                             0600));
  }
  if (!network.ca_pem.empty()) {
    // Outside the login volume.
    const dispatch::TreeEntry::Owner root{0, 0};
    entries.push_back(staged(capture::k_login_ca_dir, true, {}, 0755, root));
    entries.push_back(staged(capture::k_login_ca_path, false, network.ca_pem, 0644, root));
  }
  auto tar = dispatch::render_tree("", entries, report.user.uid, report.user.gid);
  if (!tar) return fail(ErrorKind::failure, "cannot write the staging directories' archive");
  PB_TRY(auto writer, docker.archive_put(id, "/"));
  PB_TRY_STATUS(writer->write(std::as_bytes(std::span(tar->data(), tar->size()))));
  return writer->finish();
}

/// The user's terminal attached to `claude /login`; however the attach ended,
/// Claude is gone before its files are read. An error when it did not finish.
Status attach_login(Context& ctx, DockerClient& docker, const std::string& id, const std::string& image,
                    capture::InterruptGuard& interrupt) {
  ctx.err << "para-broker: running `claude /login` from " << image
          << " (nothing is committed; the container is removed afterwards)\n";
  ctx.err.flush();
  auto attached = docker.attach_terminal(id, {STDIN_FILENO, STDOUT_FILENO, true});
  interrupt.reinstall();  // the attach replaced the handlers with its own
  bool aborted = !attached.ok() || interrupt.signal_received() != 0;
  PB_TRY(ContainerInfo info, docker.container_inspect(id));
  if (info.state.running) {
    (void)docker.container_kill(id, "SIGKILL");
    (void)docker.container_wait(id, std::chrono::seconds(10));
    aborted = true;
  }
  ctx.err << "\n";
  if (!aborted) return {};
  std::string why = !attached.ok() ? attached.error().message : "it was interrupted";
  return fail(ErrorKind::failure, "the login in " + image + " did not finish (" + why + "); nothing was stored");
}

Error nothing_written(const std::string& image) {
  return fail(ErrorKind::failure,
              "`claude /login` in " + image + " ended without writing credentials; nothing was stored");
}

/// What the login wrote: credentials, or an API key in .claude.json alone.
Result<vault::Capture> read_login_result(DockerClient& docker, const std::string& id, const LoginPlan& plan,
                                         const std::string& image) {
  auto captured = capture::read_login(docker, id, plan.files, "login:" + image, "the login container");
  if (!captured.ok()) {
    if (captured.error().kind == ErrorKind::not_found) return nothing_written(image);
    return std::move(captured).error();
  }
  if (captured->credentials_json.empty()) {
    // An API-key login lives in .claude.json alone; anything else is no login.
    SecureBytes none;
    if (!vault::summarise_login(none, captured->claude_json).ok()) return nothing_written(image);
  }
  return captured;
}

/// A staging volume for the login, which gc takes only once it is older than
/// its grace (the login container that will use it is created right after).
Result<std::string> make_staging_volume(DockerClient& docker, const std::string& suffix) {
  std::string volume = "para-broker-login-" + suffix;
  Labels staging = labels::managed(Role::staging);
  staging[labels::k_created_at] = std::to_string(static_cast<long long>(std::time(nullptr)));
  PB_TRY(VolumeInfo vi, docker.volume_create(volume, staging));
  (void)vi;
  return volume;
}

ContainerSpec login_container(const std::string& image, const probes::ProbeReport& report, const LoginPlan& plan,
                              const capture::LoginNetwork& network, const std::string& volume,
                              const std::string& suffix) {
  ContainerSpec spec;
  spec.image = image;
  // Not `para-…`: para counts and removes those (labels::k_container_prefix).
  spec.name = std::string(labels::k_container_prefix) + "login-" + suffix;
  spec.entrypoint = std::vector<std::string>{*report.claude.path};
  spec.cmd = {"/login"};
  spec.tty = true;
  spec.open_stdin = true;
  spec.labels = labels::managed(Role::staging);
  spec.mounts.push_back({MountSpec::Type::volume, volume, plan.mount_target, false, false, {}});
  spec.network_mode = network.network_mode;
  spec.extra_hosts = network.extra_hosts;
  spec.env = plan.env;
  spec.env.insert(spec.env.end(), network.env.begin(), network.env.end());
  return spec;
}

Result<int> run_login(Context& ctx, const Options& opt) {
  std::optional<std::string> name;
  if (!opt.name.empty()) name = opt.name;
  PB_TRY_STATUS(check_credential_name(name));
  PB_TRY(capture::LoginNetwork network,
         capture::resolve_login_network(opt.network, [](const std::string& n) { return env_var(n.c_str()); }));
  for (const auto& unset : network.unset)
    ctx.err << "para-broker: --env " << unset << " is not set here; the login container goes without it\n";
  if (::isatty(STDIN_FILENO) != 1)
    return fail(ErrorKind::usage,
                "login needs a terminal on stdin for Claude Code's prompts; to capture an existing login use "
                "`para-broker import`");

  capture::InterruptGuard interrupt;
  PB_TRY(auto docker, ctx.docker());
  PB_TRY_STATUS(docker::require_login_transport(*docker));
  PB_TRY(std::vector<std::string> proxies, docker_cli_proxies(docker->endpoint(), network.env));
  network.env.insert(network.env.end(), proxies.begin(), proxies.end());
  PB_TRY(probes::ProbeReport report, probe_image(*docker, ctx.paths, opt.image));
  if (!report.claude.found || !report.claude.path)
    return fail(ErrorKind::not_found,
                "image " + opt.image + " has no Claude Code installed, so there is nothing to log in with");
  if (interrupt.signal_received() != 0) return interrupted();
  PB_TRY(LoginPlan plan, plan_login(report, opt.image));

  const std::string suffix = random_suffix();
  PB_TRY(std::string volume, make_staging_volume(*docker, suffix));
  VolumeGuard volume_guard(*docker, volume);
  PB_TRY(std::string id, docker->container_create(login_container(opt.image, report, plan, network, volume, suffix)));
  ContainerGuard container_guard(*docker, id);
  PB_TRY_STATUS(stage_login(*docker, id, report, plan, network));
  if (interrupt.signal_received() != 0) return interrupted();
  PB_TRY_STATUS(attach_login(ctx, *docker, id, opt.image, interrupt));
  PB_TRY(vault::Capture captured, read_login_result(*docker, id, plan, opt.image));
  if (interrupt.signal_received() != 0) return interrupted();
  PB_TRY_STATUS(container_guard.remove());
  PB_TRY_STATUS(volume_guard.remove());

  auto stored = store_capture(ctx, captured, name);
  if (!stored.ok()) {
    if (stored.error().kind == ErrorKind::not_found) return nothing_written(opt.image);
    return std::move(stored).error();
  }
  print_capture_outcome(ctx, *stored, opt.json);
  return 0;
}

void declare(CLI::App& app, Options& opt) {
  app.add_option("--image", opt.image, "The image whose Claude Code runs `claude /login`")->required();
  app.add_option("--name", opt.name, "Credential name (default: the account's, or the existing entry's)");
  app.add_flag("--json", opt.json, "Machine-readable result (schema 1)");
  app.add_option("--network", opt.network.network,
                 "Docker network of the login container (host, bridge, or a network's name; default: "
                 "Docker's default bridge)");
  app.add_option("--env", opt.network.env,
                 "NAME=VALUE, or NAME to pass this variable's value from here, into the login container "
                 "(repeatable; e.g. HTTPS_PROXY, NO_PROXY; names of secrets and of Claude Code's "
                 "locations are refused)")
      ->type_name("NAME[=VALUE]");
  app.add_option("--add-host", opt.network.add_hosts, "HOST:IP line for the login container's /etc/hosts (repeatable)")
      ->type_name("HOST:IP");
  app.add_option("--ca-file", opt.network.ca_file,
                 "PEM file of extra CA certificates (e.g. a TLS-inspecting proxy's) for Claude Code in the "
                 "login container (NODE_EXTRA_CA_CERTS)")
      ->type_name("PEM");
}

}  // namespace

CommandSpec login_spec() {
  return {"login", "Log in with an image's own Claude Code in a throw-away container",
          "para-broker login --image para-claude:latest --name work", &handle<Options, declare, run_login>};
}

}  // namespace pb::broker::commands
