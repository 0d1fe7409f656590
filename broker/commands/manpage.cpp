// `para-broker manpage`: the para-broker(1) man page in roff, generated from
// the command table (the same options and examples as --help).

#include <CLI/CLI.hpp>
#include <ostream>

#include "broker/commands/commands.hpp"
#include "broker/commands/reference.hpp"

namespace pb::broker::commands {

namespace {

struct Options {};

void declare(CLI::App&, Options&) {}

Result<int> run_manpage(Context& ctx, const Options&) {
  ctx.out << man_page();
  return 0;
}

}  // namespace

CommandSpec manpage_spec() {
  return {"manpage", "Print the para-broker(1) man page (roff)",
          "para-broker manpage > ~/.local/share/man/man1/para-broker.1", &handle<Options, declare, run_manpage>};
}

}  // namespace pb::broker::commands
