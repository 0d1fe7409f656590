// `para-broker rm NAME [--force]`: delete a stored credential (logged); refused
// while a session holds it, because its release could then not write back.

#include <CLI/CLI.hpp>
#include <ostream>

#include "broker/commands/commands.hpp"
#include "broker/commands/vault_view.hpp"
#include "broker/dispatch/holds.hpp"

namespace pb::broker::commands {

CommandSpec rm_spec() {
  return {"rm", "Delete a stored credential", "para-broker rm work", [](CLI::App& app) -> Handler {
            struct Options {
              std::string name;
              bool force = false;
            };
            auto opt = std::make_shared<Options>();
            app.add_option("NAME", opt->name, "Credential name (or id, e.g. for a damaged entry)")->required();
            app.add_flag("--force", opt->force,
                         "Delete it even while sessions hold it (their release cannot write back)");
            return [opt](Context& ctx) -> Result<int> {
              PB_TRY(vault::Vault v, open_vault_with_credentials(ctx.paths));
              if (!opt->force) {
                // A damaged entry has no readable metadata; it cannot be mounted either.
                auto meta = v.find(opt->name);
                if (meta.ok()) {
                  auto docker = ctx.docker();
                  auto holds = docker.ok() ? dispatch::sessions_by_credential(**docker)
                                           : Result<std::map<std::string, std::vector<std::string>>>(docker.error());
                  // Without Docker no session of this engine can use the volume now;
                  // say that it was not checked rather than refuse to manage the vault.
                  if (!holds.ok())
                    ctx.err << "para-broker: could not check whether credential '" << opt->name << "' is mounted ("
                            << holds.error().message << "); deleting it anyway\n";
                  else if (auto it = holds->find(meta->id); it != holds->end() && !it->second.empty()) {
                    std::string sessions;
                    for (const auto& s : it->second) sessions += (sessions.empty() ? "" : ", ") + s;
                    return fail(ErrorKind::conflict, "credential '" + opt->name + "' is mounted by session(s) " +
                                                         sessions + "; release them first, or use --force");
                  }
                }
              }
              PB_TRY(vault::EntryMeta m, v.remove(opt->name));
              ctx.out << "removed credential " << (m.name.empty() ? m.id : "'" + m.name + "' (" + m.id + ")") << "\n";
              return 0;
            };
          }};
}

}  // namespace pb::broker::commands
