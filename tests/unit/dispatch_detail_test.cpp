// The pure parts of dispatch (dispatch_internal.hpp) on their own: what the
// relay of a credential serves (relay_members) and a session's config as
// mount writes it (compose_tree). No Docker, no vault on disk.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <vector>

#include "broker/dispatch/dispatch.hpp"
#include "broker/dispatch/dispatch_internal.hpp"
#include "broker/dispatch/relay_container.hpp"
#include "broker/objects/labels.hpp"
#include "vault/entry.hpp"

namespace pb::test {
namespace {

using broker::Labels;
using broker::Role;
using broker::VolumeInfo;
using broker::dispatch::ImageSeed;
using broker::dispatch::RelayMember;
using broker::dispatch::TreeEntry;
using broker::dispatch::detail::compose_tree;
using broker::dispatch::detail::relay_members;
namespace labels = broker::labels;

SecureBytes bytes(const std::string& s) {
  return SecureBytes(s.begin(), s.end());
}
std::string text(const SecureBytes& b) {
  return std::string(b.begin(), b.end());
}

// ------------------------------------------------------------ relay_members

constexpr const char* k_cred = "0123456789abcdef";

Labels role(Role r) {
  return {
      {labels::k_managed, "1"}, {labels::k_role, std::string(labels::role_label(r))}, {labels::k_credential, k_cred}};
}

VolumeInfo login(const std::string& name, const std::string& uid, const std::string& gid) {
  VolumeInfo v;
  v.name = name;
  v.labels = role(Role::login);
  v.labels[labels::k_uid] = uid;
  v.labels[labels::k_gid] = gid;
  return v;
}

VolumeInfo hold(const std::string& session, const std::string& of_volume) {
  VolumeInfo v;
  v.name = "para-broker-hold-" + session;
  v.labels = role(Role::hold);
  v.labels[labels::k_volume] = of_volume;
  return v;
}

std::vector<std::string> names(const std::vector<RelayMember>& members) {
  std::vector<std::string> out;
  for (const auto& m : members) out.push_back(m.volume + "=" + std::to_string(m.uid) + ":" + std::to_string(m.gid));
  return out;
}

TEST(RelayMembers, TheHeldLoginVolumesBesideTheLockWithTheirOwners) {
  const std::string a = broker::dispatch::login_volume_name(k_cred, 1000, 1000);
  const std::string b = broker::dispatch::login_volume_name(k_cred, 0, 0);
  const std::vector<VolumeInfo> logins{login(a, "1000", "1000"), login(b, "0", "0")};
  const std::vector<VolumeInfo> holds{hold("s2", b), hold("s1", a), hold("s3", a)};
  EXPECT_EQ(names(relay_members(logins, holds, k_cred)), (std::vector<std::string>{a + "=1000:1000", b + "=0:0"}))
      << "in the order of the login volumes, each once";
  EXPECT_EQ(names(relay_members(logins, holds, k_cred, a)), (std::vector<std::string>{b + "=0:0"}))
      << "`except` is left out even while held (a release letting go of it)";
}

TEST(RelayMembers, AVolumeNoHoldNamesIsServedOnlyWhenAContainerStillUsesIt) {
  const std::string a = broker::dispatch::login_volume_name(k_cred, 1000, 1000);
  const std::string b = broker::dispatch::login_volume_name(k_cred, 1001, 1001);
  const std::vector<VolumeInfo> logins{login(a, "1000", "1000"), login(b, "1001", "1001")};
  const std::vector<VolumeInfo> holds{hold("s1", a)};
  EXPECT_EQ(names(relay_members(logins, holds, k_cred)), (std::vector<std::string>{a + "=1000:1000"}));
  EXPECT_EQ(names(relay_members(logins, holds, k_cred, {}, {b})),
            (std::vector<std::string>{a + "=1000:1000", b + "=1001:1001"}));
  EXPECT_TRUE(relay_members(logins, {}, k_cred).empty());
}

TEST(RelayMembers, WhatIsNotThisCredentialsOrNotBesideTheLockIsNeverServed) {
  const std::string ok = broker::dispatch::login_volume_name(k_cred, 1000, 1000);
  const std::string legacy = broker::dispatch::legacy_login_volume_name(k_cred, 1001, 1001);
  const std::string other = broker::dispatch::login_volume_name("fedcba9876543210", 1002, 1002);
  const std::string odd_owner = broker::dispatch::login_volume_name(k_cred, 1003, 1003);
  const std::string not_a_login = broker::dispatch::login_volume_name(k_cred, 1004, 1004);

  std::vector<VolumeInfo> logins{login(ok, "1000", "1000"), login(legacy, "1001", "1001"), login(other, "1002", "1002"),
                                 login(odd_owner, "1003", "x"), login(not_a_login, "1004", "1004")};
  logins[2].labels[labels::k_credential] = "fedcba9876543210";  // another credential's login volume
  logins[4].labels[labels::k_role] =
      std::string(labels::role_label(Role::hold));  // named like one, but no login volume
  std::vector<VolumeInfo> holds;
  for (const auto& v : logins) holds.push_back(hold("s-" + v.name, v.name));
  VolumeInfo foreign = hold("s-foreign", ok);
  foreign.labels[labels::k_credential] = "fedcba9876543210";
  EXPECT_EQ(names(relay_members(logins, holds, k_cred)), (std::vector<std::string>{ok + "=1000:1000"}))
      << "legacy (no lock beside it), another credential's, an owner that is not a number, not a login volume";
  EXPECT_TRUE(relay_members(logins, {foreign}, k_cred).empty())
      << "a hold of another credential does not make this credential's volume served";
}

// ------------------------------------------------------------ compose_tree

vault::DecodedEntry entry_with(std::optional<std::string> credentials, std::optional<std::string> claude_json) {
  vault::DecodedEntry e;
  e.meta.id = k_cred;
  if (credentials) e.files.push_back({vault::k_credentials_file, bytes(*credentials)});
  if (claude_json) e.files.push_back({vault::k_claude_json_file, bytes(*claude_json)});
  return e;
}

TEST(ComposeTree, TheImagesConfigThenTheLinkToTheLoginThenTheMergedClaudeJsonLast) {
  ImageSeed image;
  image.config.push_back({"settings.json", false, bytes(R"({"theme":"dark"})"), {}});
  image.config.push_back({"agents", true, {}, {}});
  image.claude_json = bytes(R"({"theme":"light","numStartups":7,"oauthAccount":{"emailAddress":"image@example.com"}})");
  const auto entry = entry_with(R"({"claudeAiOauth":{"accessToken":"sk-ant-oat01-CANARY-compose"}})",
                                R"({"oauthAccount":{"emailAddress":"login@example.com"},"userID":"u1"})");
  std::vector<std::string> notes;
  auto tree = compose_tree(image, entry, notes);
  ASSERT_TRUE(tree.ok()) << tree.error().message;
  ASSERT_EQ(tree->size(), 4u);
  EXPECT_EQ((*tree)[0].name, "settings.json");
  EXPECT_EQ(text((*tree)[0].data), R"({"theme":"dark"})");
  EXPECT_EQ((*tree)[1].name, "agents");
  EXPECT_TRUE((*tree)[1].is_dir);
  EXPECT_EQ((*tree)[2].name, ".credentials.json");
  EXPECT_EQ((*tree)[2].link, "../login/.credentials.json") << "the session's config and login/ are siblings";
  EXPECT_TRUE((*tree)[2].data.empty()) << "the login itself is never copied into the session's config";
  EXPECT_EQ((*tree)[3].name, ".claude.json") << "last: a config with its .claude.json is complete";
  const auto merged = nlohmann::json::parse(text((*tree)[3].data));
  EXPECT_EQ(merged.value("theme", ""), "light");
  EXPECT_EQ(merged.value("numStartups", 0), 7) << "the image's own keys stay";
  EXPECT_EQ(merged.value("/oauthAccount/emailAddress"_json_pointer, ""), "login@example.com") << "the login's keys win";
  EXPECT_EQ(merged.value("userID", ""), "u1");
  EXPECT_EQ(merged.value("hasCompletedOnboarding", false), true) << "added when neither says";
  EXPECT_TRUE(notes.empty());
  for (const auto& e : *tree) EXPECT_EQ(text(e.data).find("CANARY"), std::string::npos) << e.name;
}

TEST(ComposeTree, OnboardingAsTheImageOrLoginSaysItAndAnImageWithoutClaudeJson) {
  std::vector<std::string> notes;
  ImageSeed image;
  image.claude_json = bytes(R"({"hasCompletedOnboarding":false})");
  auto tree = compose_tree(image, entry_with("{}", std::nullopt), notes);
  ASSERT_TRUE(tree.ok()) << tree.error().message;
  EXPECT_EQ(nlohmann::json::parse(text(tree->back().data)).value("hasCompletedOnboarding", true), false);

  ImageSeed onboarded;  // the image says yes, the stored login no: the login wins
  onboarded.claude_json = bytes(R"({"hasCompletedOnboarding":true})");
  tree = compose_tree(onboarded, entry_with("{}", R"({"hasCompletedOnboarding":false})"), notes);
  ASSERT_TRUE(tree.ok()) << tree.error().message;
  EXPECT_EQ(nlohmann::json::parse(text(tree->back().data)).value("hasCompletedOnboarding", true), false);

  ImageSeed bare;  // no .claude.json in the image, none stored: still one, onboarded
  tree = compose_tree(bare, entry_with("{}", std::nullopt), notes);
  ASSERT_TRUE(tree.ok()) << tree.error().message;
  ASSERT_EQ(tree->size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(text(tree->back().data)), nlohmann::json({{"hasCompletedOnboarding", true}}));
  EXPECT_TRUE(notes.empty());
}

TEST(ComposeTree, AnApiKeyLoginHasNoCredentialsLinkAndSaysSo) {
  std::vector<std::string> notes;
  auto tree = compose_tree(ImageSeed{}, entry_with(std::nullopt, R"({"primaryApiKey":"x"})"), notes);
  ASSERT_TRUE(tree.ok()) << tree.error().message;
  ASSERT_EQ(tree->size(), 1u);
  EXPECT_EQ(tree->front().name, ".claude.json");
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes.front().find("API-key login"), std::string::npos) << notes.front();
}

TEST(ComposeTree, AClaudeJsonThatIsNotAnObjectIsRefusedNotMerged) {
  std::vector<std::string> notes;
  ImageSeed image;
  image.claude_json = bytes(R"(["not","an","object"])");
  auto tree = compose_tree(image, entry_with("{}", std::nullopt), notes);
  ASSERT_FALSE(tree.ok());
  EXPECT_NE(tree.error().message.find("the image's .claude.json"), std::string::npos) << tree.error().message;

  for (const char* stored : {"\"a string\"", "{\"oauthAccount\":"}) {  // not an object; not JSON at all
    tree = compose_tree(ImageSeed{}, entry_with("{}", stored), notes);
    ASSERT_FALSE(tree.ok()) << stored;
    EXPECT_NE(tree.error().message.find("the stored .claude.json"), std::string::npos) << tree.error().message;
  }
}

}  // namespace
}  // namespace pb::test
