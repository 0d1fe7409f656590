// `para-broker sync`: write back refreshed logins from live session volumes
// and bring the other live volumes of the same credential up to the newest.

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
  bool json = false;
};

}  // namespace

namespace {

void declare(CLI::App& app, Options& opt) {
  app.add_option("--session", opt.session, "Only this session's volume (default: every live volume)");
  app.add_flag("--json", opt.json, "Machine-readable result (schema 1)");
}

Result<int> run_sync(Context& ctx, const Options& opt) {
  PB_TRY(auto docker, ctx.docker());
  PB_TRY_STATUS(docker::require_login_transport(*docker));
  std::optional<std::string> session;
  if (!opt.session.empty()) session = opt.session;
  dispatch::SyncResult r;
  if (vault::Vault::exists(vault_options(ctx.paths))) {
    PB_TRY(vault::Vault v, vault::Vault::open(vault_options(ctx.paths)));
    PB_TRY(r, dispatch::sync(*docker, v, session));
  } else if (session) {
    // Nothing can be mounted without a vault.
    return fail(ErrorKind::not_found, k_no_credentials);
  }
  for (const auto& n : r.notes) ctx.err << "para-broker: note: " << n << "\n";
  if (opt.json) {
    nlohmann::json vols = nlohmann::json::array();
    for (const auto& x : r.volumes)
      vols.push_back({{"volume", x.name},
                      {"credential_id", x.credential_id},
                      {"wrote_back", x.wrote_back},
                      {"refused", x.refused.empty() ? nlohmann::json() : nlohmann::json(x.refused)},
                      {"refreshed", x.refreshed}});
    ctx.out << nlohmann::json{{"schema", 1}, {"volumes", vols}}.dump(2) << "\n";
  } else {
    for (const auto& x : r.volumes)
      ctx.out << x.name << ": "
              << (x.wrote_back         ? "wrote a newer login back"
                  : !x.refused.empty() ? "its login was refused"
                  : x.refreshed        ? "received the newer stored login"
                                       : "up to date")
              << "\n";
  }
  bool refused = false;
  for (const auto& x : r.volumes) {
    if (x.refused.empty()) continue;
    ctx.err << "para-broker: " << x.refused << "\n";
    refused = true;
  }
  return refused ? exit_code(ErrorKind::unsafe_input) : 0;
}

}  // namespace

CommandSpec sync_spec() {
  return {"sync", "Write back refreshed logins from live volumes and share the newest among them",
          "para-broker sync --session s1", &handle<Options, declare, run_sync>};
}

}  // namespace pb::broker::commands
