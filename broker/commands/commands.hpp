#pragma once
// One function per subcommand file; commands/table.cpp lists them.

#include "broker/command.hpp"

namespace pb::broker::commands {

CommandSpec doctor_spec();

}  // namespace pb::broker::commands
