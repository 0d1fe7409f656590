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

TEST(Roles, EveryRoleKeepsTheLabelOfEarlierReleasesAndIsReadBack) {
  using broker::Role;
  namespace labels = broker::labels;
  // The values on the wire: objects an earlier release made keep their meaning.
  const std::vector<std::pair<Role, std::string>> wire = {
      {Role::login, "session"},           {Role::hold, "hold"},     {Role::lock, "lock"},   {Role::staging, "staging"},
      {Role::keeper, "helper"},           {Role::reader, "helper"}, {Role::probe, "probe"}, {Role::relay, "relay"},
      {Role::relay_image, "relay-image"}, {Role::demo, "demo"}};
  for (const auto& [role, label] : wire) {
    EXPECT_EQ(labels::role_label(role), label);
    auto l = labels::managed(role);
    EXPECT_EQ(l[labels::k_managed], "1");
    EXPECT_EQ(l[labels::k_role], label);
    if (role == Role::keeper) l[labels::k_volume] = "para-broker-user-x";
    EXPECT_EQ(labels::role_of(l), role) << label;
    EXPECT_TRUE(labels::has_role(l, role)) << label;
    EXPECT_EQ(labels::filter(role),
              (broker::LabelFilters{"para-broker.managed=1", "para-broker.role=" + std::string(label)}));
  }
}

TEST(Roles, AHelperIsAKeeperOnlyWhenItNamesAVolumeAndUnmanagedOrUnknownRolesAreNone) {
  using broker::Role;
  namespace labels = broker::labels;
  broker::Labels helper{{labels::k_managed, "1"}, {labels::k_role, "helper"}};
  EXPECT_EQ(labels::role_of(helper), Role::reader);
  EXPECT_FALSE(labels::has_role(helper, Role::keeper));
  helper[labels::k_volume] = "para-broker-user-x";
  EXPECT_EQ(labels::role_of(helper), Role::keeper);
  // Not para-broker's: a role label without managed=1, or managed with another value.
  EXPECT_EQ(labels::role_of({{labels::k_role, "hold"}}), std::nullopt);
  EXPECT_EQ(labels::role_of({{labels::k_managed, "yes"}, {labels::k_role, "hold"}}), std::nullopt);
  // A role this release does not know, or none.
  EXPECT_EQ(labels::role_of({{labels::k_managed, "1"}, {labels::k_role, "keeper"}}), std::nullopt);
  EXPECT_EQ(labels::role_of({{labels::k_managed, "1"}}), std::nullopt);
  EXPECT_FALSE(labels::has_role({{labels::k_managed, "1"}, {labels::k_role, ""}}, Role::hold));
}

}  // namespace
}  // namespace pb
