// probe_image() against the fake engine, on an image without a shell (its
// files read through the archive API): what reaches the user when Docker,
// not the image, fails in the middle of a file.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "broker/probe/probe_runner.hpp"
#include "tests/support/fake_docker.hpp"
#include "tests/support/tar_builder.hpp"
#include "tests/support/test_env.hpp"

namespace pb::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* k_id = "sha256:00000000000000000000000000000000000000000000000000000000000000cc";

/// An /etc/passwd of several KiB: its archive takes more than one read.
std::string big_passwd() {
  std::string s = "root:x:0:0:root:/var/lib/root-home:/bin/false\n";
  while (s.size() < 8192) s += "# padding, so that the file spans more than one read of its archive\n";
  return s;
}

class ProbeRunner : public ::testing::Test {
 protected:
  ProbeRunner() {
    broker::ImageInfo info;
    info.id = k_id;
    docker->images["app:1"] = info;
    docker->images[k_id] = info;
  }
  Result<probes::ProbeReport> probe() {
    return broker::probe_image(*docker, {env.vault_home(), env.key_file(), env.cache_dir()}, "app:1",
                               {.refresh = true});
  }
  /// /etc/passwd in the image: `tar` is its archive, as Docker would send it.
  void passwd(const std::string& tar) {
    auto& files = docker->image_files[k_id];
    files.archives["/etc/passwd"] = tar;
    files.stats["/etc/passwd"] =
        broker::PathStat{"passwd", static_cast<std::int64_t>(big_passwd().size()), 0644, "", ""};
  }
  bool read_passwd() const {
    for (const auto& c : docker->calls_starting("archive_get"))
      if (c.ends_with(" /etc/passwd")) return true;
    return false;
  }

  TestEnv env;
  std::shared_ptr<FakeDocker> docker = std::make_shared<FakeDocker>();
};

TEST_F(ProbeRunner, DockerFailingInTheMiddleOfAFileIsDockersErrorNotTheImages) {
  passwd(make_tar({{"passwd", big_passwd()}}));
  docker->image_files[k_id].archive_read_errors["/etc/passwd"] =
      fail(ErrorKind::unreachable,
           "reading Docker's answer to copy '/etc/passwd' out of container c1 failed: "
           "connection reset by peer");
  auto r = probe();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(read_passwd());
  EXPECT_EQ(r.error().kind, ErrorKind::unreachable) << r.error().message;
  EXPECT_THAT(r.error().message, HasSubstr("connection reset by peer"));
  EXPECT_THAT(r.error().message, Not(HasSubstr("malformed")));
  EXPECT_THAT(r.error().message, Not(HasSubstr("truncated")));
  EXPECT_TRUE(docker->containers.empty()) << "the probe's container is removed on this path too";
}

TEST_F(ProbeRunner, TheSameFileReadWholeGetsPastIt) {
  passwd(make_tar({{"passwd", big_passwd()}}));
  auto r = probe();
  EXPECT_TRUE(read_passwd());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->user.name, std::optional<std::string>("root"));
  EXPECT_EQ(r->user.home, "/var/lib/root-home") << "the home came from the file that was read";
  EXPECT_TRUE(docker->containers.empty());
}

TEST_F(ProbeRunner, AnArchiveTheImageCutShortIsStillRefusedAsTheImages) {
  const std::string tar = make_tar({{"passwd", big_passwd()}});
  passwd(tar.substr(0, tar.size() / 2));
  auto r = probe();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::unsafe_input) << r.error().message;
  EXPECT_THAT(r.error().message, HasSubstr("the archive of /etc/passwd from the image is truncated"));
}

}  // namespace
}  // namespace pb::test
