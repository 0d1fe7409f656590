// `para-broker gc`: remove session volumes and holds that no live container
// uses (decided by labels and by Docker's own record of mounts), writing
// their logins back first.

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
  bool json = false;
  long long grace = labels::k_default_grace_seconds;
};

void declare(CLI::App& app, Options& opt) {
  app.add_flag("--json", opt.json, "Machine-readable result (schema 1)");
  app.add_option("--grace", opt.grace,
                 "Keep a session's hold this many seconds after its mount even without a container "
                 "(para creates it right after mount)")
      ->check(CLI::Range(0LL, 86400LL * 365))
      ->default_val(labels::k_default_grace_seconds);
}

void print(Context& ctx, const dispatch::GcResult& r, bool json) {
  if (json) {
    ctx.out << nlohmann::json{{"schema", 1},
                              {"removed_holds", r.removed_holds},
                              {"removed_volumes", r.removed_volumes},
                              {"removed_helpers", r.removed_helpers},
                              {"kept", r.kept},
                              {"refused", r.refused}}
                   .dump(2)
            << "\n";
  } else {
    for (const auto& n : r.removed_holds) ctx.out << "removed hold " << n << "\n";
    for (const auto& n : r.removed_volumes) ctx.out << "removed volume " << n << "\n";
    for (const auto& n : r.removed_helpers) ctx.out << "removed helper container " << n << "\n";
    for (const auto& n : r.kept) ctx.out << "kept " << n << "\n";
  }
  for (const auto& n : r.notes) ctx.err << "para-broker: note: " << n << "\n";
  for (const auto& n : r.refused) ctx.err << "para-broker: " << n << "\n";
}

Result<int> run_gc(Context& ctx, const Options& opt) {
  PB_TRY(auto docker, ctx.docker());
  PB_TRY_STATUS(docker::require_login_transport(*docker));
  // No vault yet: no session volume can be this vault's, but a killed probe may have left a container.
  dispatch::GcResult r;
  if (vault::Vault::exists(vault_options(ctx.paths))) {
    PB_TRY(vault::Vault v, vault::Vault::open(vault_options(ctx.paths)));
    PB_TRY(r, dispatch::gc(*docker, v, opt.grace));
  } else {
    PB_TRY(r, dispatch::gc_leftovers(*docker, opt.grace));
  }
  print(ctx, r, opt.json);
  return r.refused.empty() ? 0 : exit_code(ErrorKind::unsafe_input);
}

}  // namespace

CommandSpec gc_spec() {
  return {"gc", "Remove volumes of sessions whose containers are gone", "para-broker gc",
          &handle<Options, declare, run_gc>};
}

}  // namespace pb::broker::commands
