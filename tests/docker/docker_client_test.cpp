// The Engine API client against the real dockerd: every endpoint the product
// uses, streaming archives, errors mapped to kinds and sentences.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "broker/docker/connect.hpp"
#include "broker/docker/docker_client.hpp"
#include "core/error.hpp"
#include "tests/docker/tar_stream.hpp"
#include "tests/support/test_env.hpp"

namespace pb {
namespace {

using broker::ContainerSpec;
using broker::DockerClient;
using broker::ExecSpec;
using broker::MountSpec;
using ::testing::Contains;
using ::testing::HasSubstr;

ExecSpec exec_spec(std::vector<std::string> cmd, std::string user = "", bool tty = false) {
  ExecSpec e;
  e.cmd = std::move(cmd);
  e.user = std::move(user);
  e.tty = tty;
  return e;
}
ContainerSpec host_network() {
  ContainerSpec s;
  s.network_mode = "host";
  return s;
}
ContainerSpec image_spec(std::string image) {
  ContainerSpec s;
  s.image = std::move(image);
  return s;
}

#define ASSERT_OK(expr)                                                  \
  do {                                                                   \
    auto&& pb_ok_ = (expr);                                              \
    ASSERT_TRUE(pb_ok_.ok()) << #expr << ": " << pb_ok_.error().message; \
  } while (0)

class DockerClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PB_REQUIRE_DOCKER();
    m_label = m_env.unique("client");
    m_image = test::busybox_image(m_label);
    auto c = broker::docker::connect_from_environment();
    ASSERT_TRUE(c.ok()) << c.error().message;
    m_docker = *c;
  }
  void TearDown() override { test::remove_labelled(m_label); }

  broker::Labels labels() const { return {{test::k_test_label, m_label}}; }
  std::string label_filter() const { return std::string(test::k_test_label) + "=" + m_label; }

  /// A container from the busybox image running `cmd`, labelled for clean-up.
  std::string create(std::vector<std::string> cmd, ContainerSpec spec = {}) {
    spec.image = m_image;
    spec.cmd = std::move(cmd);
    spec.labels[test::k_test_label] = m_label;
    auto id = m_docker->container_create(spec);
    EXPECT_TRUE(id.ok()) << id.error().message;
    return id.ok() ? *id : std::string();
  }

  test::TestEnv m_env;
  std::string m_label;
  std::string m_image;
  std::shared_ptr<DockerClient> m_docker;
};

TEST_F(DockerClientTest, PingAndVersionNegotiateTheApi) {
  ASSERT_OK(m_docker->ping());
  auto v = m_docker->version();
  ASSERT_OK(v);
  EXPECT_FALSE(v->server_version.empty());
  EXPECT_EQ(v->os, "linux");
  // min(client 1.43, daemon's): the daemon here speaks 1.41 or newer.
  auto daemon_api = test::docker_cli({"version", "--format", "{{.Server.APIVersion}}"}).out;
  daemon_api.erase(daemon_api.find_last_not_of("\n") + 1);
  EXPECT_EQ(v->server_api_version, daemon_api);
  EXPECT_EQ(v->api_version, daemon_api < std::string("1.43") ? daemon_api : std::string("1.43"));
  EXPECT_EQ(m_docker->endpoint(), "unix:///var/run/docker.sock");
}

