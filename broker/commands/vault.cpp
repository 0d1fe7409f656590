// `para-broker vault init|rekey|rotate|inspect|verify|repair-log|restore`:
// create the vault, change its key, re-encrypt everything under a new data
// key, show a vault file's plain header, check every entry and the log chain,
// start a broken log over (explicitly, and logged), put back the login a
// replacement replaced.

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <ostream>

#include "broker/commands/commands.hpp"
#include "broker/commands/held.hpp"
#include "broker/commands/vault_view.hpp"

namespace pb::broker::commands {
namespace {

struct Options {
  bool passphrase = false;
  bool key_file = false;
  std::string file;
  std::string name;
  bool force = false;
  bool json = false;
  /// The subcommands, to tell which one was given.
  CLI::App* init = nullptr;
  CLI::App* rekey = nullptr;
  CLI::App* rotate = nullptr;
  CLI::App* inspect = nullptr;
  CLI::App* verify = nullptr;
  CLI::App* restore = nullptr;
  CLI::App* repair = nullptr;
};

Result<vault::Provider> chosen_provider(const Options& o, vault::Provider fallback) {
  if (o.passphrase && o.key_file) return fail(ErrorKind::usage, "choose either --passphrase or --key-file, not both");
  if (o.passphrase) return vault::Provider::passphrase;
  if (o.key_file) return vault::Provider::key_file;
  return fallback;
}

Result<int> run_init(Context& ctx, const Options& o) {
  PB_TRY(vault::Provider p, chosen_provider(o, vault::Provider::key_file));
  PB_TRY(vault::Vault v, vault::Vault::init(vault_options(ctx.paths), p));
  ctx.out << "created vault " << v.vault_id() << " in " << ctx.paths.vault_home.string() << " (key provider "
          << vault::provider_name(p) << (p == vault::Provider::key_file ? ", key " + ctx.paths.key_file.string() : "")
          << ")\n";
  return 0;
}

Result<int> run_rekey(Context& ctx, const Options& o) {
  PB_TRY(vault::Vault v, vault::Vault::open(vault_options(ctx.paths)));
  PB_TRY(vault::Provider p, chosen_provider(o, v.provider()));
  PB_TRY_STATUS(v.rekey(p));
  ctx.out << "re-wrapped the data key of vault " << v.vault_id() << " (key provider " << vault::provider_name(p)
          << "); the old key no longer unlocks it\n";
  return 0;
}

Result<int> run_rotate(Context& ctx, const Options& o) {
  PB_TRY(vault::Vault v, vault::Vault::open(vault_options(ctx.paths)));
  PB_TRY(vault::RotateOutcome r, v.rotate());
  const bool key_file = v.provider() == vault::Provider::key_file;
  if (o.json) {
    nlohmann::json j = {{"schema", 1},
                        {"vault_id", v.vault_id()},
                        {"provider", vault::provider_name(v.provider())},
                        {"entries", r.entries},
                        {"previous", r.previous},
                        {"log_records", r.log_records},
                        {"key_file", key_file ? nlohmann::json(ctx.paths.key_file.string()) : nlohmann::json()}};
    ctx.out << j.dump(2) << "\n";
    return 0;
  }
  ctx.out << "re-encrypted " << r.entries << (r.entries == 1 ? " entry" : " entries") << " and " << r.previous
          << " kept previous login" << (r.previous == 1 ? "" : "s") << " of vault " << v.vault_id()
          << " under a new data key, and " << r.log_records << " access-log records under its log key; "
          << (key_file ? "the key file " + ctx.paths.key_file.string() + " was replaced by a new one"
                       : std::string("the passphrase is unchanged"))
          << ", and the old data key decrypts nothing in the vault any more\n";
  return 0;
}

Result<int> run_inspect(Context& ctx, const Options& o) {
  PB_TRY(std::string text, vault::inspect_file(o.file));
  ctx.out << text << "\n";
  return 0;
}

Result<int> run_verify(Context& ctx, const Options& o) {
  PB_TRY(vault::Vault v, vault::Vault::open(vault_options(ctx.paths)));
  PB_TRY(vault::VerifyReport r, v.verify());
  if (o.json) {
    nlohmann::json j = {{"schema", 1},
                        {"ok", r.ok()},
                        {"entries_ok", r.entries_ok},
                        {"log_records", r.log_records},
                        {"problems", nlohmann::json::array()}};
    for (const auto& p : r.problems) j["problems"].push_back({{"id", p.id}, {"name", p.name}, {"message", p.message}});
    ctx.out << j.dump(2) << "\n";
  } else {
    ctx.out << r.entries_ok << " entries intact, " << r.log_records << " access-log records checked\n";
    for (const auto& p : r.problems) ctx.out << "FAIL  " << p.message << "\n";
  }
  if (r.ok()) return 0;
  return vault::integrity_failure(r);
}

Result<int> run_restore(Context& ctx, const Options& o) {
  PB_TRY(vault::Vault v, open_vault_with_credentials(ctx.paths));
  // A live session still holds the login being replaced: its release would
  // write it back over the restored one (it expires later).
  if (!o.force) PB_TRY_STATUS(refuse_while_mounted(ctx, v, o.name, "restore"));
  PB_TRY(vault::EntryMeta m, v.restore_previous(o.name));
  ctx.out << "restored the previous login of '" << m.name << "' (from " << m.source << ", expires "
          << format_time(m.expires_at) << " UTC); the login it replaced is kept in turn\n";
  return 0;
}

Result<int> run_repair_log(Context& ctx) {
  PB_TRY(vault::Vault v, vault::Vault::open(vault_options(ctx.paths)));
  PB_TRY(std::string said, v.repair_log());
  ctx.out << said << "\n";
  return 0;
}

void declare(CLI::App& app, Options& opt) {
  app.require_subcommand(1);
  opt.init = app.add_subcommand("init", "Create the vault (key file by default)");
  opt.init->add_flag("--passphrase", opt.passphrase, "Protect the vault with a passphrase (scrypt)");
  opt.init->add_flag("--key-file", opt.key_file, "Protect the vault with a key file (default)");
  opt.rekey = app.add_subcommand("rekey", "Re-wrap the data key under a new key; the old one stops working");
  opt.rekey->add_flag("--passphrase", opt.passphrase, "Switch to (or change) a passphrase");
  opt.rekey->add_flag("--key-file", opt.key_file, "Switch to (or renew) the key file");
  opt.rotate = app.add_subcommand(
      "rotate", "Re-encrypt every entry and the access log under a new data key (after a key was exposed)");
  opt.rotate->add_flag("--json", opt.json, "Machine-readable result (schema 1)");
  opt.inspect = app.add_subcommand("inspect", "Print a vault file's plain header (never secrets)");
  opt.inspect->add_option("FILE", opt.file, "vault.json or an entries/<id>.pbe file")->required();
  opt.verify = app.add_subcommand("verify", "Check every entry and the access log's chain");
  opt.verify->add_flag("--json", opt.json, "Machine-readable report (schema 1)");
  opt.restore = app.add_subcommand(
      "restore", "Put back the login a write-back (or a new capture) replaced, e.g. after a bad write-back");
  opt.restore->add_option("NAME", opt.name, "Credential name or id")->required();
  opt.restore->add_flag("--force", opt.force, "Restore even while sessions hold it (their release may undo it)");
  opt.repair =
      app.add_subcommand("repair-log", "Start a broken access log over from its intact records, and log that it did");
}

Result<int> run_vault(Context& ctx, const Options& opt) {
  if (opt.init->parsed()) return run_init(ctx, opt);
  if (opt.rekey->parsed()) return run_rekey(ctx, opt);
  if (opt.rotate->parsed()) return run_rotate(ctx, opt);
  if (opt.inspect->parsed()) return run_inspect(ctx, opt);
  if (opt.verify->parsed()) return run_verify(ctx, opt);
  if (opt.repair->parsed()) return run_repair_log(ctx);
  if (opt.restore->parsed()) return run_restore(ctx, opt);
  return fail(ErrorKind::usage, "choose one of: vault init, rekey, rotate, inspect, verify, repair-log, restore");
}

}  // namespace

CommandSpec vault_spec() {
  return {"vault",
          "Create the vault, change its key, re-encrypt it under a new data key, inspect a vault file, verify entries "
          "and the access log",
          "para-broker vault init --passphrase", &handle<Options, declare, run_vault>};
}

}  // namespace pb::broker::commands
