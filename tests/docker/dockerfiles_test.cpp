// Every Dockerfile in docker/ builds offline from a locally imported base
// (busybox, the host's node and npm; see tests/images) with --build-arg
// BASE=<local> and CLAUDE_PACKAGE=<the Claude Code 1.0.31 tarball from the npm
// cache>, and `probe` reports the user and locations each one is meant to have.
//
// The public bases (debian, ubuntu, alpine, node) cannot be pulled here, so the
// distribution-specific steps (apt-get/apk for node) are skipped because the
// test base already has npm; useradd comes from a busybox stand-in. The Alpine
// image therefore runs on glibc here and installs the JS build: its musl
// native build (@anthropic-ai/claude-code-linux-x64-musl) is not tested.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/images/test_images.hpp"
#include "tests/support/test_env.hpp"

namespace fs = std::filesystem;
using namespace pb::test;

namespace {

constexpr const char* k_label_value = "dockerfiles";
constexpr const char* k_version = "1.0.31";

std::string cache_dir() {
  const char* c = std::getenv("PB_TEST_CACHE");
  return c != nullptr ? c : "/var/cache/para-broker-test";
}

CommandResult sh(const std::string& script, int timeout_s = 600) {
  return run_process({"bash", "-c", script}, {}, "", timeout_s);
}

class Dockerfiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!docker_available()) return;
    remove_labelled(k_label_value);
    s_work = fs::temp_directory_path() / ("pb-dockerfiles-" + std::to_string(::getpid()));
    fs::create_directories(s_work / "base");
    // The base: the test image with busybox and node, plus the host's npm and a useradd stand-in.
    const fs::path b = s_work / "base";
    auto r = sh("set -e; tar -C / -cf '" + (b / "npm.tar").string() + "' usr/lib/node_modules/npm; cp '" +
                source_path("tests/docker/useradd-standin.sh").string() + "' '" + (b / "useradd").string() + "'");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::ofstream(b / "Dockerfile")
        << "FROM " << test_image("node") << "\n"
        << "ADD npm.tar /\nCOPY useradd /usr/sbin/useradd\nCOPY useradd /usr/sbin/adduser\n"
        << "RUN [\"/bin/sh\", \"-c\", \"ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/bin/npm && "
           "mkdir -p /usr/local/sbin && chmod 0755 /usr/sbin/useradd /usr/sbin/adduser\"]\n"
        << "LABEL " << k_test_label << "=" << k_label_value << "\n";
    auto built = docker_cli({"build", "--quiet", "--network", "none", "-t", base(), b.string()}, 600);
    ASSERT_EQ(built.exit_code, 0) << built.err;
    // Like the official node image: a user `node` (uid 1000).
    fs::create_directories(s_work / "node");
    std::ofstream(s_work / "node" / "Dockerfile") << "FROM " << base() << "\n"
                                                  << "RUN adduser -D -u 1000 -h /home/node -s /bin/sh node\n";
    built = docker_cli({"build", "--quiet", "--network", "none", "-t", node_base(), (s_work / "node").string()}, 600);
    ASSERT_EQ(built.exit_code, 0) << built.err;
  }
  static void TearDownTestSuite() {
    remove_labelled(k_label_value);
    if (!s_work.empty()) fs::remove_all(s_work);
  }

  static std::string base() { return "pb-test-dockerfiles/base:latest"; }
  static std::string node_base() { return "pb-test-dockerfiles/node-base:latest"; }

  /// Builds docker/Dockerfile.<flavour> from `from` offline; returns the image reference.
  static std::string build(const std::string& flavour, const std::string& from) {
    const fs::path ctx = s_work / ("ctx-" + flavour);
    fs::remove_all(ctx);
    fs::create_directories(ctx / "packages");
    for (const char* f : {"install-claude.sh"}) fs::copy_file(source_path(std::string("docker/") + f), ctx / f);
    fs::copy(source_path("docker/para"), ctx / "para");  // para's scripts (Dockerfile.para-claude)
    fs::copy_file(source_path("docker/Dockerfile." + flavour), ctx / ("Dockerfile." + flavour));
    const std::string tgz = "anthropic-ai-claude-code-" + std::string(k_version) + ".tgz";
    fs::copy_file(fs::path(cache_dir()) / "npm" / tgz, ctx / "packages" / tgz);
    const std::string ref = "pb-test-dockerfiles/" + flavour + ":latest";
    auto r =
        run_process({"docker", "build", "--quiet", "--network", "none", "--label",
                     std::string(k_test_label) + "=" + k_label_value, "-f", (ctx / ("Dockerfile." + flavour)).string(),
                     "--build-arg", "BASE=" + from, "--build-arg", "CLAUDE_VERSION=" + std::string(k_version),
                     "--build-arg", "CLAUDE_PACKAGE=/tmp/packages/" + tgz, "-t", ref, ctx.string()},
                    {{"DOCKER_BUILDKIT", "0"}}, "", 900);
    EXPECT_EQ(r.exit_code, 0) << "docker build of Dockerfile." << flavour << " failed: " << r.out << r.err;
    fs::remove_all(ctx);
    return ref;
  }

  struct Expected {
    const char* flavour;
    bool node_user_base;
    const char* user;
    int uid;
    const char* home;
  };

  void check(const Expected& e) {
    PB_REQUIRE_DOCKER();
    const std::string ref = build(e.flavour, e.node_user_base ? node_base() : base());
    if (HasFailure()) return;
    TestEnv env;
    auto r = env.cli({"probe", ref, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["claude"]["found"], true);
    EXPECT_EQ(j["claude"]["kind"], "npm-js");
    EXPECT_EQ(j["claude"]["version"], k_version);
    EXPECT_EQ(j["claude"]["path"], "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js");
    EXPECT_EQ(j["user"]["name"], e.user);
    EXPECT_EQ(j["user"]["uid"], e.uid);
    EXPECT_EQ(j["user"]["home"], e.home);
    EXPECT_EQ(j["locations"]["config_dir"], std::string(e.home) + "/.claude");
    EXPECT_EQ(j["locations"]["global_config"], std::string(e.home) + "/.claude.json");
    EXPECT_EQ(j["locations"]["credentials"], std::string(e.home) + "/.claude/.credentials.json");
  }

  static fs::path s_work;
};

