// `para-broker completion bash|zsh`: a shell completion script generated from
// the command table, so it never lists a command or option that does not exist.

#include <CLI/CLI.hpp>
#include <ostream>

#include "broker/commands/commands.hpp"
#include "broker/commands/reference.hpp"

namespace pb::broker::commands {

namespace {

struct Options {
  std::string shell;
};

void declare(CLI::App& app, Options& opt) {
  app.add_option("SHELL", opt.shell, "bash or zsh")->required()->check(CLI::IsMember({"bash", "zsh"}));
}

Result<int> run_completion(Context& ctx, const Options& opt) {
  ctx.out << (opt.shell == "zsh" ? zsh_completion() : bash_completion());
  return 0;
}

}  // namespace

CommandSpec completion_spec() {
  return {"completion", "Print a bash or zsh completion script for para-broker",
          "para-broker completion bash > ~/.local/share/bash-completion/completions/para-broker",
          &handle<Options, declare, run_completion>};
}

}  // namespace pb::broker::commands
