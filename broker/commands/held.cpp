#include "broker/commands/held.hpp"

#include <ostream>

#include "broker/commands/command.hpp"
#include "broker/dispatch/holds.hpp"
#include "vault/vault.hpp"

namespace pb::broker::commands {

Status refuse_while_mounted(Context& ctx, const vault::Vault& v, const std::string& name, std::string_view action) {
  // A damaged entry has no readable metadata; it cannot be mounted either.
  auto meta = v.find(name);
  if (!meta.ok()) return {};
  auto docker = ctx.docker();
  auto holds = docker.ok() ? dispatch::sessions_by_credential(**docker)
                           : Result<std::map<std::string, std::vector<std::string>>>(docker.error());
  // Without Docker no session of this engine can use the volume now; say that
  // it was not checked rather than refuse to manage the vault.
  if (!holds.ok()) {
    ctx.err << "para-broker: could not check whether credential '" << name << "' is mounted (" << holds.error().message
            << "); going on\n";
    return {};
  }
  auto it = holds->find(meta->id);
  if (it == holds->end() || it->second.empty()) return {};
  std::string sessions;
  for (const auto& s : it->second) sessions += (sessions.empty() ? "" : ", ") + s;
  return fail(ErrorKind::conflict, "credential '" + name + "' is mounted by session(s) " + sessions +
                                       "; release them first, or " + std::string(action) + " with --force anyway");
}

}  // namespace pb::broker::commands
