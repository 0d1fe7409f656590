// Unit tests of probes/: knowledge file, version ranges, interpretation of
// facts (table-driven from CLAUDE-CODE-FACTS.md), the hostile-output parser,
// the report's JSON and the cache, and probe.sh itself under dash, bash and
// busybox sh on a fake file tree (no Docker).

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "probes/cache.hpp"
#include "probes/facts.hpp"
#include "probes/interpret.hpp"
#include "probes/knowledge.hpp"
#include "probes/report.hpp"
#include "probes/version.hpp"

namespace fs = std::filesystem;
using namespace pb::probes;

namespace {

const Knowledge& knowledge() {
  const auto& k = builtin_knowledge();
  if (!k.ok()) ADD_FAILURE() << k.error().message;
  return k.value();
}

// Facts for an npm-js/npm-native/native install at a given version.
Facts npm_facts(const std::string& version, const std::string& home, bool native = false) {
  Facts f;
  f.uid = 0;
  f.gid = 0;
  f.user = "root";
  f.home = home;
  f.passwd_home = home;
  f.in_passwd = true;
  const std::string dir = "/usr/local/lib/node_modules/@anthropic-ai/claude-code";
  f.claude_link = "/usr/local/bin/claude";
  f.claude_resolved = dir + (native ? "/bin/claude.exe" : "/cli.js");
  f.packages.push_back({dir, "@anthropic-ai/claude-code", version});
  return f;
}

struct LocationCase {
  std::string version;
  std::string home;
  std::optional<std::string> claude_config_dir;
  std::optional<std::string> xdg_config_home;
  std::optional<std::string> securestorage;
  std::optional<std::string> config_dir;
  std::optional<std::string> global_config;
  std::optional<std::string> credentials;
  std::vector<std::string> locks;
  std::string rule;
};

std::ostream& operator<<(std::ostream& o, const LocationCase& c) {
  return o << c.version << " HOME=" << c.home << " CCD=" << c.claude_config_dir.value_or("-")
           << " XDG=" << c.xdg_config_home.value_or("-");
}

const std::optional<std::string> none;

}  // namespace

// --- knowledge ---------------------------------------------------------------

TEST(ProbesKnowledge, EmbeddedFileParsesAndCoversEveryVersion) {
  const auto& k = builtin_knowledge();
  ASSERT_TRUE(k.ok()) << k.error().message;
  EXPECT_EQ(k->rules.front().from, *parse_version("0.0.0"));
  EXPECT_FALSE(k->rules.back().until.has_value());
  for (std::size_t i = 1; i < k->rules.size(); ++i) EXPECT_EQ(*k->rules[i - 1].until, k->rules[i].from);
  EXPECT_EQ(k->package_name, "@anthropic-ai/claude-code");
  EXPECT_NE(std::find(k->login_state.global_config_keys.begin(), k->login_state.global_config_keys.end(),
                      "hasCompletedOnboarding"),
            k->login_state.global_config_keys.end());
  EXPECT_FALSE(embedded_probe_script().empty());
}

// A cache hit is looked up with the version read at build time: it must be the
// parsed knowledge's own, or every cached report would be missed (or kept stale).
TEST(ProbesKnowledge, BuildTimeVersionIsTheParsedOne) {
  EXPECT_FALSE(embedded_knowledge_version().empty());
  EXPECT_EQ(embedded_knowledge_version(), knowledge().knowledge_version);
}

