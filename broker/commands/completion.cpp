// `para-broker completion bash|zsh`: a shell completion script generated from
// the command table, so it never lists a command or option that does not exist.

#include <CLI/CLI.hpp>
#include <ostream>

#include "broker/commands/commands.hpp"
#include "broker/commands/reference.hpp"

namespace pb::broker::commands {

CommandSpec completion_spec() {
  return {"completion", "Print a bash or zsh completion script for para-broker",
          "para-broker completion bash > ~/.local/share/bash-completion/completions/para-broker",
          [](CLI::App& app) -> Handler {
            auto shell = std::make_shared<std::string>();
            app.add_option("SHELL", *shell, "bash or zsh")->required()->check(CLI::IsMember({"bash", "zsh"}));
            return [shell](Context& ctx) -> Result<int> {
              ctx.out << (*shell == "zsh" ? zsh_completion() : bash_completion());
              return 0;
            };
          }};
}

}  // namespace pb::broker::commands
