#pragma once
// The command table's vocabulary: each subcommand lives in its own file under
// broker/commands/ and is registered once in commands/table.cpp.

#include <functional>
#include <iosfwd>
#include <memory>
#include <span>
#include <string_view>

#include "core/error.hpp"
#include "core/paths.hpp"

namespace CLI {
class App;
}

namespace pb::broker {

class DockerClient;

/// What a command handler may use. Tests build one with their own streams,
/// paths and a fake Docker client.
struct Context {
  Paths paths;
  std::ostream& out;
  std::ostream& err;
  /// Connects to Docker on first use (DOCKER_HOST etc.); tests inject a fake.
  std::function<Result<std::shared_ptr<DockerClient>>()> docker;
  /// Whether stderr is a terminal (progress output, prompts).
  bool interactive = false;
};

/// A handler returns the exit code on success (0, or 10 for "needs
/// attention"); errors become their documented exit code in run().
using Handler = std::function<Result<int>(Context&)>;

struct CommandSpec {
  std::string_view name;
  std::string_view summary;
  std::string_view example;  ///< one shell line shown in --help
  /// Declares the command's options on `app` and returns its handler.
  Handler (*setup)(CLI::App& app);
};

/// A command's setup made of its named parts: the options it reads, `Declare`
/// putting them on its CLI::App, and `Run` handling the parsed command. Each
/// command file defines the three and registers
/// `&handle<Options, declare, run_x>` as its spec's setup.
template <class Options, void (*Declare)(CLI::App&, Options&), Result<int> (*Run)(Context&, const Options&)>
Handler handle(CLI::App& app) {
  auto options = std::make_shared<Options>();
  Declare(app, *options);
  return [options](Context& ctx) { return Run(ctx, *options); };
}

/// Every command, in the order --help lists them.
std::span<const CommandSpec> command_table();

}  // namespace pb::broker
