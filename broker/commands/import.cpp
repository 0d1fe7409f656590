// `para-broker import`: capture an existing login into the vault. Each source
// only produces a vault::Capture (credentials file + .claude.json); storing,
// de-duplication by account and "newer expiry wins" are the vault's job.

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <ostream>

#include "broker/commands/commands.hpp"
#include "broker/commands/vault_view.hpp"

namespace fs = std::filesystem;

namespace pb::broker::commands {
namespace {

struct Options {
  std::string from_dir;
  bool from_host = false;
  std::string name;
  bool json = false;
};

/// `--from-host`: `--from-dir $HOME`, honouring CLAUDE_CONFIG_DIR as Claude Code does.
Result<vault::Capture> capture_host() {
  auto home = env_var("HOME");
  if (!home) return fail(ErrorKind::not_found, "HOME is not set, so the host's Claude Code login cannot be found");
  std::optional<fs::path> cfg;
  if (auto c = env_var("CLAUDE_CONFIG_DIR")) cfg = fs::path(*c);
  return vault::capture_from_dir(*home, cfg, "host:" + (cfg ? cfg->string() : *home));
}

Result<int> report(Context& ctx, const vault::CaptureOutcome& o, bool json) {
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
  return 0;
}

}  // namespace

CommandSpec import_spec() {
  return {"import", "Capture an existing Claude Code login into the vault", "para-broker import --from-host --name work",
          [](CLI::App& app) -> Handler {
            auto opt = std::make_shared<Options>();
            auto* dir = app.add_option("--from-dir", opt->from_dir,
                                       "A home-like directory holding .claude/.credentials.json and .claude.json");
            auto* host = app.add_flag("--from-host", opt->from_host, "This machine's login ($HOME, CLAUDE_CONFIG_DIR)");
            dir->excludes(host);
            app.add_option("--name", opt->name, "Credential name (default: the account's, or the existing entry's)");
            app.add_flag("--json", opt->json, "Machine-readable result (schema 1)");
            return [opt](Context& ctx) -> Result<int> {
              vault::Capture capture;
              if (!opt->from_dir.empty()) {
                PB_TRY(capture, vault::capture_from_dir(opt->from_dir, std::nullopt,
                                                        "dir:" + fs::absolute(opt->from_dir).lexically_normal().string()));
              } else if (opt->from_host) {
                PB_TRY(capture, capture_host());
              } else {
                return fail(ErrorKind::usage, "say where to import from: --from-dir DIR or --from-host");
              }
              vault::CaptureOptions co;
              if (!opt->name.empty()) co.name = opt->name;
              // Validate before the vault is created or unlocked: bad input changes nothing.
              if (co.name && !vault::is_valid_name(*co.name))
                return fail(ErrorKind::usage, "'" + *co.name + "' is not a valid credential name (use letters, digits, . _ @ + -)");
              SecureBytes reduced;
              if (!capture.claude_json.empty()) {
                PB_TRY(reduced, vault::reduce_claude_json(ByteSpan(capture.claude_json)));
              }
              PB_TRY(vault::LoginSummary s, vault::summarise_login(capture.credentials_json, reduced));
              (void)s;
              PB_TRY(vault::Vault v, vault::Vault::open_or_create(vault_options(ctx.paths)));
              PB_TRY(vault::CaptureOutcome o, v.capture(capture, co));
              return report(ctx, o, opt->json);
            };
          }};
}

}  // namespace pb::broker::commands
