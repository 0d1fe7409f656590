#include "broker/command.hpp"
#include "broker/commands/commands.hpp"

namespace pb::broker {

std::span<const CommandSpec> command_table() {
  static const CommandSpec k_table[] = {
      commands::doctor_spec(),
  };
  return k_table;
}

}  // namespace pb::broker
