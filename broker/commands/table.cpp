#include "broker/commands/command.hpp"
#include "broker/commands/commands.hpp"

namespace pb::broker {

std::span<const CommandSpec> command_table() {
  static const CommandSpec k_table[] = {
      commands::probe_spec(), commands::login_spec(),      commands::import_spec(),  commands::list_spec(),
      commands::audit_spec(), commands::mount_spec(),      commands::release_spec(), commands::sync_spec(),
      commands::gc_spec(),    commands::rm_spec(),         commands::doctor_spec(),  commands::vault_spec(),
      commands::demo_spec(),  commands::completion_spec(), commands::manpage_spec(),
  };
  return k_table;
}

}  // namespace pb::broker
