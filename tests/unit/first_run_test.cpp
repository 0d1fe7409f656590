// Every command on a machine where para-broker never ran: no vault, no key
// file, no cache, a Docker without para-broker's objects (or none at all).
// Each answers with a sentence a user can act on and its documented exit
// code, never with an I/O error about a directory that does not exist yet.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "broker/commands/command.hpp"
#include "broker/commands/run.hpp"
#include "tests/support/fake_docker.hpp"
#include "tests/support/test_env.hpp"

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

namespace pb {
namespace {

constexpr const char* k_no_credentials = "no credentials stored; capture one with 'para-broker import --from-host'";

struct Outcome {
  int code = -1;
  std::string out, err;
};

class FirstRun : public ::testing::Test {
 protected:
  void SetUp() override {
    broker::ImageInfo info;
    info.id = "sha256:00000000000000000000000000000000000000000000000000000000000000aa";
    docker->images["app:1"] = info;
  }

  Outcome run(std::vector<std::string> args, bool docker_down = false) {
    std::ostringstream out, err;
    // Nothing of the test's temp root exists yet but the root itself: the fresh machine.
    broker::Context ctx{Paths{env.vault_home(), env.key_file(), env.cache_dir()}, out, err, docker->factory(), false};
    if (docker_down)
      ctx.docker = []() -> Result<std::shared_ptr<broker::DockerClient>> {
        return fail(ErrorKind::unreachable, "Docker did not answer at unix:///nowhere.sock");
      };
    args.insert(args.begin(), "para-broker");
    Outcome o;
    o.code = broker::run(args, ctx);
    o.out = out.str();
    o.err = err.str();
    // What reads like an internal error: an errno sentence about the vault's own directories.
    EXPECT_THAT(o.err, Not(HasSubstr("No such file or directory"))) << args[1];
    EXPECT_THAT(o.err, Not(HasSubstr("checking vault"))) << args[1];
    EXPECT_FALSE(fs::exists(env.vault_home()) && args[1] != "import" && args[1] != "vault" && args[1] != "login")
        << args[1] << " created a vault";
    return o;
  }

  test::TestEnv env;
  std::shared_ptr<test::FakeDocker> docker = std::make_shared<test::FakeDocker>();
};

TEST_F(FirstRun, MountSaysThereIsNoCredentialYet) {
  for (bool down : {false, true}) {
    auto r = run({"mount", "--image", "app:1", "--session", "s1"}, down);
    EXPECT_EQ(r.code, 3) << r.err;
    EXPECT_THAT(r.err, HasSubstr(k_no_credentials));
    EXPECT_EQ(r.out, "");
  }
  auto j = run({"mount", "--image", "app:1", "--session", "s1", "--format", "json"});
  EXPECT_EQ(j.code, 3) << j.err;
}

TEST_F(FirstRun, ListAndAuditSayNothingIsStored) {
  auto l = run({"list"});
  EXPECT_EQ(l.code, 0) << l.err;
  EXPECT_THAT(l.out, HasSubstr(k_no_credentials));
  EXPECT_EQ(run({"list", "--json"}).code, 0);
  auto a = run({"audit"});
  EXPECT_TRUE(a.code == 0 || a.code == 10) << a.err;
  EXPECT_EQ(a.err, "");
}

TEST_F(FirstRun, ReleaseSyncAndGcHaveNothingToDo) {
  // The wrapper releases after a failed mount: that must succeed quietly.
  for (const char* no_sync : {"", "--no-sync"}) {
    std::vector<std::string> args{"release", "--session", "s1"};
    if (*no_sync) args.push_back(no_sync);
    auto r = run(args);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err, "");
  }
  EXPECT_EQ(run({"release", "--session", "s1", "--json"}).code, 0);
  auto s = run({"sync"});
  EXPECT_EQ(s.code, 0) << s.err;
  auto one = run({"sync", "--session", "s1"});
  EXPECT_EQ(one.code, 3) << one.err;
  EXPECT_THAT(one.err, HasSubstr(k_no_credentials));
  auto g = run({"gc"});
  EXPECT_EQ(g.code, 0) << g.err;
  // Without Docker, they say so (exit 5), as they would with a vault.
  EXPECT_EQ(run({"release", "--session", "s1"}, true).code, 5);
  EXPECT_EQ(run({"gc"}, true).code, 5);
}

TEST_F(FirstRun, AReleaseOfASessionAnotherVaultMountedSaysWhichVaultItLookedIn) {
  broker::Labels l{{"para-broker.managed", "1"}, {"para-broker.role", "hold"}, {"para-broker.volume", "para-broker-x"}};
  docker->volumes["para-broker-hold-s1"] = {"para-broker-hold-s1", "local", "/v", l};
  auto r = run({"release", "--session", "s1"});
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("there is no vault in " + env.vault_home().string()));
  EXPECT_THAT(r.err, HasSubstr("PARA_BROKER_HOME"));
  EXPECT_EQ(docker->volumes.count("para-broker-hold-s1"), 1u) << "left for the vault that made it";
}

TEST_F(FirstRun, CredentialAndVaultCommandsNameWhatIsMissing) {
  auto rm = run({"rm", "work"});
  EXPECT_EQ(rm.code, 3) << rm.err;
  EXPECT_THAT(rm.err, HasSubstr(k_no_credentials));
  for (const char* sub : {"rekey", "verify"}) {
    auto v = run({"vault", sub});
    EXPECT_EQ(v.code, 3) << sub << ": " << v.err;
    EXPECT_THAT(v.err, HasSubstr("there is no vault in")) << sub;
  }
  auto inspect = run({"vault", "inspect", (env.root() / "nothing.pbe").string()});
  EXPECT_EQ(inspect.code, 3) << inspect.err;
}

TEST_F(FirstRun, CapturingCommandsSayWhatTheyDidNotFind) {
  auto probe = run({"probe", "nosuch:image"});
  EXPECT_EQ(probe.code, 3) << probe.err;
  auto login = run({"login", "--image", "nosuch:image"});
  EXPECT_EQ(login.code, 2) << login.err;
  EXPECT_THAT(login.err, HasSubstr("login needs a terminal"));
  fs::create_directories(env.root() / "empty-home");
  auto import = run({"import", "--from-dir", (env.root() / "empty-home").string()});
  EXPECT_EQ(import.code, 3) << import.err;
  EXPECT_THAT(import.err, HasSubstr("para-broker: "));
}

TEST_F(FirstRun, EveryCommandIsCovered) {
  // A command added later gets its first-run answer here too.
  std::set<std::string> covered{"doctor", "probe",   "vault", "list", "rm",         "import",  "login", "audit",
                                "mount",  "release", "sync",  "gc",   "completion", "manpage", "demo"};
  for (const auto& spec : broker::command_table()) EXPECT_EQ(covered.count(std::string(spec.name)), 1u) << spec.name;
  EXPECT_EQ(run({"completion", "bash"}).code, 0);
  EXPECT_EQ(run({"manpage"}).code, 0);
  auto d = run({"doctor"});
  EXPECT_THAT(d.out + d.err, Not(HasSubstr("No such file or directory")));
}

}  // namespace
}  // namespace pb
