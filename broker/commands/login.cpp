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

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstring>
#include <ctime>
#include <ostream>
#include <random>

#include "broker/capture/interrupt.hpp"
#include "broker/capture/sources.hpp"
#include "broker/commands/commands.hpp"
#include "broker/commands/store_capture.hpp"
#include "broker/dispatch/dispatch.hpp"
#include "broker/docker/connect.hpp"
#include "broker/docker/docker_client.hpp"
#include "broker/labels.hpp"
#include "broker/probe/probe_runner.hpp"
#include "core/c_handles.hpp"
#include "probes/interpret.hpp"
#include "probes/knowledge.hpp"

namespace pb::broker::commands {
namespace {

struct Options {
  std::string image;
  std::string name;
  bool json = false;
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

/// A tar of empty directories (mode 0700, owned by uid/gid), paths relative to "/".
Result<std::string> directories_tar(const std::vector<std::string>& dirs, std::uint32_t uid, std::uint32_t gid) {
  std::string out;
  ArchiveWrite a(archive_write_new());
  if (!a) return fail(ErrorKind::failure, "cannot allocate an archive writer");
  archive_write_set_format_pax_restricted(a.get());
  auto write_cb = [](struct archive*, void* client, const void* buf, size_t n) -> la_ssize_t {
    static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  };
  if (archive_write_open(a.get(), &out, nullptr, write_cb, nullptr) != ARCHIVE_OK)
    return fail(ErrorKind::failure, "cannot write the staging directories' archive");
  for (const auto& d : dirs) {
    ArchiveEntry e(archive_entry_new());
    std::string rel = d.substr(d.find_first_not_of('/'));
    archive_entry_set_pathname(e.get(), rel.c_str());
    archive_entry_set_filetype(e.get(), AE_IFDIR);
    archive_entry_set_perm(e.get(), 0700);
    archive_entry_set_uid(e.get(), uid);
    archive_entry_set_gid(e.get(), gid);
    archive_entry_set_mtime(e.get(), ::time(nullptr), 0);
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK)
      return fail(ErrorKind::failure, "cannot write the staging directories' archive");
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK)
    return fail(ErrorKind::failure, "cannot write the staging directories' archive");
  return out;
}

Error interrupted() {
  return fail(ErrorKind::failure, "login was interrupted; nothing was stored");
}

Result<int> run_login(Context& ctx, const Options& opt) {
  std::optional<std::string> name;
  if (!opt.name.empty()) name = opt.name;
  PB_TRY_STATUS(check_credential_name(name));
  if (::isatty(STDIN_FILENO) != 1)
    return fail(ErrorKind::usage,
                "login needs a terminal on stdin for Claude Code's prompts; to capture an existing login use "
                "`para-broker import`");

  capture::InterruptGuard interrupt;
  PB_TRY(auto docker, ctx.docker());
  PB_TRY_STATUS(docker::require_login_transport(*docker));
  PB_TRY(probes::ProbeReport report, probe_image(*docker, ctx.paths, opt.image));
  if (!report.claude.found || !report.claude.path)
    return fail(ErrorKind::not_found,
                "image " + opt.image + " has no Claude Code installed, so there is nothing to log in with");
  if (interrupt.signal_received() != 0) return interrupted();

  // Where Claude will write: a fresh directory under CLAUDE_CONFIG_DIR when the
  // build honours it (no image content is hidden), else its config directory.
  ContainerSpec spec;
  std::string mount_target;
  std::vector<std::string> dirs;
  capture::LoginFiles files;
  if (report.honors_claude_config_dir) {
    // The same fixed place as a session's volume: nothing of the image's HOME is used.
    mount_target = dispatch::k_mount_target;
    std::string cfg = join(mount_target, "claude");
    const auto& knowledge = probes::builtin_knowledge();
    if (!knowledge.ok()) return knowledge.error();
    PB_TRY(probes::Locations loc, probes::locations_with_env(knowledge.value(), report, {{"CLAUDE_CONFIG_DIR", cfg}}));
    files = {loc.credentials, loc.global_config};
    spec.env.push_back("CLAUDE_CONFIG_DIR=" + cfg);
    dirs = {mount_target, cfg};
  } else {
    if (!report.locations.config_dir)
      return fail(ErrorKind::failure, "the probe of " + opt.image + " found no config directory to log in to");
    mount_target = *report.locations.config_dir;
    files = capture::login_files(report);
    dirs = {mount_target};
  }

  std::string suffix = random_suffix();
  std::string volume = "para-broker-login-" + suffix;
  Labels staging = labels::managed("staging");
  // gc takes a staging volume only once it is older than its grace: the login
  // container that will use it is created right after.
  staging[labels::k_created_at] = std::to_string(static_cast<long long>(std::time(nullptr)));
  PB_TRY(VolumeInfo vi, docker->volume_create(volume, staging));
  (void)vi;
  capture::VolumeGuard volume_guard(*docker, volume);

  spec.image = opt.image;
  // Not `para-…`: para counts and removes those (labels::k_container_prefix).
  spec.name = std::string(labels::k_container_prefix) + "login-" + suffix;
  spec.entrypoint = std::vector<std::string>{*report.claude.path};
  spec.cmd = {"/login"};
  spec.tty = true;
  spec.open_stdin = true;
  spec.labels = labels::managed("staging");
  spec.mounts.push_back({MountSpec::Type::volume, volume, mount_target, false, false, {}});
  PB_TRY(std::string id, docker->container_create(spec));
  capture::ContainerGuard container_guard(*docker, id);

  // The staging directories belong to the runtime user before Claude starts.
  PB_TRY(std::string tar, directories_tar(dirs, report.user.uid, report.user.gid));
  {
    PB_TRY(auto writer, docker->archive_put(id, "/"));
    PB_TRY_STATUS(writer->write(std::as_bytes(std::span(tar.data(), tar.size()))));
    PB_TRY_STATUS(writer->finish());
  }
  if (interrupt.signal_received() != 0) return interrupted();

  ctx.err << "para-broker: running `claude /login` from " << opt.image
          << " (nothing is committed; the container is removed afterwards)\n";
  ctx.err.flush();
  auto attached = docker->attach_terminal(id, {STDIN_FILENO, STDOUT_FILENO, true});
  interrupt.reinstall();  // the attach replaced the handlers with its own

  // However the attach ended, Claude must be gone before its files are read.
  bool aborted = !attached.ok() || interrupt.signal_received() != 0;
  PB_TRY(ContainerInfo info, docker->container_inspect(id));
  if (info.state.running) {
    (void)docker->container_kill(id, "SIGKILL");
    (void)docker->container_wait(id, std::chrono::seconds(10));
    aborted = true;
  }
  ctx.err << "\n";
  if (aborted) {
    std::string why = !attached.ok() ? attached.error().message : "it was interrupted";
    return fail(ErrorKind::failure, "the login in " + opt.image + " did not finish (" + why + "); nothing was stored");
  }

  auto captured = capture::read_login(*docker, id, files, "login:" + opt.image, "the login container");
  if (!captured.ok()) {
    if (captured.error().kind == ErrorKind::not_found)
      return fail(ErrorKind::failure,
                  "`claude /login` in " + opt.image + " ended without writing credentials; nothing was stored");
    return std::move(captured).error();
  }
  if (captured->credentials_json.empty()) {
    // An API-key login lives in .claude.json alone; anything else is no login.
    SecureBytes none;
    if (!vault::summarise_login(none, captured->claude_json).ok())
      return fail(ErrorKind::failure,
                  "`claude /login` in " + opt.image + " ended without writing credentials; nothing was stored");
  }
  if (interrupt.signal_received() != 0) return interrupted();
  PB_TRY_STATUS(container_guard.remove());
  PB_TRY_STATUS(volume_guard.remove());

  auto stored = store_capture(ctx, *captured, name);
  if (!stored.ok()) {
    if (stored.error().kind == ErrorKind::not_found)
      return fail(ErrorKind::failure,
                  "`claude /login` in " + opt.image + " ended without writing credentials; nothing was stored");
    return std::move(stored).error();
  }
  print_capture_outcome(ctx, *stored, opt.json);
  return 0;
}

}  // namespace

CommandSpec login_spec() {
  return {"login", "Log in with an image's own Claude Code in a throw-away container",
          "para-broker login --image para-claude:latest --name work", [](CLI::App& app) -> Handler {
            auto opt = std::make_shared<Options>();
            app.add_option("--image", opt->image, "The image whose Claude Code runs `claude /login`")->required();
            app.add_option("--name", opt->name, "Credential name (default: the account's, or the existing entry's)");
            app.add_flag("--json", opt->json, "Machine-readable result (schema 1)");
            return [opt](Context& ctx) -> Result<int> { return run_login(ctx, *opt); };
          }};
}

}  // namespace pb::broker::commands
