// Images that try to steer the mount through the paths they declare: HOME,
// the /etc/passwd home, CLAUDE_CONFIG_DIR and XDG_CONFIG_HOME carrying
// commas, `=`, quotes, blanks and `..`. `--mount` is comma-separated
// key=value and the docker CLI lets the last key win, so such a HOME once made
// `docker create` bind the host's root into the session's container. Each must
// give exit 7 and leave nothing behind; an honest image's mount arguments must
// make `docker create` attach para-broker's volume and nothing else.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "tests/e2e/dispatch_support.hpp"
#include "tests/images/test_images.hpp"

namespace fs = std::filesystem;

namespace pb::test {
namespace {

/// Builds `dockerfile` (FROM the given base) into a test-labelled image; returns its reference.
std::string build(Dispatch& d, const std::string& tag, const std::string& dockerfile,
                  const std::vector<std::pair<std::string, std::string>>& files = {}) {
  const fs::path ctx = d.env.root() / ("ctx-" + tag);
  fs::create_directories(ctx);
  write_file(ctx / "Dockerfile", dockerfile);
  for (const auto& [name, content] : files) write_file(ctx / name, content);
  const std::string ref = "pb-test-hostile/" + tag + ":" + d.label;
  auto r = run_process({"docker", "build", "-q", "--network", "none", "--label",
                        std::string(k_test_label) + "=" + d.label, "-t", ref, ctx.string()},
                       {{"DOCKER_BUILDKIT", "0"}}, "", 300);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return ref;
}

struct Hostile {
  const char* tag;
  const char* lines;  ///< Dockerfile lines after FROM
};

TEST(HostileImage, PathsThatWouldChangeTheMountAreRefusedWithExit7) {
  PB_REQUIRE_DOCKER();
  Dispatch d("hostile");
  d.import_login("hostile");
  const std::string base = test_image("claude-2x-dev");
  const std::vector<Hostile> cases = {
      {"home-bind", "ENV HOME=/x,type=bind,src=/,dst=/host"},
      {"home-quote", "ENV HOME='/home/\"dev\"'"},
      {"home-space", "ENV HOME=\"/home/with space\""},
      {"home-dotdot", "ENV HOME=/home/dev/../../etc"},
      {"home-equals", "ENV HOME=/home/dev=1"},
      {"configdir-bind", "ENV CLAUDE_CONFIG_DIR=/opt/c,type=bind,src=/,dst=/host"},
      {"xdg-space", "ENV XDG_CONFIG_HOME=\"/home/dev/my config\""},
  };
  for (const auto& c : cases) {
    const std::string image = build(d, c.tag, "FROM " + base + "\n" + c.lines + "\n");
    auto probed = d.env.cli({"probe", image});
    EXPECT_EQ(probed.exit_code, 7) << c.tag << ": " << probed.out << probed.err;
    auto mounted = d.env.cli({"mount", "--image", image, "--session", std::string("h-") + c.tag});
    EXPECT_EQ(mounted.exit_code, 7) << c.tag << ": " << mounted.out << mounted.err;
    EXPECT_TRUE(mounted.out.empty()) << c.tag << ": no arguments printed";
    EXPECT_NE(mounted.err.find("not a clean absolute path"), std::string::npos) << mounted.err;
    EXPECT_EQ(mounted.err.find('\n'), mounted.err.size() - 1) << "one sentence: " << mounted.err;
  }
  EXPECT_TRUE(d.volumes().empty()) << "a refused mount leaves no volume";
  EXPECT_TRUE(d.containers().empty());
}

TEST(HostileImage, AnEtcPasswdHomeIsCheckedLikeEnvHome) {
  PB_REQUIRE_DOCKER();
  Dispatch d("hostile-passwd");
  // busybox without ENV HOME: Docker and the probe take HOME from /etc/passwd.
  const std::string base = busybox_image(d.label);
  const std::string passwd =
      "root:x:0:0:root:/root:/bin/sh\nevil:x:4321:4321:evil:/home/evil,type=bind,src=/,dst=/host:/bin/sh\n";
  const std::string image =
      build(d, "passwd", "FROM " + base + "\nCOPY passwd /etc/passwd\nUSER evil\n", {{"passwd", passwd}});
  auto probed = d.env.cli({"probe", image});
  EXPECT_EQ(probed.exit_code, 7) << probed.out << probed.err;
  EXPECT_NE(probed.err.find("HOME"), std::string::npos) << probed.err;
  EXPECT_TRUE(d.containers().empty()) << "the probe container is gone";
}

TEST(HostileImage, AnHonestImagesArgumentsAttachParaBrokersVolumeAndNothingElse) {
  PB_REQUIRE_DOCKER();
  Dispatch d("honest");
  d.import_login("honest");
  const std::string image = test_image("claude-2x-dev");
  auto args = d.mount(image, "honest1");
  ASSERT_EQ(args.size(), 10u);
  std::vector<std::string> create{"create", "--label", std::string(k_test_label) + "=" + d.label};
  create.insert(create.end(), args.begin(), args.end());
  create.insert(create.end(), {image, "true"});
  auto created = docker_cli(create, 60);
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string id = first_line(created.out);
  auto inspected = docker_cli({"inspect", "--format", "{{json .Mounts}}", id}, 60);
  ASSERT_EQ(inspected.exit_code, 0) << inspected.err;
  auto mounts = nlohmann::json::parse(inspected.out);
  ASSERT_EQ(mounts.size(), 3u) << inspected.out;
  std::map<std::string, std::string> by_destination;
  for (const auto& m : mounts) {
    EXPECT_EQ(m["Type"], "volume") << inspected.out;
    by_destination[m["Destination"].get<std::string>()] = m["Name"].get<std::string>();
  }
  EXPECT_TRUE(by_destination["/para-broker"].starts_with("para-broker-lock-")) << inspected.out;
  EXPECT_TRUE(by_destination["/para-broker/login"].starts_with("para-broker-user-")) << inspected.out;
  EXPECT_EQ(by_destination["/para-broker/claude"], "para-broker-hold-honest1") << inspected.out;
  EXPECT_EQ(docker_cli({"rm", "-f", id}, 60).exit_code, 0);
  EXPECT_EQ(d.env.cli({"release", "--session", "honest1"}).exit_code, 0);
}

}  // namespace
}  // namespace pb::test
