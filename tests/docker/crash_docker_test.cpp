// The crash points of mount, release, gc and the probe cache against the real
// daemon: each command is killed (SIGKILL, PARA_BROKER_CRASH_AT) at every pass
// of every point it reaches; then `release` and `gc` must leave no volume or
// helper container, the vault must verify, and the next mount must work.
// docs/fault-injection.md describes the points.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "core/fault.hpp"
#include "tests/images/test_images.hpp"
#include "tests/unit/crash_support.hpp"

namespace fs = std::filesystem;

namespace pb::test::crash {
namespace {

const std::string k_image = test_image("claude-2x-dev");
// An hour from now, as a recent login: a refresh written back must look believable.
const long long k_expiry = expiry_from_now(1);
const long long k_refreshed = k_expiry + 1000;

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

/// A vault sandbox that talks to the real daemon and labels what it makes.
struct DockerBox {
  DockerBox(const fs::path& warm_cache) : label(box.env().unique("crash")) {
    const char* host = std::getenv("DOCKER_HOST");
    box.env().set_env("DOCKER_HOST", host != nullptr ? host : "unix:///var/run/docker.sock");
    box.env().set_env("PARA_BROKER_EXTRA_LABELS", std::string(k_test_label) + "=" + label);
    if (!warm_cache.empty()) box.env().set_env("PARA_BROKER_CACHE", warm_cache.string());
  }
  ~DockerBox() { remove_labelled(label); }

  void must(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {}, int expect = 0) {
    auto r = box.run(args, env);
    if (r.exit_code != expect)
      throw std::runtime_error(args.front() + " exited " + std::to_string(r.exit_code) + ": " + r.err);
  }
  std::vector<std::string> objects(const std::vector<std::string>& ls) {
    std::vector<std::string> a = ls;
    a.insert(a.end(), {"--filter", "label=" + std::string(k_test_label) + "=" + label});
    return words(docker_cli(a).out);
  }

  Sandbox box;
  std::string label;
};

struct Step {
  std::string name;
  bool cold_cache = false;  ///< probe the image (own empty cache) instead of using the warm one
  std::function<void(DockerBox&)> prepare;
  std::vector<std::string> args;
  long long final_expiry = k_expiry;  ///< in the vault once release and gc have run after the kill
};

// A session name of this process alone: holds are named after sessions, and
// another test run on the same daemon must not share them.
const std::string k_session = "crash-" + std::to_string(::getpid());
const std::vector<std::string> k_mount{"mount", "--image", k_image, "--session", k_session};

/// Mounts the session and writes a refreshed login (later expiry) into its volume, as Claude Code would.
void mount_and_refresh(DockerBox& d) {
  auto m = d.box.run(k_mount);
  if (m.exit_code != 0) throw std::runtime_error("mount exited " + std::to_string(m.exit_code) + ": " + m.err);
  const std::string json = R"({"claudeAiOauth":{"accessToken":"sk-ant-oat01-fake-test-refreshed",)"
                           R"("refreshToken":"sk-ant-ort01-fake-test-refreshed","expiresAt":)" +
                           std::to_string(k_refreshed) + R"(,"scopes":["user:inference"],"subscriptionType":"pro"}})";
  std::vector<std::string> a{"run", "--rm", "--network", "none", "--label", std::string(k_test_label) + "=" + d.label};
  for (const auto& w : words(m.out)) a.push_back(w);
  a.insert(a.end(), {k_image, "sh", "-c", "printf '%s' '" + json + "' > \"$CLAUDE_CONFIG_DIR/.credentials.json\""});
  auto r = docker_cli(a, 120);
  if (r.exit_code != 0) throw std::runtime_error("writing the refreshed login failed: " + r.err);
}

std::vector<Step> steps() {
  auto import = [](DockerBox& d) {
    d.must({"import", "--from-dir", d.box.login("alice@example.com", k_expiry).string(), "--name", "work"});
  };
  return {
      {"mount_probing", true, import, k_mount},
      {"mount", false, import, k_mount},
      {"release_writing_back",
       false,
       [=](DockerBox& d) {
         import(d);
         mount_and_refresh(d);
       },
       {"release", "--session", k_session},
       k_refreshed},
      {"gc_after_killed_release",
       false,
       [=](DockerBox& d) {
         import(d);
         mount_and_refresh(d);
         d.must({"release", "--session", k_session}, {{"PARA_BROKER_CRASH_AT", "dispatch.release.hold_removed"}}, 137);
       },
       {"gc", "--grace", "0"},
       k_refreshed},
      // A session whose container vanished without a release: gc writes its
      // refresh back (its own config shows the account) before removing it.
      {"gc_writing_back_a_stale_session",
       false,
       [=](DockerBox& d) {
         import(d);
         mount_and_refresh(d);
       },
       {"gc", "--grace", "0"},
       k_refreshed},
      {"gc_after_killed_mount",
       false,
       [=](DockerBox& d) {
         import(d);
         d.must(k_mount, {{"PARA_BROKER_CRASH_AT", "dispatch.mount.helper_created"}}, 137);
       },
       {"gc", "--grace", "0"}},
  };
}

class DockerCrash : public testing::TestWithParam<Step> {
 protected:
  static void SetUpTestSuite() {
    // One probe of the image for every step that does not test probing itself.
    s_warm = new fs::path(fs::temp_directory_path() / ("pb-crash-cache-" + std::to_string(::getpid())));
    fs::create_directories(*s_warm);
    fs::permissions(*s_warm, fs::perms::owner_all, fs::perm_options::replace);
    DockerBox d(*s_warm);
    auto r = d.box.run({"probe", k_image});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*s_warm, ec);
    delete s_warm;
  }
  static fs::path* s_warm;
};
fs::path* DockerCrash::s_warm = nullptr;

void PrintTo(const Step& step, std::ostream* os) {
  *os << step.name;
}

std::map<std::string, int> trace(const Step& step, const fs::path& warm) {
  DockerBox d(step.cold_cache ? fs::path() : warm);
  step.prepare(d);
  const fs::path file = d.box.env().root() / "crash-trace";
  auto r = d.box.run(step.args, {{"PARA_BROKER_CRASH_TRACE", file.string()}});
  if (r.exit_code != 0) throw std::runtime_error(step.name + " exited " + std::to_string(r.exit_code) + ": " + r.err);
  std::map<std::string, int> passes;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) ++passes[line];
  return passes;
}

