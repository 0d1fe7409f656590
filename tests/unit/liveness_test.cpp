// broker/liveness: the one rule gc acts on and audit reports from.

#include "broker/objects/liveness.hpp"

#include <gtest/gtest.h>

#include <string>

#include "broker/objects/labels.hpp"
#include "tests/support/fake_docker.hpp"

namespace pb {
namespace {

using broker::VolumeInfo;
namespace liveness = broker::liveness;

constexpr long long k_now = 1'800'000'000;
constexpr long long k_grace = 300;

VolumeInfo hold(const std::string& session, long long mounted_at, const std::string& login = "login-vol") {
  VolumeInfo v;
  v.name = "para-broker-hold-" + session;
  v.labels = {{broker::labels::k_managed, "1"},
              {broker::labels::k_role, "hold"},
              {broker::labels::k_session, session},
              {broker::labels::k_volume, login},
              {broker::labels::k_mounted_at, std::to_string(mounted_at)}};
  return v;
}

TEST(Liveness, AHoldLivesWhileItsSessionsContainerExistsWhateverElse) {
  liveness::Usage usage;
  usage.names = {"para-s1", "unrelated"};
  auto v = liveness::hold(hold("s1", k_now - 3600), true, usage, k_now, k_grace);
  EXPECT_EQ(v.reason, liveness::Reason::session_container);
  EXPECT_EQ(v.containers, std::vector<std::string>{"para-s1"});
  // A container labelled with the session counts as the session's (the demo's).
  usage.names.clear();
  usage.by_session["s1"] = {"demo-1"};
  EXPECT_EQ(liveness::hold(hold("s1", k_now - 3600), true, usage, k_now, k_grace).reason,
            liveness::Reason::session_container);
}

TEST(Liveness, AHoldLivesWhileItsConfigIsMountedOrForTheGracePeriod) {
  liveness::Usage usage;
  usage.users["para-broker-hold-s2"] = {"someone"};
  EXPECT_EQ(liveness::hold(hold("s2", k_now - 3600), true, usage, k_now, k_grace).reason, liveness::Reason::mounted);
  // An empty hold of an earlier release counts the users of its login volume instead.
  EXPECT_EQ(liveness::hold(hold("s2", k_now - 3600), false, usage, k_now, k_grace).reason, liveness::Reason::stale);
  usage.users["login-vol"] = {"old-session"};
  EXPECT_EQ(liveness::hold(hold("s2", k_now - 3600), false, usage, k_now, k_grace).reason, liveness::Reason::mounted);

  liveness::Usage none;
  EXPECT_EQ(liveness::hold(hold("s3", k_now - 10), true, none, k_now, k_grace).reason, liveness::Reason::young);
  EXPECT_EQ(liveness::hold(hold("s3", k_now - k_grace - 1), true, none, k_now, k_grace).reason,
            liveness::Reason::stale);
  EXPECT_FALSE(liveness::hold(hold("s3", k_now - k_grace - 1), true, none, k_now, k_grace).live());
}

TEST(Liveness, ALoginVolumeLivesWhileMountedOrHeld) {
  const std::string login = "para-broker-shared-x";
  liveness::Usage usage;
  EXPECT_EQ(liveness::login_volume(login, usage, 0).reason, liveness::Reason::stale);
  EXPECT_EQ(liveness::login_volume(login, usage, 2).reason, liveness::Reason::held);
  usage.users[login] = {"c1"};
  auto v = liveness::login_volume(login, usage, 0);
  EXPECT_EQ(v.reason, liveness::Reason::mounted);
  EXPECT_EQ(v.containers, std::vector<std::string>{"c1"});
}

TEST(Liveness, AStagingVolumeUsedOnlyByLeftoversIsStaleOnceOld) {
  VolumeInfo staging;
  staging.name = "pb-login-staging";
  staging.labels = {{broker::labels::k_created_at, std::to_string(k_now - 3600)}};
  liveness::Usage usage;
  usage.users[staging.name] = {"pb-login-1"};
  usage.leftover_users[staging.name] = 1;
  EXPECT_EQ(liveness::staging(staging, usage, k_now, k_grace).reason, liveness::Reason::stale);
  usage.users[staging.name].push_back("pb-login-2");  // a login that still runs
  EXPECT_EQ(liveness::staging(staging, usage, k_now, k_grace).reason, liveness::Reason::mounted);
  staging.labels[broker::labels::k_created_at] = std::to_string(k_now - 5);
  EXPECT_EQ(liveness::staging(staging, liveness::Usage{}, k_now, k_grace).reason, liveness::Reason::young);
}

TEST(Liveness, ObserveCountsMountsButNotKeepersAndSkipsContainersRemovedMeanwhile) {
  test::FakeDocker docker;
  broker::ImageInfo image;
  image.id = "sha256:abc";
  docker.images["img"] = image;
  broker::ContainerSpec keeper;
  keeper.name = "pb-keeper-x";
  keeper.image = "img";
  keeper.labels = {{broker::labels::k_managed, "1"}, {broker::labels::k_role, "helper"}};
  broker::MountSpec mount;
  mount.source = "vol-a";
  mount.target = "/para-broker";
  keeper.mounts.push_back(mount);
  ASSERT_TRUE(docker.container_create(keeper).ok());
  broker::ContainerSpec session;
  session.name = "para-s9";
  session.image = "img";
  session.mounts.push_back(mount);
  ASSERT_TRUE(docker.container_create(session).ok());
  auto list = docker.container_list({});
  ASSERT_TRUE(list.ok());
  auto usage = liveness::observe(docker, *list, k_now, k_grace);
  ASSERT_TRUE(usage.ok()) << usage.error().message;
  EXPECT_EQ(usage->users["vol-a"], std::vector<std::string>{"para-s9"});
  EXPECT_EQ(usage->names.count("pb-keeper-x"), 1u);
  EXPECT_EQ(usage->names.count("para-s9"), 1u);
}

}  // namespace
}  // namespace pb
