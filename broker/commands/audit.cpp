// `para-broker audit`: what the vault stores and when it expires, where it is
// mounted right now, which local images still carry baked credentials
// (--images), and whether the vault is intact (--verify). Exit 10 when any of
// it needs attention; docs/audit.md describes the report and its JSON.

#include <CLI/CLI.hpp>
#include <chrono>
#include <ostream>

#include "broker/audit/report.hpp"
#include "broker/commands/commands.hpp"
#include "broker/commands/vault_view.hpp"
#include "broker/docker/connect.hpp"
#include "broker/docker/docker_client.hpp"

namespace pb::broker::commands {
namespace {

struct Options {
  bool json = false;
  int warn_days = 7;
  bool images = false;
  bool verify = false;
  std::vector<std::string> only;
};

/// Progress on stderr, only on a terminal and only once a scan has run for a while.
class Progress {
 public:
  explicit Progress(Context& ctx) : m_ctx(ctx), m_start(Clock::now()) {}
  ~Progress() {
    if (m_shown) m_ctx.err << "\r\033[K" << std::flush;
  }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void operator()(const std::string& image, std::uint64_t bytes) {
    if (!m_ctx.interactive) return;
    const auto now = Clock::now();
    if (now - m_start < std::chrono::seconds(2) || now - m_last < std::chrono::milliseconds(500)) return;
    m_last = now;
    m_shown = true;
    m_ctx.err << "\r\033[Kscanning " << image.substr(0, 60) << ": " << (bytes >> 20) << " MiB" << std::flush;
  }

 private:
  using Clock = std::chrono::steady_clock;
  Context& m_ctx;
  Clock::time_point m_start;
  Clock::time_point m_last{};
  bool m_shown = false;
};

}  // namespace

namespace {

void declare(CLI::App& app, Options& opt) {
  app.add_flag("--json", opt.json, "Machine-readable report (schema 1, see docs/audit.md)");
  app.add_option("--warn-days", opt.warn_days, "Warn about tokens that are never renewed expiring within N days")
      ->check(CLI::Range(0, 3650));
  app.add_flag("--images", opt.images, "Scan every local image, layer by layer, for baked Claude credentials");
  app.add_option_function<std::vector<std::string>>(
         "--image", [&opt](const std::vector<std::string>& refs) { opt.only = refs; },
         "With --images: scan only this image (repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_flag("--verify", opt.verify, "Check every vault entry completely and the access log's chain");
}

Result<int> run_audit(Context& ctx, const Options& opt) {
  audit::Report report;
  auto vopts = vault_options(ctx.paths);
  report.now_ms = vopts.clock();
  report.warn_days = opt.warn_days;
  vault::Listing listing;
  report.vault_exists = vault::Vault::exists(vopts);
  if (report.vault_exists) {
    PB_TRY(vault::Vault v, vault::Vault::open(vopts));
    PB_TRY(listing, v.list());
    if (opt.verify) {
      PB_TRY(vault::VerifyReport verified, v.verify());
      report.verify = std::move(verified);
    }
  } else if (opt.verify) {
    report.verify = vault::VerifyReport{};
  }

  auto docker = ctx.docker();
  if (docker) {
    report.docker = audit::collect_docker(**docker);
  } else {
    report.docker.error = docker.error().message;
  }
  // --image names images to scan, so it scans even without --images.
  if (opt.images || !opt.only.empty()) {
    // Image layers may carry baked logins: they travel only where a login may.
    if (docker) PB_TRY_STATUS(docker::require_login_transport(**docker));
    if (docker) {
      Progress progress(ctx);
      report.images = audit::scan_local_images(
          **docker, [&](const std::string& image, std::uint64_t bytes) { progress(image, bytes); }, opt.only);
    } else {
      report.images = audit::ImagesPart{};
      report.images->error = docker.error().message;
    }
  }
  audit::attach_credentials(report, listing);
  if (opt.json) {
    audit::write_json(report, ctx.out);
  } else {
    audit::write_table(report, ctx.out);
  }
  return report.attention().empty() ? 0 : 10;
}

}  // namespace

CommandSpec audit_spec() {
  return {"audit", "What is stored, when it expires, where it is mounted, which images carry baked credentials",
          "para-broker audit --images --verify --json", &handle<Options, declare, run_audit>};
}

}  // namespace pb::broker::commands
