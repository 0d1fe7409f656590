// `para-broker doctor`: is Docker reachable, are the vault and key files
// private, and what to do about it when they are not.

#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>

#include "broker/commands/commands.hpp"
#include "broker/docker/connect.hpp"
#include "broker/docker/docker_client.hpp"
#include "core/files.hpp"

namespace fs = std::filesystem;

namespace pb::broker::commands {
namespace {

struct Check {
  std::string name;
  bool ok;
  std::string detail;
  int exit_code = 0;  // what a failing check means for the process
};

Check check_dir(const fs::path& dir, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(dir, ec))
    return {what, true, dir.string() + " does not exist yet; it is created with mode 0700 on first use"};
  Status s = check_private_dir(dir, what);
  if (!s.ok()) return {what, false, s.error().message, exit_code(s.error().kind)};
  return {what, true, dir.string() + " is private (0700, yours)"};
}

Check check_key_file(const fs::path& key) {
  struct stat st {};
  if (::lstat(key.c_str(), &st) != 0)
    return {"key file", true, key.string() + " does not exist yet; 'para-broker vault init' creates it"};
  if (!S_ISREG(st.st_mode)) return {"key file", false, key.string() + " is not a regular file; remove it", 7};
  if ((st.st_mode & 077) != 0)
    return {"key file", false, key.string() + " can be read by others; fix it with: chmod 600 " + key.string(), 7};
  return {"key file", true, key.string() + " is private (0600)"};
}

struct Options {
  bool json = false;
};

}  // namespace

namespace {

void declare(CLI::App& app, Options& opt) {
  app.add_flag("--json", opt.json, "Machine-readable report (schema 1)");
}

Result<int> run_doctor(Context& ctx, const Options& opt) {
  std::vector<Check> checks;
  nlohmann::json docker_json = {{"reachable", false}};
  auto docker = ctx.docker();
  if (docker.ok()) {
    docker_json["endpoint"] = (*docker)->endpoint();
    docker_json["endpoint_origin"] = (*docker)->endpoint_origin();
    auto v = (*docker)->version();
    if (v.ok()) {
      checks.push_back({"docker", true,
                        (*docker)->endpoint() + " answers: " + v->engine + " " + v->server_version + ", API " +
                            v->api_version + " (daemon speaks up to " + v->server_api_version +
                            "); endpoint chosen by " + (*docker)->endpoint_origin()});
      docker_json["reachable"] = true;
      docker_json["engine"] = v->engine;
      docker_json["server_version"] = v->server_version;
      docker_json["api_version"] = v->api_version;
      docker_json["server_api_version"] = v->server_api_version;
    } else {
      checks.push_back({"docker", false, v.error().message, exit_code(v.error().kind)});
    }
    const auto insecure = (*docker)->insecure_transport();
    docker_json["secure_transport"] = !insecure.has_value();
    if (auto s = docker::require_login_transport(**docker); !s) {
      checks.push_back({"transport", false, s.error().message, exit_code(s.error().kind)});
    } else if (insecure) {
      checks.push_back(
          {"transport", true,
           "warning: logins travel over " + *insecure + " because PARA_BROKER_ALLOW_INSECURE_DOCKER=1 allows it"});
    } else {
      checks.push_back({"transport", true, "logins travel only over a unix socket, ssh or verified TLS"});
    }
  } else {
    checks.push_back({"docker", false, docker.error().message, exit_code(docker.error().kind)});
  }
  checks.push_back(check_dir(ctx.paths.vault_home, "vault directory"));
  checks.push_back(check_key_file(ctx.paths.key_file));
  checks.push_back(check_dir(ctx.paths.cache_dir, "probe cache"));

  int rc = 0;
  for (const auto& c : checks)
    if (!c.ok && rc == 0) rc = c.exit_code == 0 ? 1 : c.exit_code;
  if (opt.json) {
    nlohmann::json j = {{"schema", 1}, {"ok", rc == 0}, {"docker", docker_json}, {"checks", nlohmann::json::array()}};
    for (const auto& c : checks) j["checks"].push_back({{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
    ctx.out << j.dump(2) << "\n";
  } else {
    for (const auto& c : checks) ctx.out << (c.ok ? "ok    " : "FIX   ") << c.name << ": " << c.detail << "\n";
  }
  // The first problem also goes to stderr as the one-sentence verdict scripts look for.
  for (const auto& c : checks) {
    if (c.ok) continue;
    std::string detail = c.detail;
    if (!detail.empty() && detail.back() == '.') detail.pop_back();
    ctx.err << "para-broker: " << detail << "\n";
    break;
  }
  return rc;
}

}  // namespace

CommandSpec doctor_spec() {
  return {"doctor", "Check Docker reachability, vault permissions and the key provider", "para-broker doctor",
          &handle<Options, declare, run_doctor>};
}

}  // namespace pb::broker::commands