TEST_F(DockerClientTest, ImageInspectListExportAndNotFound) {
  auto info = m_docker->image_inspect(m_image);
  ASSERT_OK(info);
  EXPECT_TRUE(info->id.starts_with("sha256:"));
  EXPECT_EQ(info->labels.at(test::k_test_label), m_label);
  EXPECT_THAT(info->env, Contains("PATH=/bin"));
  EXPECT_EQ(info->layers.size(), 1u);
  EXPECT_THAT(info->repo_tags, Contains(m_image));

  auto list = m_docker->image_list({label_filter()});
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].id, info->id);
  auto none = m_docker->image_list({std::string(test::k_test_label) + "=no-such-" + m_label});
  ASSERT_OK(none);
  EXPECT_TRUE(none->empty());

  // `docker save` stream: a tar with manifest.json, read through libarchive.
  auto stream = m_docker->image_export(m_image);
  ASSERT_OK(stream);
  std::string err;
  auto files = test::read_small_tar(**stream, &err);
  EXPECT_EQ(err, "");
  EXPECT_EQ(files.count("manifest.json"), 1u);
  EXPECT_THAT(files["manifest.json"], HasSubstr(m_image));

  auto missing = m_docker->image_inspect("pb-no-such-image:" + m_label);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
  EXPECT_EQ(exit_code(missing.error().kind), 3);
  EXPECT_THAT(missing.error().message, HasSubstr("inspect image 'pb-no-such-image:" + m_label + "'"));
  EXPECT_THAT(missing.error().message, HasSubstr("No such image"));
  auto missing_export = m_docker->image_export("pb-no-such-image:" + m_label);
  ASSERT_FALSE(missing_export.ok());
  EXPECT_EQ(missing_export.error().kind, ErrorKind::not_found);
}

TEST_F(DockerClientTest, ContainerLifecycleWithVolumeLabelsAndLimits) {
  const std::string vol = "pb-test-vol-" + m_label;
  auto created = m_docker->volume_create(vol, labels());
  ASSERT_OK(created);
  EXPECT_EQ(created->name, vol);
  EXPECT_EQ(created->labels.at(test::k_test_label), m_label);

  ContainerSpec spec;
  spec.network_mode = "none";
  spec.memory_bytes = 64 * 1024 * 1024;
  spec.env = {"GREETING=hello"};
  spec.user = "0:0";
  spec.working_dir = "/tmp";
  spec.mounts = {{MountSpec::Type::volume, vol, "/data", false, false, {}}};
  spec.entrypoint = std::vector<std::string>{"/bin/sh", "-c"};
  std::string id =
      create({"echo \"$GREETING from $(pwd)\"; echo oops >&2; echo kept > /data/f; touch /tmp/new; exit 7"}, spec);
  ASSERT_FALSE(id.empty());

  auto inspect = m_docker->container_inspect(id);
  ASSERT_OK(inspect);
  EXPECT_EQ(inspect->state.status, "created");
  EXPECT_EQ(inspect->labels.at(test::k_test_label), m_label);
  ASSERT_EQ(inspect->mounts.size(), 1u);
  EXPECT_EQ(inspect->mounts[0].name, vol);
  EXPECT_EQ(inspect->mounts[0].destination, "/data");
  EXPECT_EQ(test::docker_cli(
                {"inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NetworkMode}} {{.HostConfig.AutoRemove}}", id})
                .out,
            "67108864 none false\n");

  ASSERT_OK(m_docker->container_start(id));
  auto waited = m_docker->container_wait(id, std::chrono::seconds(30));
  ASSERT_OK(waited);
  EXPECT_EQ(waited->exit_code, 7);

  auto logs = m_docker->container_logs(id, {});
  ASSERT_OK(logs);
  EXPECT_EQ(logs->out, "hello from /tmp\n");
  EXPECT_EQ(logs->err, "oops\n");
  EXPECT_FALSE(logs->truncated);

  auto changes = m_docker->container_changes(id);
  ASSERT_OK(changes);
  bool saw_new = false;
  for (const auto& c : *changes)
    if (c.path == "/tmp/new") saw_new = c.kind == broker::FileChange::Kind::added;
  EXPECT_TRUE(saw_new);

  auto list = m_docker->container_list({label_filter()});
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].id, id);
  EXPECT_EQ((*list)[0].state, "exited");

  // The volume is in use until the container goes.
  auto busy = m_docker->volume_remove(vol, false);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().kind, ErrorKind::conflict);

  auto vols = m_docker->volume_list({label_filter()});
  ASSERT_OK(vols);
  ASSERT_EQ(vols->size(), 1u);
  EXPECT_EQ((*vols)[0].name, vol);
  auto vi = m_docker->volume_inspect(vol);
  ASSERT_OK(vi);
  EXPECT_FALSE(vi->mountpoint.empty());

  ASSERT_OK(m_docker->container_remove(id, false, false));
  auto gone = m_docker->container_inspect(id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind, ErrorKind::not_found);
  ASSERT_OK(m_docker->volume_remove(vol, false));
  auto vgone = m_docker->volume_inspect(vol);
  ASSERT_FALSE(vgone.ok());
  EXPECT_EQ(vgone.error().kind, ErrorKind::not_found);
}

