#include "tests/e2e/dispatch_support.hpp"

#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace pb::test {

std::vector<std::string> split_ws(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string first_line(const std::string& s) {
  return s.substr(0, s.find('\n'));
}

std::string credentials_json(const std::string& access, const std::string& refresh, std::int64_t expires) {
  return R"({"claudeAiOauth":{"accessToken":")" + access + R"(","refreshToken":")" + refresh + R"(","expiresAt":)" +
         std::to_string(expires) + R"(,"scopes":["user:inference","user:profile"],"subscriptionType":"max"}})";
}

void write_file(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

Dispatch::Dispatch(const std::string& prefix) : label(env.unique(prefix)) {
  // Keep the run's Docker objects findable even when the test fails midway.
  env.set_env("PARA_BROKER_EXTRA_LABELS", std::string(k_test_label) + "=" + label);
}

Dispatch::~Dispatch() {
  remove_labelled(label);
}

CommandResult Dispatch::import_tokens(const std::string& access, const std::string& refresh, std::int64_t expires) {
  const fs::path home = env.root() / ("import-" + env.unique("home"));
  write_file(home / ".claude" / ".credentials.json", credentials_json(access, refresh, expires));
  write_file(
      home / ".claude.json",
      R"({"hasCompletedOnboarding":true,"numStartups":3,"oauthAccount":{"accountUuid":"00000000-0000-4000-8000-0000000000d1",)"
      R"("emailAddress":"canary-test-dispatch@example.com","organizationUuid":"00000000-0000-4000-8000-0000000000d2"}})");
  auto r = env.cli({"import", "--from-dir", home.string(), "--name", "work"});
  fs::remove_all(home);
  return r;
}

std::string Dispatch::import_login(const std::string& tag, std::int64_t expires) {
  const std::string access = "sk-ant-oat01-CANARY-test-" + tag + "-" + label;
  auto r = import_tokens(access, "sk-ant-ort01-CANARY-test-" + tag + "-" + label, expires);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return access;
}

std::string Dispatch::seeded_image(const ClaudeTestImage& img) {
  const fs::path stage = env.root() / "seed";
  const fs::path cfg = img.config_dir;
  write_file(stage / cfg.relative_path() / "settings.json", R"({"cleanupPeriodDays": 42})");
  write_file(stage / cfg.relative_path() / "CLAUDE.md", "image memory " + label + "\n");
  write_file(stage / cfg.relative_path() / "commands" / "hello.md", "say hello\n");
  write_file(stage / fs::path(img.global_config).relative_path(),
             R"({"hasCompletedOnboarding":false,"pbImageKey":"kept-)" + label + R"("})");
  fs::permissions(stage, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                             fs::perms::others_exec);
  const fs::path tarball = env.root() / "seed.tar";
  auto packed = run_process({"tar", "-C", stage.string(), "--numeric-owner", "--owner=" + std::to_string(img.uid),
                             "--group=" + std::to_string(img.gid), "-cf", tarball.string(), "."});
  EXPECT_EQ(packed.exit_code, 0) << packed.err;
  auto created =
      docker_cli({"create", "--label", std::string(k_test_label) + "=" + label, test_image(img.name), "true"});
  EXPECT_EQ(created.exit_code, 0) << created.err;
  if (created.exit_code != 0) return "";
  const std::string id = first_line(created.out);
  auto copied = run_process({"sh", "-c", "docker cp - \"$1:/\" < \"$2\"", "sh", id, tarball.string()});
  EXPECT_EQ(copied.exit_code, 0) << copied.err;
  const std::string ref = "pb-test-dispatch/" + std::string(img.name) + ":" + label;
  auto committed = docker_cli({"commit", "--change", "LABEL " + std::string(k_test_label) + "=" + label, id, ref});
  EXPECT_EQ(committed.exit_code, 0) << committed.err;
  docker_cli({"rm", "-f", id});
  return committed.exit_code == 0 ? ref : "";
}

CommandResult Dispatch::run_in(const std::vector<std::string>& mount_args, const std::string& image,
                               const std::string& script, const std::vector<std::string>& extra) {
  std::vector<std::string> a{"run", "--rm", "--label", std::string(k_test_label) + "=" + label};
  a.insert(a.end(), extra.begin(), extra.end());
  a.insert(a.end(), mount_args.begin(), mount_args.end());
  a.insert(a.end(), {image, "sh", "-c", script});
  return docker_cli(a, 180);
}

std::vector<std::string> Dispatch::mount(const std::string& image, const std::string& session) {
  auto r = env.cli({"mount", "--image", image, "--session", session});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return split_ws(r.out);
}

std::vector<std::string> Dispatch::volumes() {
  auto r = docker_cli({"volume", "ls", "-q", "--filter", "label=" + std::string(k_test_label) + "=" + label});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return split_ws(r.out);
}

std::vector<std::string> Dispatch::containers(const std::string& credential_id) {
  const std::string filter = credential_id.empty() ? std::string(k_test_label) + "=" + label
                                                   : std::string("para-broker.credential=") + credential_id;
  auto r = docker_cli({"ps", "-aq", "--filter", "label=" + filter});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return split_ws(r.out);
}

std::optional<std::int64_t> Dispatch::stored_expiry() {
  auto r = env.cli({"list", "--json"});
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded() || j["credentials"].empty() || j["credentials"][0]["expires_at"].is_null()) return std::nullopt;
  return j["credentials"][0]["expires_at"].get<std::int64_t>();
}

std::string Dispatch::stored_refresh_token() {
  vault::Options o;
  o.home = env.vault_home();
  o.key_file = env.key_file();
  auto v = vault::Vault::open(o);
  if (!v) return "";
  auto entry = v->read("work");
  if (!entry) return "";
  for (const auto& f : entry->files) {
    if (f.name != vault::k_credentials_file) continue;
    auto j = nlohmann::json::parse(std::string(f.data.begin(), f.data.end()), nullptr, false);
    if (j.is_object() && j.contains("claudeAiOauth") && j["claudeAiOauth"].contains("refreshToken") &&
        j["claudeAiOauth"]["refreshToken"].is_string())
      return j["claudeAiOauth"]["refreshToken"].get<std::string>();
  }
  return "";
}

vault::VerifyReport Dispatch::verify() {
  vault::Options o;
  o.home = env.vault_home();
  o.key_file = env.key_file();
  auto v = vault::Vault::open(o);
  EXPECT_TRUE(v.ok()) << (v.ok() ? "" : v.error().message);
  if (!v) return {};
  auto rep = v->verify();
  EXPECT_TRUE(rep.ok());
  return rep.ok() ? *rep : vault::VerifyReport{};
}

std::vector<std::string> Dispatch::files_containing(const std::string& needle) {
  std::vector<std::string> hits;
  for (const auto& e : fs::recursive_directory_iterator(env.root())) {
    if (!e.is_regular_file()) continue;
    if (read_file(e.path()).find(needle) != std::string::npos) hits.push_back(e.path().string());
  }
  return hits;
}

std::vector<nlohmann::json> access_log(const TestEnv& env) {
  std::vector<nlohmann::json> records;
  std::istringstream in(read_file(env.vault_home() / "access.log"));
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_TRUE(j.is_object()) << "access-log line " << records.size() + 1 << " is not a JSON object";
    if (j.is_object()) records.push_back(std::move(j));
  }
  return records;
}

std::size_t count_ops(const std::vector<nlohmann::json>& records, const std::string& op, const std::string& result) {
  std::size_t n = 0;
  for (const auto& r : records)
    if (r.value("op", "") == op && r.value("result", "") == result) ++n;
  return n;
}

}  // namespace pb::test
