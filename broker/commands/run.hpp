#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "broker/commands/command.hpp"

namespace pb::broker {

/// The whole program: hardens the process, parses argv, runs one command, maps
/// errors to exit codes.
int run(int argc, char** argv);

/// Same, with injectable streams and context (tests).
int run(const std::vector<std::string>& args, Context& ctx);

}  // namespace pb::broker
