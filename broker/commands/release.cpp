// `para-broker release`: write back what the session's Claude refreshed (only
// if newer), drop the session's hold and the volume when no session holds it.
// Idempotent: releasing a session that holds nothing succeeds quietly.

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <ostream>

#include "broker/commands/commands.hpp"
#include "broker/commands/vault_view.hpp"
#include "broker/dispatch/dispatch.hpp"
#include "broker/docker/connect.hpp"

namespace pb::broker::commands {
namespace {

struct Options {
  std::string session;
  bool no_sync = false;
  bool json = false;
};

void declare(CLI::App& app, Options& opt) {
  app.add_option("--session", opt.session, "Session name given to mount")->required();
  app.add_flag("--no-sync", opt.no_sync, "Do not write the session's login back into the vault");
  app.add_flag("--json", opt.json, "Machine-readable result (schema 1)");
}

void print_json(Context& ctx, const Options& opt, const dispatch::ReleaseResult& r) {
  nlohmann::json j = {{"schema", 1},
                      {"session", opt.session},
                      {"held", r.held},
                      {"volume", r.held ? nlohmann::json(r.volume) : nlohmann::json()},
                      {"wrote_back", r.wrote_back},
                      {"refused", r.refused.empty() ? nlohmann::json() : nlohmann::json(r.refused)},
                      {"volume_removed", r.volume_removed}};
  ctx.out << j.dump(2) << "\n";
}

Result<int> run_release(Context& ctx, const Options& opt) {
  PB_TRY_STATUS(dispatch::check_session(opt.session));
  PB_TRY(auto docker, ctx.docker());
  if (!opt.no_sync) PB_TRY_STATUS(docker::require_login_transport(*docker));
  dispatch::ReleaseResult r;
  if (vault::Vault::exists(vault_options(ctx.paths))) {
    PB_TRY(vault::Vault v, vault::Vault::open(vault_options(ctx.paths)));
    PB_TRY(r, dispatch::release(*docker, v, opt.session, !opt.no_sync));
  } else {
    // No vault here, so this vault mounted nothing: released already,
    // unless the session holds a volume some other vault made.
    PB_TRY_STATUS(dispatch::check_not_held(*docker, opt.session, ctx.paths.vault_home.string()));
  }
  for (const auto& n : r.notes) ctx.err << "para-broker: note: " << n << "\n";
  if (opt.json) print_json(ctx, opt, r);
  // The session is released all the same; the refusal is the finding.
  if (!r.refused.empty()) {
    ctx.err << "para-broker: " << r.refused << "\n";
    return exit_code(ErrorKind::unsafe_input);
  }
  return 0;
}

}  // namespace

CommandSpec release_spec() {
  return {"release", "Write back the session's refreshed login and remove its volume",
          "para-broker release --session s1", &handle<Options, declare, run_release>};
}

}  // namespace pb::broker::commands