TEST(ProbesKnowledge, RefusesBrokenKnowledge) {
  nlohmann::json good = nlohmann::json::parse(embedded_knowledge_json());
  auto expect_refused = [&](const std::function<void(nlohmann::json&)>& mutate, const std::string& needle) {
    nlohmann::json j = good;
    mutate(j);
    auto r = parse_knowledge(j.dump());
    ASSERT_FALSE(r.ok()) << needle;
    EXPECT_EQ(r.error().kind, pb::ErrorKind::integrity);
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  };
  expect_refused([](auto& j) { j["schema"] = 2; }, "schema 2");
  expect_refused([](auto& j) { j["rules"][1]["config_dir"][0] = "${NOT_LISTED}/x"; }, "NOT_LISTED");
  expect_refused([](auto& j) { j["rules"][1]["config_dir"][0] = "$(reboot)"; }, "character outside");
  expect_refused([](auto& j) { j["rules"][1]["config_dir"][0] = "relative/.claude"; }, "not absolute");
  expect_refused([](auto& j) { j["rules"][2]["from"] = "0.2.95"; }, "contiguous");
  expect_refused([](auto& j) { j["rules"].back()["until"] = "9.0.0"; }, "open-ended");
  expect_refused([](auto& j) { j["kinds"][0]["path_regex"] = "(["; }, "regex");
  expect_refused([](auto& j) { j["kinds"][0]["kind"] = "brew"; }, "brew");
  expect_refused([](auto& j) { j.erase("login_state"); }, "login_state");
  auto r = parse_knowledge("{not json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, pb::ErrorKind::integrity);
}

TEST(ProbesKnowledge, TemplateVariables) {
  EXPECT_EQ(*template_variables("${HOME}/.claude"), std::vector<std::string>{"HOME"});
  EXPECT_EQ(*template_variables("${config_dir}.lock"), std::vector<std::string>{"config_dir"});
  EXPECT_FALSE(template_variables("$HOME/.claude"));
  EXPECT_FALSE(template_variables("${HOME"));
  EXPECT_FALSE(template_variables("${1X}"));
  EXPECT_FALSE(template_variables("${A-B}"));
}

TEST(ProbesVersion, ParsesAndOrders) {
  EXPECT_EQ(parse_version("1.0.31")->to_string(), "1.0.31");
  EXPECT_EQ(parse_version("2.1.332-beta.1")->suffix, "-beta.1");
  EXPECT_LT(*parse_version("1.0.9"), *parse_version("1.0.10"));
  EXPECT_LT(*parse_version("0.2.114"), *parse_version("1.0.0"));
  EXPECT_EQ(*parse_version("2.1.332-beta.1"), *parse_version("2.1.332"));
  for (const char* bad :
       {"", "1", "1.0", "v1.0.0", " 1.0.0", "1.0.0 ", "1.0.x", "1..0", "100000.0.0", "1.0.0-", "1.0.0-\"x", "-1.0.0"})
    EXPECT_FALSE(parse_version(bad)) << bad;
}

TEST(ProbesVersion, RuleForVersion) {
  const auto& k = knowledge();
  EXPECT_EQ(k.rule_for(parse_version("0.2.9")).id, "0.2.9");
  EXPECT_EQ(k.rule_for(parse_version("0.2.74")).id, "0.2.9");
  EXPECT_EQ(k.rule_for(parse_version("0.2.90")).id, "0.2.90");
  EXPECT_EQ(k.rule_for(parse_version("0.2.114")).id, "0.2.114");
  EXPECT_EQ(k.rule_for(parse_version("1.0.4")).id, "0.2.114");
  EXPECT_EQ(k.rule_for(parse_version("1.0.5")).id, "1.0.5");
  EXPECT_EQ(k.rule_for(parse_version("1.0.27")).id, "1.0.5");
  EXPECT_EQ(k.rule_for(parse_version("1.0.30")).id, "1.0.30");
  EXPECT_EQ(k.rule_for(parse_version("1.0.31")).id, "1.0.30");
  EXPECT_EQ(k.rule_for(parse_version("1.0.33")).id, "1.0.32");
  EXPECT_EQ(k.rule_for(parse_version("2.1.112")).id, "1.0.32");
  EXPECT_EQ(k.rule_for(parse_version("2.1.126")).id, "1.0.32");
  EXPECT_EQ(k.rule_for(parse_version("2.1.140")).id, "2.1.140");
  EXPECT_EQ(k.rule_for(parse_version("2.1.332")).id, "2.1.332");
  EXPECT_EQ(k.rule_for(parse_version("3.0.0")).id, "2.1.332");
  EXPECT_EQ(k.rule_for(std::nullopt).id, "2.1.332");
}

// --- locations, table-driven from CLAUDE-CODE-FACTS.md ---------------------

class ProbesLocations : public ::testing::TestWithParam<LocationCase> {};

TEST_P(ProbesLocations, MatchFacts) {
  const LocationCase& c = GetParam();
  Facts f = npm_facts(c.version, c.home, parse_version(c.version) >= parse_version("2.1.113"));
  f.env["CLAUDE_CONFIG_DIR"] = c.claude_config_dir;
  f.env["XDG_CONFIG_HOME"] = c.xdg_config_home;
  f.env["CLAUDE_SECURESTORAGE_CONFIG_DIR"] = c.securestorage;
  ProbeReport r = interpret(knowledge(), f);
  ASSERT_TRUE(r.claude.found);
  EXPECT_EQ(r.claude.version, c.version);
  EXPECT_EQ(r.rule, c.rule);
  EXPECT_EQ(r.locations.config_dir, c.config_dir);
  EXPECT_EQ(r.locations.global_config, c.global_config);
  EXPECT_EQ(r.locations.credentials, c.credentials);
  EXPECT_EQ(r.locations.locks, c.locks);
  EXPECT_EQ(r.locations.lock, c.locks.empty() ? none : std::optional<std::string>(c.locks.front()));
  EXPECT_TRUE(r.honors_claude_config_dir);
}

INSTANTIATE_TEST_SUITE_P(
    FactsTable, ProbesLocations,
    ::testing::Values(
        // 0.2.9–0.2.74: no credentials file; CLAUDE_CONFIG_DIR/config.json.
        LocationCase{"0.2.50", "/root", none, none, none, "/root/.claude", "/root/.claude.json", none, {}, "0.2.9"},
        LocationCase{"0.2.50", "/root", "/cfg", none, none, "/cfg", "/cfg/config.json", none, {}, "0.2.9"},
        // 0.2.90–1.0.4: credentials ignore CLAUDE_CONFIG_DIR; lock from 0.2.114.
        LocationCase{"0.2.100",
                     "/root",
                     "/cfg",
                     none,
                     none,
                     "/cfg",
                     "/cfg/config.json",
                     "/root/.claude/.credentials.json",
                     {},
                     "0.2.90"},
        LocationCase{"1.0.4",
                     "/root",
                     "/cfg",
                     none,
                     none,
                     "/cfg",
                     "/cfg/config.json",
                     "/root/.claude/.credentials.json",
                     {"/root/.claude.lock"},
                     "0.2.114"},
        LocationCase{"1.0.4",
                     "/root",
                     none,
                     none,
                     none,
                     "/root/.claude",
                     "/root/.claude.json",
                     "/root/.claude/.credentials.json",
                     {"/root/.claude.lock"},
                     "0.2.114"},
        // 1.0.5–1.0.27: <cfg>/.credentials.json, <cfg>.lock, ${CLAUDE_CONFIG_DIR:-$HOME}/.claude.json.
        LocationCase{"1.0.10",
                     "/root",
                     none,
                     none,
                     none,
                     "/root/.claude",
                     "/root/.claude.json",
                     "/root/.claude/.credentials.json",
                     {"/root/.claude.lock"},
                     "1.0.5"},
        LocationCase{"1.0.10",
                     "/root",
                     "/cfg",
                     none,
                     none,
                     "/cfg",
                     "/cfg/.claude.json",
                     "/cfg/.credentials.json",
                     {"/cfg.lock"},
                     "1.0.5"},
        // 1.0.30–1.0.31: XDG_CONFIG_HOME moves <cfg>, not .claude.json.
        LocationCase{"1.0.31",
                     "/home/dev",
                     none,
                     "/home/dev/.config",
                     none,
                     "/home/dev/.config/claude",
                     "/home/dev/.claude.json",
                     "/home/dev/.config/claude/.credentials.json",
                     {"/home/dev/.config/claude.lock"},
                     "1.0.30"},
        LocationCase{"1.0.31",
                     "/home/dev",
                     "/cfg",
                     "/home/dev/.config",
                     none,
                     "/cfg",
                     "/cfg/.claude.json",
                     "/cfg/.credentials.json",
                     {"/cfg.lock"},
                     "1.0.30"},
        LocationCase{"1.0.31",
                     "/home/para",
                     none,
                     none,
                     none,
                     "/home/para/.claude",
                     "/home/para/.claude.json",
                     "/home/para/.claude/.credentials.json",
                     {"/home/para/.claude.lock"},
                     "1.0.30"},
        // 1.0.33+: XDG_CONFIG_HOME ignored again.
        LocationCase{"1.0.33",
                     "/home/dev",
                     none,
                     "/home/dev/.config",
                     none,
                     "/home/dev/.claude",
                     "/home/dev/.claude.json",
                     "/home/dev/.claude/.credentials.json",
                     {"/home/dev/.claude.lock"},
                     "1.0.32"},
        LocationCase{"2.1.112",
                     "/root",
                     none,
                     none,
                     none,
                     "/root/.claude",
                     "/root/.claude.json",
                     "/root/.claude/.credentials.json",
                     {"/root/.claude.lock"},
                     "1.0.32"},
        LocationCase{"2.1.120",
                     "/root",
                     "/cfg",
                     none,
                     none,
                     "/cfg",
                     "/cfg/.claude.json",
                     "/cfg/.credentials.json",
                     {"/cfg.lock"},
                     "1.0.32"},
        // 2.1.140: the lock moves inside <cfg>.
        LocationCase{"2.1.140",
                     "/root",
                     none,
                     none,
                     none,
                     "/root/.claude",
                     "/root/.claude.json",
                     "/root/.claude/.credentials.json",
                     {"/root/.claude/.oauth_refresh.lock"},
                     "2.1.140"},
        // 2.1.332: both locks; CLAUDE_SECURESTORAGE_CONFIG_DIR moves credentials; XDG ignored.
        LocationCase{"2.1.332",
                     "/home/dev",
                     none,
                     "/home/dev/.config",
                     none,
                     "/home/dev/.claude",
                     "/home/dev/.claude.json",
                     "/home/dev/.claude/.credentials.json",
                     {"/home/dev/.claude/.oauth_refresh.lock", "/home/dev/.claude.lock"},
                     "2.1.332"},
        LocationCase{"2.1.332",
                     "/root",
                     "/cfg",
                     none,
                     "/sec",
                     "/cfg",
                     "/cfg/.claude.json",
                     "/sec/.credentials.json",
                     {"/cfg/.oauth_refresh.lock", "/cfg.lock"},
                     "2.1.332"},
        // An empty variable counts as unset.
        LocationCase{"2.1.332",
                     "/root",
                     "",
                     "",
                     "",
                     "/root/.claude",
                     "/root/.claude.json",
                     "/root/.claude/.credentials.json",
                     {"/root/.claude/.oauth_refresh.lock", "/root/.claude.lock"},
                     "2.1.332"},
        // HOME=/ (numeric USER without passwd entry): no double slashes.
        LocationCase{"2.1.332",
                     "/",
                     none,
                     none,
                     none,
                     "/.claude",
                     "/.claude.json",
                     "/.claude/.credentials.json",
                     {"/.claude/.oauth_refresh.lock", "/.claude.lock"},
                     "2.1.332"}));

TEST(ProbesInterpret, LegacyConfigJsonWinsWhenItExists) {
  Facts f = npm_facts("1.0.10", "/root");
  ProbeReport before = interpret(knowledge(), f);
  EXPECT_EQ(before.locations.global_config, "/root/.claude.json");
  f.checks["/root/.claude/.config.json"] = PathCheck{true, false};
  ProbeReport after = interpret(knowledge(), f);
  EXPECT_EQ(after.locations.global_config, "/root/.claude/.config.json");
  // 0.2.x never used the legacy file.
  Facts old = npm_facts("0.2.50", "/root");
  old.checks["/root/.claude/.config.json"] = PathCheck{true, false};
  EXPECT_EQ(interpret(knowledge(), old).locations.global_config, "/root/.claude.json");
}

// The probe checks every config directory and global config the rules can
// name, so the report can tell a mount whether the image ships them.
TEST(ProbesInterpret, TellsWhetherTheImageShipsItsConfig) {
  Facts f = npm_facts("2.1.332", "/home/para");
  EXPECT_FALSE(interpret(knowledge(), f).in_image.config_dir.has_value()) << "not checked: not known";
  const auto templates = check_templates(knowledge());
  for (const char* t : {"${HOME}/.claude", "${HOME}/.claude.json"})
    EXPECT_NE(std::find(templates.begin(), templates.end(), t), templates.end()) << t;
  f.checks["/home/para/.claude"] = PathCheck{true, std::nullopt};
  f.checks["/home/para/.claude.json"] = PathCheck{false, std::nullopt};
  ProbeReport r = interpret(knowledge(), f);
  EXPECT_EQ(r.in_image.config_dir, true);
  EXPECT_EQ(r.in_image.global_config, false);
  auto back = report_from_json(report_to_json(r));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->in_image.config_dir, true);
  EXPECT_EQ(back->in_image.global_config, false);
  // A cached report from before the field: not known, so a mount reads both.
  auto j = nlohmann::json::parse(report_to_json(r));
  j.erase("in_image");
  auto old = report_from_json(j.dump());
  ASSERT_TRUE(old.ok()) << old.error().message;
  EXPECT_FALSE(old->in_image.config_dir.has_value());
  j["in_image"] = {{"config_dir", "yes"}};
  EXPECT_FALSE(report_from_json(j.dump()).ok());
}

