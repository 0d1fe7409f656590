#pragma once
// The command table as plain data, and what is generated from it: the man
// page and the shell completions (`para-broker manpage`, `para-broker
// completion bash|zsh`), and the check that a documented command line names
// commands and options that exist (tests/unit/docs_test.cpp).

#include <string>
#include <vector>

#include "core/error.hpp"

namespace pb::broker::commands {

struct OptionReference {
  std::vector<std::string> names;  ///< "--json", "-h"; empty for a positional
  std::string positional;          ///< "IMAGE" for a positional argument
  std::string value;               ///< "TEXT", "INT" … for an option that takes a value; "" for a flag
  std::string description;
  bool required = false;
};

struct CommandReference {
  std::string name;
  std::string summary;
  std::string example;  ///< empty for nested subcommands (`vault init`)
  std::vector<OptionReference> options;
  std::vector<CommandReference> subcommands;
};

/// Every command of command_table(), with the options each declares.
std::vector<CommandReference> command_reference();

/// Checks that `args` (the words after `para-broker`) parse: the command and
/// every option exist, required arguments are there, values fit. Nothing runs.
/// Errors: usage, with CLI11's sentence.
Status check_command_line(const std::vector<std::string>& args);

/// The man page para-broker(1), in roff.
std::string man_page();
/// A bash completion script (`complete -F _para_broker para-broker`).
std::string bash_completion();
/// A zsh completion script (`#compdef para-broker`).
std::string zsh_completion();

}  // namespace pb::broker::commands
