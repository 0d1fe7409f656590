// `para-broker probe IMAGE`: which Claude Code an image has, as which user,
// and where it keeps its config (SPEC "Probe report").

#include <CLI/CLI.hpp>
#include <memory>
#include <ostream>

#include "broker/commands/commands.hpp"
#include "broker/dispatch/seed_cache.hpp"
#include "broker/docker/docker_client.hpp"
#include "broker/probe/probe_runner.hpp"
#include "probes/report.hpp"

namespace pb::broker::commands {
namespace {

struct Options {
  std::string image;
  bool json = false;
  bool research = false;
  bool refresh = false;
  int timeout = 20;
};

}  // namespace

namespace {

void declare(CLI::App& app, Options& opt) {
  app.add_option("IMAGE", opt.image, "Image reference or ID")->required();
  app.add_flag("--json", opt.json, "Machine-readable report (schema 1)");
  app.add_flag("--research", opt.research,
               "Also run Claude Code in a sandboxed container (no network) and record where it writes");
  app.add_flag("--refresh", opt.refresh, "Ignore the cached report and probe again");
  app.add_option("--timeout", opt.timeout, "Seconds the probe container may run")
      ->check(CLI::Range(1, 600))
      ->capture_default_str();
}

Result<int> run_probe(Context& ctx, const Options& opt) {
  PB_TRY(auto docker, ctx.docker());
  ProbeOptions po;
  po.research = opt.research;
  po.refresh = opt.refresh;
  po.timeout = std::chrono::seconds(opt.timeout);
  // What mounts cached of the image goes too, whether the probe then
  // succeeds or not: the next mount reads it again.
  if (opt.refresh)
    if (auto info = docker->image_inspect(opt.image)) (void)dispatch::SeedCache::drop(ctx.paths.cache_dir, info->id);
  PB_TRY(probes::ProbeReport report, probe_image(*docker, ctx.paths, opt.image, po));
  if (opt.json)
    ctx.out << probes::report_to_json(report) << "\n";
  else
    ctx.out << probes::report_to_text(report);
  if (!report.claude.found) {
    ctx.err << "para-broker: image '" << opt.image << "' has no Claude Code installed\n";
    return 3;
  }
  return 0;
}

}  // namespace

CommandSpec probe_spec() {
  return {"probe", "Report the Claude Code installation and config locations of an image",
          "para-broker probe para-claude:latest --json", &handle<Options, declare, run_probe>};
}

}  // namespace pb::broker::commands