TEST(ProbesInterpret, KindsAndVersions) {
  const auto& k = knowledge();
  ProbeReport js = interpret(k, npm_facts("1.0.31", "/root"));
  EXPECT_EQ(js.claude.kind, "npm-js");
  EXPECT_EQ(js.claude.path, "/usr/local/lib/node_modules/@anthropic-ai/claude-code/cli.js");
  EXPECT_TRUE(js.warnings.empty()) << js.warnings.front();

  ProbeReport native = interpret(k, npm_facts("2.1.332", "/root", true));
  EXPECT_EQ(native.claude.kind, "npm-native");

  Facts inst;
  inst.uid = 1000;
  inst.gid = 1000;
  inst.user = "dev";
  inst.home = "/home/dev";
  inst.in_passwd = true;
  inst.native_links.push_back({"/home/dev/.local/bin/claude", true, "/home/dev/.local/share/claude/versions/2.1.140"});
  ProbeReport ni = interpret(k, inst);
  EXPECT_TRUE(ni.claude.found);
  EXPECT_EQ(ni.claude.kind, "native-installer");
  EXPECT_EQ(ni.claude.version, "2.1.140");
  EXPECT_EQ(ni.locations.lock, "/home/dev/.claude/.oauth_refresh.lock");
  ASSERT_FALSE(ni.warnings.empty());
  EXPECT_NE(ni.warnings.front().find("not on the image's PATH"), std::string::npos);

  Facts standin = npm_facts("1.0.31", "/root");
  standin.packages.clear();
  standin.claude_resolved = "/usr/local/bin/claude";
  ProbeReport u = interpret(k, standin);
  EXPECT_TRUE(u.claude.found);
  EXPECT_EQ(u.claude.kind, "unknown");
  EXPECT_FALSE(u.claude.version.has_value());
  EXPECT_EQ(u.rule, k.rules.back().id);
  ASSERT_FALSE(u.warnings.empty());
  EXPECT_NE(u.warnings.front().find("version is unknown"), std::string::npos);

  ProbeReport gap = interpret(k, npm_facts("1.0.32", "/root"));
  ASSERT_FALSE(gap.warnings.empty());
  EXPECT_NE(gap.warnings.front().find("was not measured"), std::string::npos);

  Facts wrong_pkg = npm_facts("1.0.31", "/root");
  wrong_pkg.packages[0].name = "evil-claude";
  EXPECT_FALSE(interpret(k, wrong_pkg).claude.version.has_value());
}

