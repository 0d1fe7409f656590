#include "broker/commands/run.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <exception>
#include <iostream>
#include <sstream>

#include "broker/docker/connect.hpp"
#include "core/platform.hpp"
#include "vault/crypto.hpp"

namespace pb::broker {
namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

/// The first argument that is not an option, if any (the command name).
std::optional<std::string> first_word(const std::vector<std::string>& args) {
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--") return std::nullopt;
    if (!args[i].empty() && args[i][0] != '-') return args[i];
  }
  return std::nullopt;
}

std::string footer() {
  std::ostringstream os;
  os << "Examples:\n";
  for (const auto& c : command_table())
    if (!c.example.empty()) os << "  " << c.example << "\n";
  os << "\nExit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 vault locked or wrong key,\n"
        "5 Docker unreachable, 6 integrity failure, 7 unsafe input refused, 10 audit needs attention.";
  return os.str();
}

/// The closest command name to a mistyped `word`, or "".
std::string closest_command(const std::string& word) {
  std::string best;
  std::size_t best_d = 3;
  for (const auto& c : command_table()) {
    std::size_t d = edit_distance(word, c.name);
    if (d < best_d || (c.name.starts_with(word) && best.empty())) {
      best_d = std::min(d, best_d);
      best = c.name;
    }
  }
  return best;
}

/// Parses `args` into `app`: nullopt when a command is to run, else the exit
/// code of what parsing answered (help, version, a usage error).
std::optional<int> parse(CLI::App& app, const std::vector<std::string>& args, Context& ctx) {
  try {
    std::vector<std::string> rev(args.rbegin(), args.rend() - 1);  // CLI11 takes reversed args without argv[0]
    app.parse(rev);
    return std::nullopt;
  } catch (const CLI::CallForHelp&) {
    ctx.out << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    ctx.out << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::Success& e) {
    // --version and subcommand --help
    std::ostringstream out, err;
    int rc = app.exit(e, out, err);
    ctx.out << out.str() << err.str();
    return rc;
  } catch (const CLI::ParseError& e) {
    if (e.get_name() == "RequiredError" && app.get_subcommands().empty()) {
      ctx.err << "para-broker: no command given; run 'para-broker --help' for the list\n";
      return 2;
    }
    std::string what = e.what();
    ctx.err << "para-broker: " << what << (what.empty() || what.back() == '.' ? "" : ";") << " see 'para-broker "
            << (app.get_subcommands().empty() ? std::string() : app.get_subcommands()[0]->get_name() + " ")
            << "--help'\n";
    return 2;
  }
}

/// Runs the chosen command's handler: its exit code, or its error said in one line.
int run_handler(const Handler& chosen, Context& ctx) {
  try {
    Result<int> r = chosen(ctx);
    if (r.ok()) return *r;
    const Error& e = r.error();
    std::string msg = e.message;
    if (!msg.empty() && msg.back() == '.') msg.pop_back();
    ctx.err << "para-broker: " << msg << "\n";
    return exit_code(e.kind);
  } catch (const std::bad_alloc&) {
    ctx.err << "para-broker: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    // Third-party exceptions should be converted where they arise; this is the last fence.
    ctx.err << "para-broker: internal error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

int run(const std::vector<std::string>& args, Context& ctx) {
  CLI::App app{"para-broker: keeps Claude Code credentials out of Docker images and mounts them per session.",
               "para-broker"};
  app.set_version_flag("--version", std::string("para-broker ") + PB_VERSION);
  app.require_subcommand(1);
  app.footer(footer());

  std::vector<std::pair<CLI::App*, Handler>> subs;
  const auto word = first_word(args);
  const bool known = word && std::any_of(command_table().begin(), command_table().end(),
                                         [&](const CommandSpec& c) { return c.name == *word; });
  if (word && !known) {
    const std::string best = closest_command(*word);
    ctx.err << "para-broker: unknown command '" << *word << "'"
            << (best.empty() ? "; run 'para-broker --help' for the list" : "; did you mean '" + best + "'?") << "\n";
    return 2;
  }
  for (const auto& spec : command_table()) {
    // Only the named command's options are set up: every run is a short
    // process, and building all of them was a third of a cached probe.
    if (known && spec.name != *word) continue;
    CLI::App* sub = app.add_subcommand(std::string(spec.name), std::string(spec.summary));
    if (!spec.example.empty()) sub->footer("Example:\n  " + std::string(spec.example));
    subs.emplace_back(sub, spec.setup(*sub));
  }
  if (auto answered = parse(app, args, ctx)) return *answered;
  for (auto& [sub, handler] : subs)
    if (sub->parsed() && handler) return run_handler(handler, ctx);
  ctx.err << "para-broker: no command given; run 'para-broker --help' for the list\n";
  return 2;
}

int run(int argc, char** argv) {
  platform::harden_process();
  vault::init_crypto_library();
  std::vector<std::string> args(argv, argv + argc);
  Context ctx{Paths::from_environment(), std::cout, std::cerr, {}, ::isatty(STDERR_FILENO) == 1};
  ctx.docker = [cached = std::shared_ptr<DockerClient>()]() mutable -> Result<std::shared_ptr<DockerClient>> {
    if (cached) return cached;
    PB_TRY(auto client, docker::connect_from_environment());
    cached = client;
    return cached;
  };
  return run(args, ctx);
}

}  // namespace pb::broker
