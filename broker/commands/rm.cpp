// `para-broker rm NAME`: delete a stored credential (logged).

#include <CLI/CLI.hpp>
#include <ostream>

#include "broker/commands/commands.hpp"
#include "broker/commands/vault_view.hpp"

namespace pb::broker::commands {

CommandSpec rm_spec() {
  return {"rm", "Delete a stored credential", "para-broker rm work", [](CLI::App& app) -> Handler {
            auto name = std::make_shared<std::string>();
            app.add_option("NAME", *name, "Credential name (or id, e.g. for a damaged entry)")->required();
            return [name](Context& ctx) -> Result<int> {
              PB_TRY(vault::Vault v, vault::Vault::open(vault_options(ctx.paths)));
              PB_TRY(vault::EntryMeta m, v.remove(*name));
              ctx.out << "removed credential " << (m.name.empty() ? m.id : "'" + m.name + "' (" + m.id + ")") << "\n";
              return 0;
            };
          }};
}

}  // namespace pb::broker::commands
