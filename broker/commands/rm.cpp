// `para-broker rm NAME [--force]`: delete a stored credential (logged); refused
// while a session holds it, because its release could then not write back.

#include <CLI/CLI.hpp>
#include <ostream>

#include "broker/commands/commands.hpp"
#include "broker/commands/held.hpp"
#include "broker/commands/vault_view.hpp"
#include "broker/dispatch/holds.hpp"

namespace pb::broker::commands {

namespace {

struct Options {
  std::string name;
  bool force = false;
};

void declare(CLI::App& app, Options& opt) {
  app.add_option("NAME", opt.name, "Credential name (or id, e.g. for a damaged entry)")->required();
  app.add_flag("--force", opt.force, "Delete it even while sessions hold it (their release cannot write back)");
}

Result<int> run_rm(Context& ctx, const Options& opt) {
  PB_TRY(vault::Vault v, open_vault_with_credentials(ctx.paths));
  if (!opt.force) PB_TRY_STATUS(refuse_while_mounted(ctx, v, opt.name, "delete it"));
  PB_TRY(vault::EntryMeta m, v.remove(opt.name));
  ctx.out << "removed credential " << (m.name.empty() ? m.id : "'" + m.name + "' (" + m.id + ")") << "\n";
  return 0;
}

}  // namespace

CommandSpec rm_spec() {
  return {"rm", "Delete a stored credential", "para-broker rm work", &handle<Options, declare, run_rm>};
}

}  // namespace pb::broker::commands