void crash_and_check(const Step& step, const fs::path& warm, const std::string& point, int pass) {
  SCOPED_TRACE("step " + step.name + ", killed at " + point + ":" + std::to_string(pass));
  DockerBox d(step.cold_cache ? fs::path() : warm);
  step.prepare(d);
  auto r = d.box.run(step.args, {{"PARA_BROKER_CRASH_AT", point + ":" + std::to_string(pass)}});
  ASSERT_EQ(r.exit_code, 128 + 9) << "not killed: " << r.out << r.err;
  ASSERT_NE(r.err.find("crash point " + point + " (pass " + std::to_string(pass) + ")"), std::string::npos) << r.err;

  auto released = d.box.run({"release", "--session", k_session});
  EXPECT_EQ(released.exit_code, 0) << released.err;
  auto gc = d.box.run({"gc", "--grace", "0"});
  EXPECT_EQ(gc.exit_code, 0) << gc.err;
  EXPECT_EQ(d.objects({"volume", "ls", "-q"}), std::vector<std::string>{}) << "volumes left after release and gc";
  EXPECT_EQ(d.objects({"ps", "-aq"}), std::vector<std::string>{}) << "containers left after release and gc";

  VaultState s = inspect(d.box);
  EXPECT_TRUE(s.verified) << s.verify_output;
  EXPECT_EQ(s.expiry_by_name, (std::map<std::string, long long>{{"work", step.final_expiry}}))
      << "a refreshed login was lost";

  // The next mount works, and a writer has removed every temp file.
  auto again = d.box.run(k_mount);
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(d.box.run({"release", "--session", k_session}).exit_code, 0);
  EXPECT_EQ(d.objects({"volume", "ls", "-q"}), std::vector<std::string>{});
  std::vector<std::string> temps;
  std::error_code ec;
  for (const fs::path& dir : {d.box.env().vault_home(), d.box.env().cache_dir(), warm})
    for (const auto& e : fs::recursive_directory_iterator(dir, ec))
      if (is_temp_name(e.path().filename().string())) temps.push_back(e.path().string());
  EXPECT_EQ(temps, std::vector<std::string>{});
  EXPECT_TRUE(inspect(d.box).verified);
}

TEST_P(DockerCrash, KilledAtEveryPassOfEveryPoint) {
  PB_REQUIRE_DOCKER();
  const Step& step = GetParam();
  std::map<std::string, int> passes;
  try {
    passes = trace(step, *s_warm);
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  int kills = 0;
  for (const auto& [point, n] : passes) {
    for (int pass = 1; pass <= n; ++pass, ++kills) {
      try {
        crash_and_check(step, *s_warm, point, pass);
      } catch (const std::exception& e) {
        ADD_FAILURE() << point << ":" << pass << ": " << e.what();
      }
    }
  }
  std::cout << "[ crashes  ] " << step.name << ": " << passes.size() << " points, " << kills << " kills\n";
}

INSTANTIATE_TEST_SUITE_P(Dispatch, DockerCrash, testing::ValuesIn(steps()),
                         [](const testing::TestParamInfo<Step>& i) { return i.param.name; });

TEST(DockerCrashPoints, EveryDockerPointIsReachedByAStep) {
  PB_REQUIRE_DOCKER();
  const fs::path warm = fs::temp_directory_path() / ("pb-crash-cache-reach-" + std::to_string(::getpid()));
  fs::create_directories(warm);
  fs::permissions(warm, fs::perms::owner_all, fs::perm_options::replace);
  std::set<std::string> reached;
  for (const auto& step : steps()) {
    try {
      for (const auto& [point, n] : trace(step, warm)) reached.insert(point);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
  }
  std::error_code ec;
  fs::remove_all(warm, ec);
  for (const auto& p : fault::k_points) {
    if (p.reach == fault::Reach::docker) {
      EXPECT_TRUE(reached.count(std::string(p.name))) << "no Docker step reaches crash point " << p.name;
    }
  }
}

}  // namespace
}  // namespace pb::test::crash