TEST(ProbesInterpret, NoClaude) {
  Facts f;
  f.uid = 0;
  f.gid = 0;
  f.home = "/root";
  f.in_passwd = true;
  ProbeReport r = interpret(knowledge(), f);
  EXPECT_FALSE(r.claude.found);
  EXPECT_EQ(r.claude.kind, "unknown");
  EXPECT_FALSE(r.locations.config_dir.has_value());
}

TEST(ProbesInterpret, WarnsAboutWhatHidesAMountedLogin) {
  Facts f = npm_facts("2.1.332", "/root", true);
  f.secrets["ANTHROPIC_API_KEY"] = true;
  f.secrets["ANTHROPIC_AUTH_TOKEN"] = false;
  f.checks["/root/.claude/settings.json"] = PathCheck{true, true};
  ProbeReport r = interpret(knowledge(), f);
  std::string all;
  for (const auto& w : r.warnings) all += w + "\n";
  EXPECT_NE(all.find("ANTHROPIC_API_KEY"), std::string::npos) << all;
  EXPECT_EQ(all.find("ANTHROPIC_AUTH_TOKEN"), std::string::npos) << all;
  EXPECT_NE(all.find("/root/.claude/settings.json sets apiKeyHelper"), std::string::npos) << all;
}

TEST(ProbesInterpret, SaysWhatOverridesAMountedLoginAsData) {
  Facts f = npm_facts("2.1.332", "/root", true);
  f.secrets["ANTHROPIC_API_KEY"] = true;
  f.secrets["ANTHROPIC_AUTH_TOKEN"] = true;
  f.secrets["CLAUDE_CODE_OAUTH_TOKEN"] = false;
  f.checks["/root/.claude/settings.json"] = PathCheck{true, true};
  ProbeReport r = interpret(knowledge(), f);
  ASSERT_TRUE(r.login_overrides);
  std::map<std::string, std::string> where;
  for (const auto& o : *r.login_overrides) where[o.name] = o.where;
  EXPECT_EQ(where, (std::map<std::string, std::string>{{"ANTHROPIC_API_KEY", "image ENV"},
                                                       {"ANTHROPIC_AUTH_TOKEN", "image ENV"},
                                                       {"apiKeyHelper", "/root/.claude/settings.json"}}));
  // Through the cache's JSON and back.
  auto back = report_from_json(report_to_json(r));
  ASSERT_TRUE(back.ok());
  ASSERT_TRUE(back->login_overrides);
  EXPECT_EQ(back->login_overrides->size(), 3u);
  EXPECT_EQ(back->login_overrides->at(2).why, r.login_overrides->at(2).why);
  EXPECT_TRUE(interpret(knowledge(), npm_facts("2.1.332", "/root", true)).login_overrides->empty());
}

