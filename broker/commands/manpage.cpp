// `para-broker manpage`: the para-broker(1) man page in roff, generated from
// the command table (the same options and examples as --help).

#include <CLI/CLI.hpp>
#include <ostream>

#include "broker/commands/commands.hpp"
#include "broker/commands/reference.hpp"

namespace pb::broker::commands {

CommandSpec manpage_spec() {
  return {"manpage", "Print the para-broker(1) man page (roff)",
          "para-broker manpage > ~/.local/share/man/man1/para-broker.1", [](CLI::App&) -> Handler {
            return [](Context& ctx) -> Result<int> {
              ctx.out << man_page();
              return 0;
            };
          }};
}

}  // namespace pb::broker::commands
