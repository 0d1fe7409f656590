// `para-broker list`: one line per stored credential, from the entries'
// metadata boxes only (payloads stay encrypted).

#include <CLI/CLI.hpp>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <ostream>

#include "broker/commands/commands.hpp"
#include "broker/commands/vault_view.hpp"
#include "broker/dispatch/holds.hpp"
#include "core/json.hpp"

namespace pb::broker::commands {
namespace {

struct Options {
  bool json = false;
};

}  // namespace

namespace {

void declare(CLI::App& app, Options& opt) {
  app.add_flag("--json", opt.json, "Machine-readable list (schema 1)");
}

Result<int> run_list(Context& ctx, const Options& opt) {
  auto opts = vault_options(ctx.paths);
  vault::Listing l;
  if (vault::Vault::exists(opts)) {
    PB_TRY(vault::Vault v, vault::Vault::open(opts));
    PB_TRY(l, v.list());
  }
  // Sessions holding each credential now; unknown (null, "?") when Docker does not answer.
  std::optional<std::map<std::string, std::vector<std::string>>> mounts;
  if (!l.entries.empty()) {
    if (auto docker = ctx.docker(); docker.ok()) {
      if (auto holds = dispatch::sessions_by_credential(**docker); holds.ok()) mounts = std::move(*holds);
    }
  }
  auto mounts_of = [&](const std::string& id) -> std::optional<std::vector<std::string>> {
    if (!mounts) return std::nullopt;
    auto it = mounts->find(id);
    return it == mounts->end() ? std::vector<std::string>{} : it->second;
  };
  if (opt.json) {
    nlohmann::json j = {{"schema", 1}, {"credentials", nlohmann::json::array()}, {"damaged", nlohmann::json::array()}};
    for (const auto& m : l.entries)
      j["credentials"].push_back(
          {{"name", m.name},
           {"id", m.id},
           {"kind", m.kind},
           {"account", mask_account(m.account)},
           {"plan", m.plan},
           {"expires_at", json_or_null(m.expires_at)},
           {"source", m.source},
           {"created", m.created},
           {"updated", m.updated},
           {"last_used", json_or_null(m.last_used)},
           {"replaced_at", m.previous ? nlohmann::json(m.previous->replaced_at) : nlohmann::json()},
           {"mounts", mounts_of(m.id) ? nlohmann::json(*mounts_of(m.id)) : nlohmann::json()}});
    for (const auto& d : l.damaged) j["damaged"].push_back({{"id", d.id}, {"message", d.message}});
    ctx.out << j.dump(2) << "\n";
  } else if (l.entries.empty() && l.damaged.empty()) {
    ctx.out << k_no_credentials << "\n";
  } else {
    ctx.out << std::left << std::setw(20) << "NAME" << std::setw(18) << "ID" << std::setw(12) << "KIND" << std::setw(26)
            << "ACCOUNT" << std::setw(8) << "PLAN" << std::setw(18) << "EXPIRES (UTC)" << std::setw(18) << "LAST USED"
            << "MOUNTS\n";
    for (const auto& m : l.entries)
      ctx.out << std::left << std::setw(20) << m.name << std::setw(18) << m.id << std::setw(12) << m.kind
              << std::setw(26) << mask_account(m.account) << std::setw(8) << (m.plan.empty() ? "-" : m.plan)
              << std::setw(18) << format_time(m.expires_at) << std::setw(18) << format_time(m.last_used)
              << (mounts_of(m.id) ? std::to_string(mounts_of(m.id)->size()) : std::string("?")) << "\n";
    for (const auto& m : l.entries)
      if (auto note = previous_note(m); !note.empty()) ctx.out << "note: " << note << "\n";
  }
  if (!l.damaged.empty()) {
    for (const auto& d : l.damaged) ctx.err << "para-broker: " << d.message << "\n";
    return 6;
  }
  return 0;
}

}  // namespace

CommandSpec list_spec() {
  return {"list", "One line per stored credential: name, id, kind, account, plan, expiry, last used, mounts now",
          "para-broker list --json", &handle<Options, declare, run_list>};
}

}  // namespace pb::broker::commands