TEST(ProbesCache, AReportThatPredatesLoginOverridesIsProbedAgain) {
  fs::path dir = fs::temp_directory_path() / ("pb-probes-cache-old-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ProbeCache cache(dir / "cache");
  ProbeReport r = interpret(knowledge(), npm_facts("2.1.332", "/root", true));
  r.image_id = "sha256:" + std::string(64, 'd');
  ASSERT_TRUE(cache.store(r).ok());
  ASSERT_TRUE(cache.load(r.image_id, r.knowledge_version).has_value());
  auto j = nlohmann::json::parse(report_to_json(r));
  j.erase("login_overrides");
  { std::ofstream(*cache.file_for(r.image_id), std::ios::trunc) << j.dump(); }
  EXPECT_FALSE(report_from_json(j.dump())->login_overrides.has_value());
  EXPECT_FALSE(cache.load(r.image_id, r.knowledge_version).has_value()) << "it could hide an override";
  fs::remove_all(dir);
}

TEST(ProbesInterpret, NumericUserWithoutPasswdEntry) {
  Facts f = npm_facts("2.1.332", "/", true);
  f.uid = 4321;
  f.gid = 4321;
  f.user.reset();
  f.passwd_home.reset();
  f.in_passwd = false;
  ProbeReport r = interpret(knowledge(), f);
  EXPECT_EQ(r.user.uid, 4321u);
  EXPECT_FALSE(r.user.name.has_value());
  EXPECT_EQ(r.user.home, "/");
  EXPECT_EQ(r.locations.config_dir, "/.claude");
  std::string all;
  for (const auto& w : r.warnings) all += w + "\n";
  EXPECT_NE(all.find("no entry in the image's /etc/passwd"), std::string::npos) << all;
}

TEST(ProbesInterpret, LocationsWithEnvForAMount) {
  ProbeReport r = interpret(knowledge(), npm_facts("1.0.31", "/home/para"));
  auto moved = locations_with_env(knowledge(), r, {{"CLAUDE_CONFIG_DIR", "/home/para/.claude-mnt"}});
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(moved->config_dir, "/home/para/.claude-mnt");
  EXPECT_EQ(moved->global_config, "/home/para/.claude-mnt/.claude.json");
  EXPECT_EQ(moved->credentials, "/home/para/.claude-mnt/.credentials.json");
  EXPECT_EQ(moved->lock, "/home/para/.claude-mnt.lock");
  r.rule = "no-such-rule";
  EXPECT_EQ(locations_with_env(knowledge(), r, {}).error().kind, pb::ErrorKind::not_found);
}

// --- the probe's output is hostile ------------------------------------------

TEST(ProbesFacts, ParsesGoodOutputAfterNoise) {
  std::string out =
      "motd from a noisy profile\n"
      R"({"probe":1,"uid":1000,"gid":1000,"user":"para","home":"/home/para","passwd_home":"/home/para",)"
      R"("in_passwd":true,"readlink":true,"env":{"HOME":"/home/para","CLAUDE_CONFIG_DIR":null},)"
      R"("secrets":{"ANTHROPIC_API_KEY":false},"claude":{"link":"/usr/bin/claude","resolved":null},)"
      R"("native_links":[{"path":"/home/para/.local/bin/claude","exists":false,"resolved":null}],)"
      R"("packages":[{"dir":"/usr/lib/node_modules/@anthropic-ai/claude-code","name":"@anthropic-ai/claude-code","version":"1.0.31"}],)"
      R"("checks":[{"path":"//home/para/.claude/settings.json","exists":true,"marker":false},{"path":"","exists":false,"marker":null}]})"
      "\n";
  auto f = parse_probe_output(out);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->uid, 1000u);
  EXPECT_EQ(f->user, "para");
  EXPECT_EQ(f->env.at("CLAUDE_CONFIG_DIR"), std::nullopt);
  EXPECT_EQ(f->packages.at(0).version, "1.0.31");
  EXPECT_TRUE(f->checks.at("/home/para/.claude/settings.json").exists);
  EXPECT_EQ(f->checks.size(), 1u);
}

