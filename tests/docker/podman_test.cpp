// Podman's Docker-compatible API, through a `podman system service` socket of
// the test's own: what needs no running container (this machine's runtime
// cannot start Podman containers): doctor, and an audit of an image that
// carries a login, found by reading Podman's image export.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "broker/docker/connect.hpp"
#include "broker/docker/docker_client.hpp"
#include "tests/support/tar_builder.hpp"
#include "tests/support/test_env.hpp"

extern char** environ;  // NOLINT: POSIX declares it nowhere

namespace pb {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* k_canary = "sk-ant-oat01-CANARY-test-podman-0123456789";

class PodmanApi : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists("/usr/bin/podman"))
      GTEST_FAIL() << "this test needs Podman: apt-get install podman (scripts/setup)";
    m_label = m_env.unique("podman");
    m_socket = m_env.root() / "podman.sock";
    const std::string url = "unix://" + m_socket.string();
    char* argv[] = {const_cast<char*>("/usr/bin/podman"), const_cast<char*>("system"),    const_cast<char*>("service"),
                    const_cast<char*>("--time=0"),        const_cast<char*>(url.c_str()), nullptr};
    ASSERT_EQ(::posix_spawn(&m_pid, argv[0], nullptr, nullptr, argv, environ), 0);
    for (int i = 0; i < 100 && !std::filesystem::exists(m_socket); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_TRUE(std::filesystem::exists(m_socket)) << "podman system service did not make its socket";
    m_env.set_env("DOCKER_HOST", url);

    // An image that carries a login, imported into Podman's own store.
    const auto tree = m_env.root() / "image";
    std::filesystem::create_directories(tree / "root" / ".claude");
    std::ofstream(tree / "root" / ".claude" / ".credentials.json")
        << R"({"claudeAiOauth":{"accessToken":")" << k_canary
        << R"(","refreshToken":"sk-ant-ort01-CANARY-test-podman"}})";
    m_image = "localhost/pb-test-" + m_label + ":latest";
    auto imported = test::run_process({"sh", "-c",
                                       "tar -C '" + tree.string() + "' -c root | podman import --change 'LABEL " +
                                           std::string(test::k_test_label) + "=" + m_label + "' - " + m_image});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
  }

  void TearDown() override {
    if (!m_image.empty()) (void)test::run_process({"podman", "rmi", "-f", m_image});
    if (m_pid > 0) {
      ::kill(m_pid, SIGTERM);
      ::waitpid(m_pid, nullptr, 0);
    }
  }

  test::TestEnv m_env;
  std::string m_label;
  std::filesystem::path m_socket;
  std::string m_image;
  pid_t m_pid = -1;
};

TEST_F(PodmanApi, DoctorAndAnImageAuditWorkThroughPodmansService) {
  auto doctor = m_env.cli({"doctor"});
  EXPECT_THAT(doctor.out + doctor.err, HasSubstr("unix://" + m_socket.string() + " answers: Podman 4."));

  auto audit = m_env.cli({"audit", "--image", m_image, "--json"});
  EXPECT_EQ(audit.exit_code, 10) << audit.err;
  EXPECT_THAT(audit.out, HasSubstr("/root/.claude/.credentials.json"));
  EXPECT_THAT(audit.out + audit.err, Not(HasSubstr(k_canary)));

  auto all = m_env.cli({"audit", "--images"});
  EXPECT_EQ(all.exit_code, 10) << all.err;
  EXPECT_THAT(all.out, HasSubstr(m_image));
  EXPECT_THAT(all.out + all.err, Not(HasSubstr(k_canary)));
}

TEST_F(PodmanApi, AKeepersVolumeCarriesItsLabelsAndIsFilledWithoutAStart) {
  // What mount does with a keeper, through the client itself: a container
  // that is never started makes the session's volume (Podman drops a mount's
  // VolumeOptions.Labels, so the client creates the volume first there), and
  // the archive API writes into the volume and reads it back.
  ::setenv("DOCKER_HOST", ("unix://" + m_socket.string()).c_str(), 1);
  auto docker = broker::docker::connect_from_environment();
  ::unsetenv("DOCKER_HOST");
  ASSERT_TRUE(docker.ok()) << docker.error().message;
  const std::string volume = "pb-test-podman-" + m_label;
  struct Cleanup {
    std::string container, volume;
    ~Cleanup() {
      if (!container.empty()) (void)test::run_process({"podman", "rm", "-f", container});
      (void)test::run_process({"podman", "volume", "rm", "-f", volume});
    }
  } cleanup{"", volume};

  broker::ContainerSpec spec;
  spec.image = m_image;
  spec.cmd = {"para-broker-keeper-is-never-started"};
  spec.network_mode = "none";
  spec.labels[test::k_test_label] = m_label;
  broker::MountSpec m;
  m.type = broker::MountSpec::Type::volume;
  m.source = volume;
  m.target = "/para-broker";
  m.no_copy = true;
  m.volume_labels = {{test::k_test_label, m_label}, {"para-broker.role", "session"}};
  spec.mounts.push_back(m);
  auto id = (*docker)->container_create(spec);
  ASSERT_TRUE(id.ok()) << id.error().message;
  cleanup.container = *id;

  auto info = (*docker)->volume_inspect(volume);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->labels["para-broker.role"], "session");
  EXPECT_EQ(info->labels[test::k_test_label], m_label);

  auto put = (*docker)->archive_put(*id, "/para-broker");
  ASSERT_TRUE(put.ok()) << put.error().message;
  const std::string tar = test::make_tar({{"marker", "filled through the archive API\n"}});
  ASSERT_TRUE((*put)->write(std::as_bytes(std::span(tar.data(), tar.size()))).ok());
  ASSERT_TRUE((*put)->finish().ok());
  auto got = (*docker)->archive_get(*id, "/para-broker/marker");
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->stat.size, 31);
}

}  // namespace
}  // namespace pb