TEST_F(DockerClientTest, WaitTimesOutKillAndForcedRemove) {
  std::string id = create({"sleep", "300"});
  ASSERT_FALSE(id.empty());
  ASSERT_OK(m_docker->container_start(id));
  ASSERT_OK(m_docker->container_start(id));  // already running: not an error
  auto running = m_docker->container_inspect(id);
  ASSERT_OK(running);
  EXPECT_TRUE(running->state.running);
  EXPECT_GT(running->state.pid, 0);

  auto t0 = std::chrono::steady_clock::now();
  auto waited = m_docker->container_wait(id, std::chrono::seconds(1));
  ASSERT_FALSE(waited.ok());
  EXPECT_EQ(waited.error().kind, ErrorKind::timeout);
  EXPECT_THAT(waited.error().message, HasSubstr("did not exit within 1s"));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));

  auto busy = m_docker->container_remove(id, false, false);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().kind, ErrorKind::conflict);

  ASSERT_OK(m_docker->container_kill(id, "SIGKILL"));
  auto done = m_docker->container_wait(id, std::chrono::seconds(30));
  ASSERT_OK(done);
  EXPECT_EQ(done->exit_code, 137);
  auto again = m_docker->container_kill(id, "SIGKILL");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ErrorKind::conflict);

  std::string other = create({"sleep", "300"}, host_network());
  ASSERT_OK(m_docker->container_start(other));
  ASSERT_OK(m_docker->container_remove(other, true, true));
  auto gone = m_docker->container_inspect(other);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind, ErrorKind::not_found);
}

TEST_F(DockerClientTest, ExecCapturesOutputInputAndExitCode) {
  std::string id = create({"sleep", "300"});
  ASSERT_OK(m_docker->container_start(id));

  auto r = m_docker->exec_run(id, exec_spec({"sh", "-c", "echo out; echo err >&2; exit 3"}));
  ASSERT_OK(r);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->exit_code, 3);

  broker::ExecOptions opts;
  opts.input = std::string(300000, 'x') + "\nend\n";
  auto cat = m_docker->exec_run(id, exec_spec({"sh", "-c", "wc -c; id -u"}, "65534"), opts);
  ASSERT_OK(cat);
  EXPECT_EQ(cat->out, "300005\n65534\n");
  EXPECT_EQ(cat->exit_code, 0);

  opts = {};
  opts.max_output = 1000;
  auto big = m_docker->exec_run(id, exec_spec({"sh", "-c", "yes | head -c 100000"}), opts);
  ASSERT_OK(big);
  EXPECT_EQ(big->out.size(), 1000u);
  EXPECT_TRUE(big->truncated);

  opts = {};
  opts.timeout = std::chrono::seconds(1);
  auto slow = m_docker->exec_run(id, exec_spec({"sleep", "30"}), opts);
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.error().kind, ErrorKind::timeout);

  auto tty = m_docker->exec_run(id, exec_spec({"sh", "-c", "tty >/dev/null && echo is-a-tty"}, "", true));
  ASSERT_OK(tty);
  EXPECT_THAT(tty->out, HasSubstr("is-a-tty"));

  ASSERT_OK(m_docker->container_kill(id, "SIGKILL"));
  auto stopped = m_docker->exec_create(id, exec_spec({"true"}));
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.error().kind, ErrorKind::conflict);
}