TEST(ProbesFacts, RefusesHostileOutput) {
  auto refused = [](const std::string& out) {
    auto f = parse_probe_output(out);
    EXPECT_FALSE(f.ok()) << out.substr(0, 200);
    if (!f.ok()) {
      EXPECT_EQ(f.error().kind, pb::ErrorKind::unsafe_input);
      EXPECT_EQ(f.error().message.find("sk-ant"), std::string::npos);
    }
  };
  refused("");
  refused("\n\n");
  refused("not json");
  refused(R"({"probe":2})");
  refused(R"([1,2])");
  refused(R"({"probe":1,"uid":-1})");
  refused(R"({"probe":1,"uid":"0"})");
  refused(R"({"probe":1,"uid":99999999999})");
  refused(R"({"probe":1,"home":"relative/home"})");
  refused(R"({"probe":1,"home":123})");
  refused(R"({"probe":1,"env":{"BAD NAME":"x"}})");
  refused(R"({"probe":1,"env":{"HOME":5}})");
  refused(R"({"probe":1,"secrets":{"ANTHROPIC_API_KEY":"sk-ant-oat01-CANARY-test-value"}})");
  refused(R"({"probe":1,"claude":{"link":"claude"}})");
  refused(R"({"probe":1,"packages":[{"name":"x"}]})");
  refused(R"({"probe":1,"packages":"x"})");
  refused(R"({"probe":1,"home":"/a\u0000b"})");
  refused(R"({"probe":1,"user":")" + std::string(5000, 'a') + "\"}");
  std::string many = R"({"probe":1,"packages":[)";
  for (int i = 0; i < 100; ++i) many += std::string(i ? "," : "") + R"({"dir":"/x"})";
  refused(many + "]}");
  refused(std::string(k_max_probe_output + 1, ' ') + "{}");
  refused("{\"probe\":1,\"user\":\"\xff\xfe\"}");
}

