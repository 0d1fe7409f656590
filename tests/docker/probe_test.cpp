// `para-broker probe` against real images (tests/images): every real-Claude
// image gives the locations of tests/images/test_images.hpp; an image without
// Claude, without a shell, with a hanging entrypoint, with a numeric USER not
// in /etc/passwd; the cache; and no probe container is ever left behind.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "broker/dispatch/seed_cache.hpp"
#include "tests/images/test_images.hpp"
#include "tests/support/test_env.hpp"

namespace pb::test {
namespace {

using nlohmann::json;

class ProbeDocker : public ::testing::Test {
 protected:
  void SetUp() override {
    PB_REQUIRE_DOCKER();
    m_label = m_env.unique("probe");
    m_env.set_env("PARA_BROKER_EXTRA_LABELS", std::string(k_test_label) + "=" + m_label);
  }
  void TearDown() override {
    // The product removes its probe containers itself: none may remain.
    auto left = docker_cli({"ps", "-a", "-q", "--filter", "label=" + std::string(k_test_label) + "=" + m_label});
    EXPECT_EQ(left.out, "") << "probe containers were left behind";
    remove_labelled(m_label);
  }
  json probe_json(const std::string& image, std::vector<std::string> extra = {}, int expect_rc = 0) {
    std::vector<std::string> args{"probe", image, "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = m_env.cli(args);
    EXPECT_EQ(r.exit_code, expect_rc) << r.err;
    try {
      return json::parse(r.out);
    } catch (const json::exception&) {
      ADD_FAILURE() << "not JSON: " << r.out << r.err;
      return json::object();
    }
  }
  /// An image derived from the busybox test image with extra Dockerfile-style changes.
  std::string derived_image(const std::vector<std::string>& changes) {
    std::string base = busybox_image(m_label);
    auto c = docker_cli({"create", "--label", std::string(k_test_label) + "=" + m_label, base, "/bin/true"});
    EXPECT_EQ(c.exit_code, 0) << c.err;
    std::string id = c.out.substr(0, c.out.find('\n'));
    std::string ref = "pb-test-probe-derived:" + m_env.unique("d");
    std::vector<std::string> args{"commit"};
    for (const auto& ch : changes) {
      args.push_back("--change");
      args.push_back(ch);
    }
    args.push_back("--change");
    args.push_back("LABEL " + std::string(k_test_label) + "=" + m_label);
    args.push_back(id);
    args.push_back(ref);
    auto r = docker_cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    docker_cli({"rm", "-f", id});
    return ref;
  }

  TestEnv m_env;
  std::string m_label;
};

TEST_F(ProbeDocker, EveryRealClaudeImageMatchesItsKnownLocations) {
  for (const auto& img : k_claude_test_images) {
    SCOPED_TRACE(img.name);
    json j = probe_json(test_image(img.name));
    EXPECT_EQ(j["schema"], 1);
    EXPECT_EQ(j["claude"]["found"], true);
    EXPECT_EQ(j["claude"]["kind"], img.kind);
    EXPECT_EQ(j["claude"]["version"], img.version);
    EXPECT_EQ(j["claude"]["path"], img.claude_path);
    EXPECT_EQ(j["user"]["name"], img.user);
    EXPECT_EQ(j["user"]["uid"], img.uid);
    EXPECT_EQ(j["user"]["gid"], img.gid);
    EXPECT_EQ(j["user"]["home"], img.home);
    EXPECT_EQ(j["locations"]["config_dir"], img.config_dir);
    EXPECT_EQ(j["locations"]["global_config"], img.global_config);
    EXPECT_EQ(j["locations"]["credentials"], std::string(img.config_dir) + "/.credentials.json");
    EXPECT_EQ(j["method"], "probe");
    EXPECT_EQ(j["honors_claude_config_dir"], true);
    if (*img.claude_config_dir) {
      EXPECT_EQ(j["env"]["CLAUDE_CONFIG_DIR"], img.claude_config_dir);
    }
    if (*img.xdg_config_home) {
      EXPECT_EQ(j["env"]["XDG_CONFIG_HOME"], img.xdg_config_home);
    }
  }
}

TEST_F(ProbeDocker, ImageWithoutClaudeIsFoundFalseExit3) {
  auto r = m_env.cli({"probe", test_image(k_no_claude_image), "--json"});
  EXPECT_EQ(r.exit_code, 3);
  json j = json::parse(r.out);
  EXPECT_EQ(j["claude"]["found"], false);
  EXPECT_EQ(r.err, "para-broker: image '" + test_image(k_no_claude_image) + "' has no Claude Code installed\n");
}

TEST_F(ProbeDocker, UnknownImageIsExit3) {
  auto r = m_env.cli({"probe", "pb-test/no-such-image:never"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("not found"), std::string::npos) << r.err;
}

TEST_F(ProbeDocker, ImageWithoutShellIsReadThroughTheArchiveApi) {
  json j = probe_json(test_image(k_no_shell_image));
  EXPECT_EQ(j["method"], "static");
  EXPECT_EQ(j["claude"]["found"], true);
  EXPECT_EQ(j["claude"]["kind"], "npm-native");
  EXPECT_EQ(j["claude"]["version"], "2.1.332");
  EXPECT_EQ(j["user"]["uid"], 0);
  EXPECT_EQ(j["locations"]["config_dir"], "/root/.claude");
  EXPECT_EQ(j["locations"]["global_config"], "/root/.claude.json");
}

TEST_F(ProbeDocker, HangingEntrypointIsOverridden) {
  std::string ref = derived_image({"ENTRYPOINT [\"/bin/sleep\", \"1000\"]"});
  auto start = std::chrono::steady_clock::now();
  json j = probe_json(ref, {}, 3);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
  EXPECT_EQ(j["claude"]["found"], false);
  bool mentioned = false;
  for (const auto& e : j["evidence"]) mentioned |= e.get<std::string>().find("/bin/sleep 1000") != std::string::npos;
  EXPECT_TRUE(mentioned) << j.dump(2);
}

TEST_F(ProbeDocker, NumericUserNotInPasswd) {
  std::string ref = derived_image({"USER 4321:4321"});
  json j = probe_json(ref, {}, 3);
  EXPECT_EQ(j["user"]["uid"], 4321);
  EXPECT_EQ(j["user"]["gid"], 4321);
  EXPECT_TRUE(j["user"]["name"].is_null());
  EXPECT_EQ(j["user"]["home"], "/");
  std::string warnings = j["warnings"].dump();
  EXPECT_NE(warnings.find("no entry in the image's /etc/passwd"), std::string::npos) << warnings;
}

TEST_F(ProbeDocker, ProbeThatHangsIsKilledAndRemoved) {
  // /bin/sh itself hangs: the time bound must stop it.
  std::string ref = derived_image({"ENV PB_UNUSED=1"});
  auto c = docker_cli(
      {"create", "--label", std::string(k_test_label) + "=" + m_label, "--entrypoint", "/bin/busybox", ref, "sh", "-c",
       "rm /bin/sh && printf '#!/bin/busybox sh\\nexec /bin/busybox sleep 1000\\n' > /bin/sh && chmod 755 /bin/sh"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  std::string id = c.out.substr(0, c.out.find('\n'));
  ASSERT_EQ(docker_cli({"start", "-a", id}).exit_code, 0);
  std::string hang = "pb-test-probe-hang:" + m_env.unique("h");
  ASSERT_EQ(
      docker_cli({"commit", "--change", "LABEL " + std::string(k_test_label) + "=" + m_label, id, hang}).exit_code, 0);
  docker_cli({"rm", "-f", id});
  auto start = std::chrono::steady_clock::now();
  auto r = m_env.cli({"probe", hang, "--timeout", "2"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  EXPECT_EQ(r.exit_code, 5) << r.out << r.err;
  EXPECT_NE(r.err.find("took longer than 2 s"), std::string::npos) << r.err;
}

TEST_F(ProbeDocker, CacheIsPrivateKeyedByImageIdAndRefreshable) {
  std::string image = test_image("claude-2x-root");
  json cold = probe_json(image);
  auto id = cold["image_id"].get<std::string>();
  auto file = m_env.cache_dir() / ("probe-" + id.substr(7) + ".json");
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(m_env.cache_dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  // A hit needs no Docker container: prove it by corrupting nothing but timing.
  auto t0 = std::chrono::steady_clock::now();
  json warm = probe_json(image);
  auto warm_time = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(warm["locations"], cold["locations"]);
  EXPECT_LT(warm_time, std::chrono::seconds(2));
  // A re-tag of another image under the same name is probed again (new ID).
  std::string tag = "pb-test-probe-retag:" + m_env.unique("t");
  ASSERT_EQ(docker_cli({"tag", test_image("claude-1031-root"), tag}).exit_code, 0);
  json a = probe_json(tag);
  EXPECT_EQ(a["claude"]["version"], "1.0.31");
  ASSERT_EQ(docker_cli({"tag", image, tag}).exit_code, 0);
  json b = probe_json(tag);
  EXPECT_EQ(b["claude"]["version"], "2.1.332");
  docker_cli({"rmi", tag});
  // A refresh drops what mounts cached of the image too (a planted seed file stands for it).
  auto seed = broker::dispatch::SeedCache(m_env.cache_dir(), {}).file_for(id);
  ASSERT_TRUE(seed.ok());
  std::filesystem::create_directories(seed->parent_path());
  std::ofstream(*seed) << "seed";
  json refreshed = probe_json(image, {"--refresh"});
  EXPECT_EQ(refreshed["locations"], cold["locations"]);
  EXPECT_FALSE(std::filesystem::exists(*seed)) << *seed;
}

}  // namespace
}  // namespace pb::test