TEST_F(DockerClientTest, ArchivePutStatGetRoundTrip) {
  std::string id = create({"true"});
  ASSERT_FALSE(id.empty());
  auto upload = m_docker->archive_put(id, "/tmp");
  ASSERT_OK(upload);
  ASSERT_OK(test::write_small_tar(**upload, {{"a.txt", "alpha\n"}, {"dir/b.txt", std::string(100000, 'b')}}));

  auto stat = m_docker->archive_stat(id, "/tmp/a.txt");
  ASSERT_OK(stat);
  EXPECT_EQ(stat->name, "a.txt");
  EXPECT_EQ(stat->size, 6);
  EXPECT_FALSE(stat->is_dir());
  auto dstat = m_docker->archive_stat(id, "/tmp/dir");
  ASSERT_OK(dstat);
  EXPECT_TRUE(dstat->is_dir());

  auto got = m_docker->archive_get(id, "/tmp/dir");
  ASSERT_OK(got);
  EXPECT_EQ(got->stat.name, "dir");
  std::string err;
  auto files = test::read_small_tar(*got->body, &err);
  EXPECT_EQ(err, "");
  EXPECT_EQ(files["dir/b.txt"], std::string(100000, 'b'));

  auto missing = m_docker->archive_stat(id, "/tmp/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
  auto missing_get = m_docker->archive_get(id, "/tmp/nope");
  ASSERT_FALSE(missing_get.ok());
  EXPECT_EQ(missing_get.error().kind, ErrorKind::not_found) << missing_get.error().message;

  // Into a directory that does not exist: the daemon's refusal comes back as an error.
  auto bad = m_docker->archive_put(id, "/no/such/dir");
  ASSERT_OK(bad);
  Status s = test::write_small_tar(**bad, {{"x", "y"}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::not_found);
  EXPECT_THAT(s.error().message, HasSubstr("/no/such/dir"));

  auto no_container = m_docker->archive_put("pb-no-such-container-" + m_label, "/tmp");
  if (no_container.ok()) {
    Status s2 = test::write_small_tar(**no_container, {{"x", "y"}});
    ASSERT_FALSE(s2.ok());
    EXPECT_EQ(s2.error().kind, ErrorKind::not_found);
  } else {
    EXPECT_EQ(no_container.error().kind, ErrorKind::not_found);
  }
}

TEST_F(DockerClientTest, ArchiveRoundTripOf200MegabytesStaysUnder64MiB) {
  std::string id = create({"true"});
  ASSERT_FALSE(id.empty());
  auto t0 = std::chrono::steady_clock::now();
  auto r = test::run_process({PB_ARCHIVE_HELPER, id, "200"}, {}, "", 600);
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // "ok bytes=209715200 vmhwm_kib=12345"
  EXPECT_THAT(r.out, HasSubstr("ok bytes=209715200 "));
  auto pos = r.out.find("vmhwm_kib=");
  ASSERT_NE(pos, std::string::npos) << r.out;
  long hwm_kib = std::stol(r.out.substr(pos + 10));
  RecordProperty("vmhwm_kib", std::to_string(hwm_kib));
  RecordProperty("seconds", std::to_string(secs));
  std::cout << "200 MB PUT+GET round trip: peak RSS " << hwm_kib << " KiB, " << secs << " s\n";
  EXPECT_LT(hwm_kib, 64 * 1024);
}

TEST_F(DockerClientTest, ErrorsNameTheOperationAndObject) {
  auto r = m_docker->container_start("pb-no-such-container-" + m_label);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::not_found);
  EXPECT_THAT(r.error().message, HasSubstr("start container 'pb-no-such-container-" + m_label + "'"));
  auto c = m_docker->container_create(image_spec("pb-no-such-image:" + m_label));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, ErrorKind::not_found);
  EXPECT_THAT(c.error().message, HasSubstr("create a container from image"));
}

}  // namespace
}  // namespace pb
