// `para-broker mount`: prepare a session's volume and print how to attach it
// (SPEC "Mount contract"; design in docs/dispatch.md). Nothing secret is
// printed: the login travels only inside the volume.

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <future>
#include <nlohmann/json.hpp>
#include <ostream>

#include "broker/commands/commands.hpp"
#include "broker/commands/vault_view.hpp"
#include "broker/dispatch/dispatch.hpp"
#include "broker/docker/connect.hpp"
#include "broker/probe/probe_runner.hpp"

namespace pb::broker::commands {
namespace {

struct Options {
  std::string image;
  std::string session;
  std::string credential;
  std::string format = "args";
};

/// Quotes for a POSIX shell only where needed (`$(para-broker mount …)` splits on blanks).
std::string shell_quote(const std::string& s) {
  bool plain = !s.empty();
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) ||
          std::string_view("_./=,:@%+-").find(c) != std::string_view::npos))
      plain = false;
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// One field of a `--mount` value as the docker CLI reads it (Go's
/// encoding/csv): quoted, with quotes doubled, when it holds a comma, a quote
/// or a line break, so that no value can add a key of its own. The values are
/// para-broker's own (volume name, fixed target), checked before they get here.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos && (s.empty() || s.front() != ' ')) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string mount_value(const std::string& volume, const std::string& target) {
  return csv_field("type=volume") + "," + csv_field("src=" + volume) + "," + csv_field("dst=" + target);
}

/// What the session's Claude Code would use instead of the mounted login: what
/// the image sets (the probe saw it), and ANTHROPIC_API_KEY in this process's
/// environment, which para forwards into the container by default. Names only, never values.
std::vector<probes::LoginOverride> login_conflicts(const dispatch::MountResult& r) {
  std::vector<probes::LoginOverride> out = r.conflicts;
  if (const char* v = std::getenv("ANTHROPIC_API_KEY"); v != nullptr && *v != '\0')
    out.push_back({"ANTHROPIC_API_KEY", "environment",
                   "para forwards it into the container by default (docker.forward_env_keys), and Claude Code then "
                   "uses the API key instead of the login; leave it out of forward_env_keys while a login is mounted"});
  return out;
}

}  // namespace

namespace {

void declare(CLI::App& app, Options& opt) {
  app.add_option("--image", opt.image, "Image the session's container runs")->required();
  app.add_option("--session", opt.session, "Session name (para's session, e.g. s1)")->required();
  app.add_option("--credential", opt.credential, "Credential name or id (default: the only one stored)");
  app.add_option("--format", opt.format, "args (docker arguments), json or env (KEY=VALUE lines)")
      ->check(CLI::IsMember({"args", "json", "env"}));
}

Result<int> run_mount(Context& ctx, const Options& opt) {
  PB_TRY_STATUS(dispatch::check_session(opt.session));
  // A fresh machine: say what to do first, whether Docker answers or not.
  if (!vault::Vault::exists(vault_options(ctx.paths))) return fail(ErrorKind::not_found, k_no_credentials);
  PB_TRY(auto docker, ctx.docker());
  PB_TRY_STATUS(docker::require_login_transport(*docker));
  // The image's probe (on a cache hit one Docker request) runs while
  // the vault unlocks; the future's destructor waits for it on every path.
  auto probe = std::async(std::launch::async, [docker, paths = ctx.paths, image = opt.image] {
    return probe_image(*docker, paths, image);
  });
  PB_TRY(vault::Vault v, open_vault_with_credentials(ctx.paths));
  dispatch::MountRequest req{opt.image, opt.session, std::nullopt, [&probe] { return probe.get(); }};
  if (!opt.credential.empty()) req.credential = opt.credential;
  PB_TRY(dispatch::MountResult r, dispatch::mount(*docker, v, ctx.paths, req));
  nlohmann::json conflicts = nlohmann::json::array();
  for (const auto& c : login_conflicts(r)) {
    ctx.err << "para-broker: note: " << c.name << " (" << c.where << ") beats the mounted login: " << c.why << "\n";
    conflicts.push_back({{"name", c.name}, {"where", c.where}, {"why", c.why}});
  }
  for (const auto& n : r.notes) ctx.err << "para-broker: note: " << n << "\n";
  nlohmann::json mounts = nlohmann::json::array();
  nlohmann::json env = nlohmann::json::object();
  std::vector<std::string> args;
  for (const auto& [volume, target] : dispatch::mounts_of(r)) {
    mounts.push_back({{"type", "volume"}, {"source", volume}, {"target", target}});
    args.insert(args.end(), {"--mount", mount_value(volume, target)});
  }
  for (const auto& [key, value] : dispatch::env_of(r)) {
    env[key] = value;
    args.insert(args.end(), {"--env", key + "=" + value});
  }
  if (opt.format == "env") {
    for (const auto& [key, value] : dispatch::env_of(r)) ctx.out << key << "=" << value << "\n";
  } else if (opt.format == "json") {
    nlohmann::json j = {{"schema", 1},
                        {"session", r.session},
                        {"conflicts", conflicts},
                        {"volume", r.volume},
                        {"hold", r.hold},
                        {"credential", r.credential_name},
                        {"credential_id", r.credential_id},
                        {"image_id", r.image_id},
                        {"mounts", mounts},
                        {"env", env},
                        {"docker_args", args}};
    ctx.out << j.dump(2) << "\n";
  } else {
    std::string line;
    for (const auto& a : args) line += (line.empty() ? "" : " ") + shell_quote(a);
    ctx.out << line << "\n";
  }
  return 0;
}

}  // namespace

CommandSpec mount_spec() {
  return {"mount", "Prepare a session's volume and print the docker arguments that attach it",
          "docker run $(para-broker mount --image para-claude --session s1) para-claude claude",
          &handle<Options, declare, run_mount>};
}

}  // namespace pb::broker::commands
