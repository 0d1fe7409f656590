#pragma once
// One function per subcommand file; commands/table.cpp lists them.

#include "broker/commands/command.hpp"

namespace pb::broker::commands {

CommandSpec doctor_spec();
CommandSpec probe_spec();
CommandSpec vault_spec();
CommandSpec list_spec();
CommandSpec rm_spec();
CommandSpec import_spec();
CommandSpec login_spec();
CommandSpec audit_spec();
CommandSpec mount_spec();
CommandSpec release_spec();
CommandSpec sync_spec();
CommandSpec gc_spec();
CommandSpec completion_spec();
CommandSpec manpage_spec();
CommandSpec demo_spec();

}  // namespace pb::broker::commands