TEST(ProbesFacts, ArgumentsOnlyUseEnvironmentVariables) {
  const auto& k = knowledge();
  auto args = probe_arguments(k);
  ASSERT_EQ(args.size() % 2, 0u);
  bool legacy = false;
  for (std::size_t i = 0; i < args.size(); i += 2) {
    EXPECT_EQ(args[i + 1].find("${config_dir}"), std::string::npos) << args[i + 1];
    if (args[i] == "-e" && args[i + 1] == "${HOME}/.claude/.config.json") legacy = true;
  }
  EXPECT_TRUE(legacy);
  EXPECT_EQ(*expand_template("${HOME}/.claude", {{"HOME", "/"}}), "/.claude");
  EXPECT_FALSE(expand_template("${CLAUDE_CONFIG_DIR}/x", {{"CLAUDE_CONFIG_DIR", ""}}));
  EXPECT_FALSE(expand_template("${CLAUDE_CONFIG_DIR}/x", {}));
}

// --- report and cache ---------------------------------------------------------

TEST(ProbesReport, JsonRoundTripAndSpecShape) {
  ProbeReport r = interpret(knowledge(), npm_facts("1.0.31", "/home/para"));
  r.image = "para-claude:latest";
  r.image_id = "sha256:" + std::string(64, 'a');
  r.research = ResearchResult{r.locations, {"/home/para/.claude.json"}, true, true};
  std::string text = report_to_json(r);
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["schema"], 1);
  EXPECT_EQ(j["claude"]["found"], true);
  EXPECT_EQ(j["claude"]["kind"], "npm-js");
  EXPECT_EQ(j["user"]["home"], "/home/para");
  EXPECT_TRUE(j["env"].contains("CLAUDE_CONFIG_DIR"));
  EXPECT_TRUE(j["env"]["CLAUDE_CONFIG_DIR"].is_null());
  EXPECT_EQ(j["locations"]["credentials"], "/home/para/.claude/.credentials.json");
  EXPECT_EQ(j["method"], "probe");
  EXPECT_TRUE(j["evidence"].is_array());
  auto back = report_from_json(text);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(report_to_json(*back), text);
  EXPECT_EQ(report_from_json("{\"schema\":1}").error().kind, pb::ErrorKind::integrity);
}

TEST(ProbesReport, TextHasNoControlCharacters) {
  ProbeReport r = interpret(knowledge(), npm_facts("1.0.31", "/home/\x1b[31mevil"));
  std::string text = report_to_text(r);
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_NE(text.find("npm-js 1.0.31"), std::string::npos);
}