fs::path Dockerfiles::s_work;

TEST_F(Dockerfiles, Base) {
  check({"base", true, "node", 1000, "/home/node"});
}
TEST_F(Dockerfiles, Debian) {
  check({"debian", false, "dev", 1001, "/home/dev"});
}
TEST_F(Dockerfiles, Ubuntu) {
  check({"ubuntu", false, "root", 0, "/root"});
}
TEST_F(Dockerfiles, Alpine) {
  check({"alpine", false, "claude", 1000, "/home/claude"});
}

TEST_F(Dockerfiles, ParaClaude) {
  check({"para-claude", false, "para", 1000, "/home/para"});
  if (HasFailure()) return;
  const std::string ref = "pb-test-dockerfiles/para-claude:latest";
  // As para's last Dockerfile.claude: its labels, WORKDIR, entrypoint and command, user.
  auto cfg = docker_cli({"image", "inspect", "--format",
                         "{{index .Config.Labels \"para.version\"}}|{{.Config.WorkingDir}}|{{json .Config.Entrypoint}}|"
                         "{{json .Config.Cmd}}|{{.Config.User}}",
                         ref});
  EXPECT_EQ(cfg.out, "1.2.0|/workspace|[\"/usr/local/bin/secure-entrypoint.sh\"]|[\"/bin/bash\"]|para\n");
  // Passwordless sudo, para's shim and firewall script, a /workspace of para's.
  auto files = docker_cli({"run", "--rm", "--network", "none", "--label",
                           std::string(k_test_label) + "=" + k_label_value, "--entrypoint", "/bin/sh", ref, "-c",
                           "grep -x 'para ALL=(ALL) NOPASSWD:ALL' /etc/sudoers && test -x /usr/local/bin/para && "
                           "test -x /usr/local/bin/init-firewall.sh && stat -c %u /workspace"});
  EXPECT_EQ(files.out, "para ALL=(ALL) NOPASSWD:ALL\n1000\n") << files.err;

  // para's lifecycle on it with the broker's arguments: create, start (para's
  // entrypoint runs), the login is where the image's Claude reads it, owned by para.
  TestEnv env;
  env.set_env("PARA_BROKER_EXTRA_LABELS", std::string(k_test_label) + "=" + k_label_value);
  const fs::path home = env.root() / "login";
  fs::create_directories(home / ".claude");
  std::ofstream(home / ".claude" / ".credentials.json")
      << R"({"claudeAiOauth":{"accessToken":"sk-ant-oat01-CANARY-test-para-claude","refreshToken":)"
         R"("sk-ant-ort01-CANARY-test-para-claude","expiresAt":4102444800000,"scopes":["user:inference"]}})";
  std::ofstream(home / ".claude.json") << R"({"oauthAccount":{"emailAddress":"canary-test@example.com"}})";
  ASSERT_EQ(env.cli({"import", "--from-dir", home.string(), "--name", "work"}).exit_code, 0);
  const std::string session = env.unique("pc");
  auto m = env.cli({"mount", "--image", ref, "--session", session, "--format", "json"});
  ASSERT_EQ(m.exit_code, 0) << m.err;
  auto j = nlohmann::json::parse(m.out);
  EXPECT_TRUE(j["conflicts"].empty()) << m.out;
  const fs::path worktree = env.root() / "worktree";
  fs::create_directories(worktree);
  std::vector<std::string> create{"create", "--name", "para-" + session, "--label",
                                  std::string(k_test_label) + "=" + k_label_value};
  for (const auto& a : j["docker_args"]) create.push_back(a.get<std::string>());
  const std::vector<std::string> para_args{
      "-v", worktree.string() + ":/workspace", "-w", "/workspace", "--network", "none",
      "-e", "PARA_NETWORK_ISOLATION=false",    ref,  "sleep",      "infinity"};
  create.insert(create.end(), para_args.begin(), para_args.end());
  auto created = docker_cli(create);
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(docker_cli({"start", "para-" + session}).exit_code, 0);
  auto login = docker_cli({"exec", "para-" + session, "sh", "-c",
                           "test -s \"$CLAUDE_CONFIG_DIR/.credentials.json\" && stat -L -c %u:%a "
                           "\"$CLAUDE_CONFIG_DIR/.credentials.json\" && whoami"});
  EXPECT_EQ(login.out, "1000:600\npara\n") << login.err;
  auto logs = docker_cli({"logs", "para-" + session});
  EXPECT_THAT(logs.out, ::testing::HasSubstr("Network isolation is disabled")) << "para's entrypoint ran";
  EXPECT_EQ(docker_cli({"stop", "--time", "10", "para-" + session}).exit_code, 0);
  EXPECT_EQ(docker_cli({"rm", "--force", "para-" + session}).exit_code, 0);
  auto released = env.cli({"release", "--session", session, "--json"});
  EXPECT_EQ(released.exit_code, 0) << released.err;
  EXPECT_THAT(released.out, ::testing::HasSubstr("\"volume_removed\": true"));
}

TEST(DockerfilesText, EveryDockerfileTakesBaseAndVersionArgs) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(source_path("docker"))) {
    if (!e.path().filename().string().starts_with("Dockerfile.")) continue;
    ++n;
    std::ifstream in(e.path());
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    EXPECT_THAT(text, ::testing::HasSubstr("ARG BASE=")) << e.path();
    EXPECT_THAT(text, ::testing::HasSubstr("FROM ${BASE}")) << e.path();
    EXPECT_THAT(text, ::testing::HasSubstr("ARG CLAUDE_VERSION=")) << e.path();
    EXPECT_THAT(text, ::testing::HasSubstr("ARG CLAUDE_PACKAGE=@anthropic-ai/claude-code@${CLAUDE_VERSION}"))
        << e.path();
    EXPECT_THAT(text, ::testing::ContainsRegex("\nUSER [a-z]+\n")) << e.path();
  }
  EXPECT_EQ(n, 5);
}

}  // namespace
