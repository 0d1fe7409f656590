// `para-broker import`: capture an existing login into the vault. Each source
// only produces a vault::Capture (credentials file + .claude.json); storing,
// de-duplication by account and "newer expiry wins" are the vault's job, and
// every source (and `login`) reaches it through store_capture().

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <ostream>

#include "broker/capture/host.hpp"
#include "broker/capture/interrupt.hpp"
#include "broker/capture/sources.hpp"
#include "broker/commands/commands.hpp"
#include "broker/commands/store_capture.hpp"
#include "broker/commands/vault_view.hpp"
#include "broker/docker/connect.hpp"
#include "broker/docker/docker_client.hpp"

namespace fs = std::filesystem;

namespace pb::broker::commands {
namespace {

struct Options {
  std::string from_dir;
  bool from_host = false;
  std::string from_container;
  std::string from_image;
  std::string name;
  bool json = false;
};

/// After `--from-image`: the image still carries the login in its layers.
void print_rebuild_advice(Context& ctx, const std::string& image, const capture::LoginFiles& files) {
  std::string paths;
  for (const auto& p : {files.credentials, files.global_config})
    if (p) paths += (paths.empty() ? "" : " and ") + *p;
  ctx.err << "para-broker: image " << image << " still carries this login in its layers (" << paths
          << "), and every `docker save`, push or shared cache of it leaks the tokens.\n"
          << "  Rebuild it without them: drop the Dockerfile step that ran `claude /login` (or the `docker commit` "
             "made after it) and any COPY of .claude/ or .claude.json; deleting them in a later layer does not "
             "remove them (`para-broker audit --images` shows the layer).\n"
          << "  Then give containers the login at run time: docker run $(para-broker mount --image <rebuilt image> "
             "--session <session>) ...\n"
          << "  Remove the old image once nothing uses it: docker image rm " << image << "\n";
}

}  // namespace

Status check_credential_name(const std::optional<std::string>& name) {
  if (name && !vault::is_valid_name(*name))
    return fail(ErrorKind::usage, "'" + *name + "' is not a valid credential name (use letters, digits, . _ @ + -)");
  return {};
}

Result<vault::CaptureOutcome> store_capture(const Context& ctx, const vault::Capture& capture,
                                            const std::optional<std::string>& name) {
  PB_TRY_STATUS(check_credential_name(name));
  // Validate before the vault is created or unlocked: bad input changes nothing.
  // Reducing an already reduced .claude.json is cheap and changes nothing.
  SecureBytes reduced;
  if (!capture.claude_json.empty()) {
    PB_TRY(reduced, vault::reduce_claude_json(ByteSpan(capture.claude_json)));
  }
  PB_TRY(vault::LoginSummary summary, vault::summarise_login(capture.credentials_json, reduced));
  (void)summary;
  vault::Capture stored{capture.credentials_json, std::move(reduced), capture.source};
  vault::CaptureOptions co;
  co.name = name;
  PB_TRY(vault::Vault v, vault::Vault::open_or_create(vault_options(ctx.paths)));
  return v.capture(stored, co);
}

void print_capture_outcome(Context& ctx, const vault::CaptureOutcome& o, bool json) {
  const char* action = o.action == vault::CaptureOutcome::Action::created    ? "created"
                       : o.action == vault::CaptureOutcome::Action::replaced ? "replaced"
                                                                             : "kept";
  if (json) {
    nlohmann::json j = {{"schema", 1},
                        {"action", action},
                        {"name", o.meta.name},
                        {"id", o.meta.id},
                        {"kind", o.meta.kind},
                        {"account", mask_account(o.meta.account)},
                        {"plan", o.meta.plan},
                        {"expires_at", o.meta.expires_at ? nlohmann::json(*o.meta.expires_at) : nlohmann::json()}};
    ctx.out << j.dump(2) << "\n";
  } else if (o.action == vault::CaptureOutcome::Action::kept_stored) {
    ctx.out << "kept credential '" << o.meta.name << "' (" << o.meta.id
            << "): the stored login expires later than the one captured\n";
  } else {
    ctx.out << action << " credential '" << o.meta.name << "' (" << o.meta.id << "): " << o.meta.kind << ", "
            << mask_account(o.meta.account) << ", expires " << format_time(o.meta.expires_at) << " UTC\n";
  }
}

namespace {

void declare(CLI::App& app, Options& opt) {
  auto* dir = app.add_option("--from-dir", opt.from_dir,
                             "A home-like directory holding .claude/.credentials.json and .claude.json");
  auto* host = app.add_flag("--from-host", opt.from_host,
                            "This machine's login ($HOME, CLAUDE_CONFIG_DIR; on macOS the login Keychain)");
  auto* container = app.add_option("--from-container", opt.from_container,
                                   "A container (running or stopped), read through the Docker archive API");
  auto* image =
      app.add_option("--from-image", opt.from_image, "An image with a login baked into its layers (it is never run)");
  dir->excludes(host, container, image);
  host->excludes(container, image);
  container->excludes(image);
  app.add_option("--name", opt.name, "Credential name (default: the account's, or the existing entry's)");
  app.add_flag("--json", opt.json, "Machine-readable result (schema 1)");
}

Result<int> run_import(Context& ctx, const Options& opt) {
  std::optional<std::string> name;
  if (!opt.name.empty()) name = opt.name;
  PB_TRY_STATUS(check_credential_name(name));
  vault::Capture capture;
  std::optional<capture::LoginFiles> baked;
  if (!opt.from_dir.empty()) {
    PB_TRY(capture, vault::capture_from_dir(opt.from_dir, std::nullopt,
                                            "dir:" + fs::absolute(opt.from_dir).lexically_normal().string()));
  } else if (opt.from_host) {
    PB_TRY(capture::HostSource source, capture::host_source_from_environment());
    PB_TRY(capture, capture::capture_host(source));
  } else if (!opt.from_container.empty() || !opt.from_image.empty()) {
    capture::InterruptGuard interrupt;
    PB_TRY(auto docker, ctx.docker());
    PB_TRY_STATUS(docker::require_login_transport(*docker));
    if (!opt.from_container.empty()) {
      PB_TRY(capture, capture::capture_from_container(*docker, ctx.paths, opt.from_container));
    } else {
      PB_TRY(capture::ImageCapture ic, capture::capture_from_image(*docker, ctx.paths, opt.from_image));
      capture = std::move(ic.capture);
      baked = ic.files;
    }
    if (int sig = capture::InterruptGuard::signal_received(); sig != 0)
      return fail(ErrorKind::failure, "import was interrupted; nothing was stored");
  } else {
    return fail(ErrorKind::usage,
                "say where to import from: --from-dir DIR, --from-host, --from-container ID or --from-image IMAGE");
  }
  PB_TRY(vault::CaptureOutcome o, store_capture(ctx, capture, name));
  print_capture_outcome(ctx, o, opt.json);
  if (baked) print_rebuild_advice(ctx, opt.from_image, *baked);
  return 0;
}

}  // namespace

CommandSpec import_spec() {
  return {"import", "Capture an existing Claude Code login into the vault",
          "para-broker import --from-host --name work", &handle<Options, declare, run_import>};
}

}  // namespace pb::broker::commands