TEST(ProbesCache, StoresPrivatelyAndKeysByImageIdAndKnowledge) {
  fs::path dir = fs::temp_directory_path() / ("pb-probes-cache-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ProbeCache cache(dir / "cache");
  ProbeReport r = interpret(knowledge(), npm_facts("2.1.332", "/root", true));
  r.image = "img:1";
  r.image_id = "sha256:" + std::string(64, 'b');
  EXPECT_FALSE(cache.load(r.image_id, r.knowledge_version).has_value());
  ASSERT_TRUE(cache.store(r).ok());
  struct stat st {};
  ASSERT_EQ(::stat((dir / "cache").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto file = cache.file_for(r.image_id);
  ASSERT_TRUE(file.ok());
  ASSERT_EQ(::stat(file->c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto hit = cache.load(r.image_id, r.knowledge_version);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->locations, r.locations);
  EXPECT_FALSE(cache.load(r.image_id, "other-knowledge").has_value());
  EXPECT_FALSE(cache.load("sha256:" + std::string(64, 'c'), r.knowledge_version).has_value());
  { std::ofstream(*file, std::ios::trunc) << "{corrupt"; }
  EXPECT_FALSE(cache.load(r.image_id, r.knowledge_version).has_value());
  EXPECT_EQ(cache.file_for("../../etc/passwd").error().kind, pb::ErrorKind::unsafe_input);
  fs::remove_all(dir);
}

// --- probe.sh under real shells, on a fake tree ---------------------------

namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string run_script(const std::string& shell, const fs::path& root, const std::map<std::string, std::string>& env) {
  fs::path script = root / "probe.sh";
  { std::ofstream(script) << embedded_probe_script(); }
  std::string cmd = "env -i PATH=" + shell_quote((root / "bin").string() + ":/usr/bin:/bin");
  for (const auto& [k, v] : env) cmd += " " + k + "=" + shell_quote(v);
  cmd += " " + shell + " " + shell_quote(script.string());
  for (const auto& a : probe_arguments(knowledge())) cmd += " " + shell_quote(a);
  cmd += " > " + shell_quote((root / "out").string());
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream in(root / "out");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

class ProbesScript : public ::testing::TestWithParam<std::string> {};

TEST_P(ProbesScript, ReportsFactsOfAFakeTree) {
  const std::string shell = GetParam();
  fs::path root = fs::temp_directory_path() / ("pb-probes-sh-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::path home = root / "home";
  fs::path pkg = root / "usr/lib/node_modules/@anthropic-ai/claude-code";
  fs::create_directories(pkg);
  fs::create_directories(root / "bin");
  fs::create_directories(home / ".claude");
  {
    std::ofstream(pkg / "package.json") << "{\n  \"name\": \"@anthropic-ai/claude-code\",\n  \"version\": "
                                           "\"1.0.31\",\n  \"bin\": {\"claude\": \"cli.js\"}\n}\n";
  }
  { std::ofstream(pkg / "cli.js") << "#!/usr/bin/env node\n"; }
  fs::create_symlink(pkg / "cli.js", root / "bin/claude");
  fs::permissions(pkg / "cli.js", fs::perms::owner_all);
  { std::ofstream(home / ".claude/settings.json") << "{\"apiKeyHelper\": \"/bin/true\"}"; }
  { std::ofstream(home / ".claude/.config.json") << "{}"; }

  std::string out = run_script(shell, root,
                               {{"HOME", home.string()},
                                {"XDG_CONFIG_HOME", "/we\"ird\\path\tx"},
                                {"ANTHROPIC_API_KEY", "sk-ant-api03-CANARY-test-never-printed"}});
  EXPECT_EQ(out.find("CANARY"), std::string::npos) << "a secret's value leaked into the probe output";
  auto facts = parse_probe_output(out);
  ASSERT_TRUE(facts.ok()) << facts.error().message << "\n" << out;
  EXPECT_EQ(facts->uid, ::getuid());
  EXPECT_EQ(facts->home, home.string());
  EXPECT_EQ(facts->env.at("XDG_CONFIG_HOME"), "/we\"ird\\path?x");
  EXPECT_EQ(facts->env.at("CLAUDE_CONFIG_DIR"), std::nullopt);
  EXPECT_TRUE(facts->secrets.at("ANTHROPIC_API_KEY"));
  EXPECT_FALSE(facts->secrets.at("ANTHROPIC_AUTH_TOKEN"));
  EXPECT_EQ(facts->claude_link, (root / "bin/claude").string());
  EXPECT_EQ(facts->claude_resolved, (pkg / "cli.js").string());
  ASSERT_EQ(facts->packages.size(), 1u);
  EXPECT_EQ(facts->packages[0].version, "1.0.31");
  EXPECT_TRUE(facts->checks.at((home / ".claude/.config.json").string()).exists);
  EXPECT_EQ(facts->checks.at((home / ".claude/settings.json").string()).marker, true);

  ProbeReport r = interpret(knowledge(), *facts);
  EXPECT_EQ(r.claude.kind, "npm-js");
  EXPECT_EQ(r.claude.version, "1.0.31");
  EXPECT_EQ(r.locations.config_dir, "/we\"ird\\path?x/claude");  // 1.0.31 honours XDG_CONFIG_HOME
  EXPECT_EQ(r.locations.global_config, (home / ".claude.json").string());
  fs::remove_all(root);
}

INSTANTIATE_TEST_SUITE_P(Shells, ProbesScript, ::testing::Values("dash", "bash --posix", "busybox sh"),
                         [](const auto& p) { return std::string(p.param.substr(0, p.param.find(' '))); });
