// broker/dispatch/writeback: what a session's volume may write back into the
// vault. Each case is an attack a session's container could make on the
// volume it shares with others (a far expiry, another account, no account,
// keys the vault did not put there, API keys), next to the genuine refresh.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "broker/dispatch/writeback_rules.hpp"
#include "vault/entry.hpp"

namespace pb::broker::dispatch {
namespace {

using nlohmann::json;
using Verdict = WritebackDecision::Verdict;

constexpr std::int64_t k_now = 1'800'000'000'000;  // ms
constexpr std::int64_t k_hour = 3'600'000;
constexpr const char* k_uuid = "00000000-0000-4000-8000-0000000000a1";

SecureBytes bytes(const std::string& s) {
  return SecureBytes(s.begin(), s.end());
}

json login(const std::string& access, std::int64_t expires) {
  return {{"claudeAiOauth",
           {{"accessToken", access},
            {"refreshToken", "sk-ant-ort01-CANARY-test-" + access},
            {"expiresAt", expires},
            {"scopes", {"user:inference"}},
            {"subscriptionType", "max"}}},
          {"mcpOAuth", {{"server", {{"accessToken", "stored-mcp"}}}}}};
}

json account(const std::string& uuid, const std::string& email = "canary-test@example.com") {
  return {{"hasCompletedOnboarding", true}, {"oauthAccount", {{"accountUuid", uuid}, {"emailAddress", email}}}};
}

class Writeback : public ::testing::Test {
 protected:
  void SetUp() override {
    stored.meta.id = "0123456789abcdef";
    stored.meta.identity = std::string("uuid:") + k_uuid;
    stored.meta.account_uuid = k_uuid;
    stored.meta.expires_at = k_now + k_hour;
    stored.files.push_back({vault::k_credentials_file, bytes(login("sk-ant-oat01-CANARY-old", k_now + k_hour).dump())});
    stored.files.push_back({vault::k_claude_json_file, bytes(account(k_uuid).dump())});
    volume_claude_json = bytes(account(k_uuid).dump());
  }

  WritebackDecision judge(const json& volume_credentials) {
    SecureBytes b = bytes(volume_credentials.dump());
    return judge_writeback(stored, ByteSpan(b), &volume_claude_json, k_now);
  }

  vault::DecodedEntry stored;
  SecureBytes volume_claude_json;
};

TEST_F(Writeback, AGenuineRefreshIsTakenWithTheStoredKeysAroundIt) {
  auto d = judge(login("sk-ant-oat01-CANARY-new", k_now + 8 * k_hour));
  ASSERT_EQ(d.verdict, Verdict::accept) << d.reason;
  EXPECT_EQ(d.expires_at, k_now + 8 * k_hour);
  auto j = json::parse(std::string(d.credentials.begin(), d.credentials.end()));
  EXPECT_EQ(j["claudeAiOauth"]["accessToken"], "sk-ant-oat01-CANARY-new");
  EXPECT_EQ(j["mcpOAuth"]["server"]["accessToken"], "stored-mcp");
}

TEST_F(Writeback, TheSameOrAnOlderLoginIsNotNewer) {
  EXPECT_EQ(judge(login("sk-ant-oat01-CANARY-old", k_now + k_hour)).verdict, Verdict::not_newer);
  EXPECT_EQ(judge(login("sk-ant-oat01-CANARY-other", k_now + k_hour - 1)).verdict, Verdict::not_newer);
}

TEST_F(Writeback, AFarExpiryIsRefused) {
  auto d = judge(login("sk-ant-oat01-CANARY-new", 9000000000000000));
  EXPECT_EQ(d.verdict, Verdict::refuse);
  EXPECT_NE(d.reason.find("later than a token can live"), std::string::npos) << d.reason;
  EXPECT_EQ(judge(login("sk-ant-oat01-CANARY-new", k_now + 25 * k_hour)).verdict, Verdict::refuse);
  EXPECT_EQ(judge(login("sk-ant-oat01-CANARY-new", k_now + 23 * k_hour)).verdict, Verdict::accept);
}

TEST_F(Writeback, AStoredExpiryNobodyCouldBelieveIsReplacedByABelievableOne) {
  // A vault poisoned before this rule: expiring in the year 287168.
  stored.meta.expires_at = 9000000000000000;
  EXPECT_FALSE(believable_expiry(stored.meta.expires_at, k_now));
  EXPECT_EQ(believable_expiry(k_now + k_hour, k_now), k_now + k_hour);
  EXPECT_EQ(judge(login("sk-ant-oat01-CANARY-new", k_now + 8 * k_hour)).verdict, Verdict::accept);
}

TEST_F(Writeback, AnotherAccountIsRefused) {
  volume_claude_json = bytes(account("00000000-0000-4000-8000-00000000beef").dump());
  auto d = judge(login("sk-ant-oat01-CANARY-new", k_now + 8 * k_hour));
  EXPECT_EQ(d.verdict, Verdict::refuse);
  EXPECT_NE(d.reason.find("another account"), std::string::npos) << d.reason;
}

TEST_F(Writeback, AMissingAccountIsRefused) {
  volume_claude_json = bytes(json{{"hasCompletedOnboarding", true}}.dump());
  auto d = judge(login("sk-ant-oat01-CANARY-new", k_now + 8 * k_hour));
  EXPECT_EQ(d.verdict, Verdict::refuse);
  EXPECT_NE(d.reason.find("does not show which account"), std::string::npos) << d.reason;
  SecureBytes creds = bytes(login("sk-ant-oat01-CANARY-new", k_now + 8 * k_hour).dump());
  EXPECT_EQ(judge_writeback(stored, ByteSpan(creds), nullptr, k_now).verdict, Verdict::refuse)
      << "no .claude.json at all";
  volume_claude_json = bytes("{not json");
  EXPECT_EQ(judge(login("sk-ant-oat01-CANARY-new", k_now + 8 * k_hour)).verdict, Verdict::refuse);
}

TEST_F(Writeback, CredentialsThatNameAnotherAccountAreRefused) {
  auto l = login("sk-ant-oat01-CANARY-new", k_now + 8 * k_hour);
  l["claudeAiOauth"]["accountUuid"] = "00000000-0000-4000-8000-00000000beef";
  EXPECT_EQ(judge(l).verdict, Verdict::refuse);
  l["claudeAiOauth"]["accountUuid"] = k_uuid;
  EXPECT_EQ(judge(l).verdict, Verdict::accept);
}

TEST_F(Writeback, TheAccountFieldsOfAVolumeAreNeverTaken) {
  // An entry known by e-mail only: a volume must not get to bind it to an account uuid of its choice.
  stored.meta.identity = "email:canary-test@example.com";
  stored.meta.account_uuid.clear();
  auto l = login("sk-ant-oat01-CANARY-new", k_now + 8 * k_hour);
  l["claudeAiOauth"]["accountUuid"] = "00000000-0000-4000-8000-00000000beef";
  l["claudeAiOauth"]["organizationUuid"] = "00000000-0000-4000-8000-00000000beef";
  auto d = judge(l);
  ASSERT_EQ(d.verdict, Verdict::accept) << d.reason;
  const std::string text(d.credentials.begin(), d.credentials.end());
  EXPECT_EQ(text.find("beef"), std::string::npos) << text;
}

TEST_F(Writeback, AnotherLoginThatIsNotNewerIsSaidToDiffer) {
  auto d = judge(login("sk-ant-oat01-CANARY-other", k_now + k_hour - 1));
  EXPECT_EQ(d.verdict, Verdict::not_newer);
  EXPECT_TRUE(d.differs) << "the caller records a login that lost";
  EXPECT_FALSE(judge(login("sk-ant-oat01-CANARY-old", k_now + k_hour)).differs) << "the vault's own login";
}

TEST_F(Writeback, AnEmailIdentityIsCheckedByEmail) {
  stored.meta.identity = "email:canary-test@example.com";
  stored.meta.account_uuid.clear();
  EXPECT_EQ(judge(login("sk-ant-oat01-CANARY-new", k_now + 8 * k_hour)).verdict, Verdict::accept);
  volume_claude_json = bytes(account(k_uuid, "attacker@example.com").dump());
  EXPECT_EQ(judge(login("sk-ant-oat01-CANARY-new", k_now + 8 * k_hour)).verdict, Verdict::refuse);
}

TEST_F(Writeback, KeysTheVaultDidNotPutThereAreRefused) {
  auto extra = login("sk-ant-oat01-CANARY-new", k_now + 8 * k_hour);
  extra["pluginSecrets"] = {{"evil", "sk-ant-api03-CANARY-attacker"}};
  auto d = judge(extra);
  EXPECT_EQ(d.verdict, Verdict::refuse);
  EXPECT_NE(d.reason.find("pluginSecrets"), std::string::npos) << d.reason;

  auto changed = login("sk-ant-oat01-CANARY-new", k_now + 8 * k_hour);
  changed["mcpOAuth"]["server"]["accessToken"] = "attacker-mcp";
  EXPECT_EQ(judge(changed).verdict, Verdict::refuse);
}

TEST_F(Writeback, ApiKeysInTheVolumesClaudeJsonNeverComeBack) {
  auto cj = account(k_uuid);
  cj["primaryApiKey"] = "sk-ant-api03-CANARY-attacker";
  cj["customApiKeyResponses"] = {{"approved", {"CANARY-attacker"}}};
  volume_claude_json = bytes(cj.dump());
  auto d = judge(login("sk-ant-oat01-CANARY-new", k_now + 8 * k_hour));
  ASSERT_EQ(d.verdict, Verdict::accept) << "the account is right; the keys are simply not taken";
  const std::string text(d.credentials.begin(), d.credentials.end());
  EXPECT_EQ(text.find("CANARY-attacker"), std::string::npos);
}

TEST_F(Writeback, UnknownLoginFieldsAreLeftOut) {
  auto l = login("sk-ant-oat01-CANARY-new", k_now + 8 * k_hour);
  l["claudeAiOauth"]["rateLimitTier"] = "default_claude_max_20x";
  l["claudeAiOauth"]["somethingNew"] = "CANARY-attacker";
  auto d = judge(l);
  ASSERT_EQ(d.verdict, Verdict::accept) << d.reason;
  const std::string text(d.credentials.begin(), d.credentials.end());
  EXPECT_EQ(text.find("CANARY-attacker"), std::string::npos);
  EXPECT_NE(text.find("default_claude_max_20x"), std::string::npos) << "a field Claude Code keeps is taken";
  EXPECT_NE(d.note.find("somethingNew"), std::string::npos);
}

TEST_F(Writeback, MalformedLoginsAreRefused) {
  auto no_refresh = login("sk-ant-oat01-CANARY-new", k_now + 8 * k_hour);
  no_refresh["claudeAiOauth"].erase("refreshToken");
  EXPECT_EQ(judge(no_refresh).verdict, Verdict::refuse);
  auto float_expiry = login("sk-ant-oat01-CANARY-new", 0);
  float_expiry["claudeAiOauth"]["expiresAt"] = 1.8e12;
  EXPECT_EQ(judge(float_expiry).verdict, Verdict::refuse);
  auto blank_token = login("sk-ant-oat01-CANARY new", k_now + 8 * k_hour);
  EXPECT_EQ(judge(blank_token).verdict, Verdict::refuse);
  auto not_login = json{{"claudeAiOauth", "x"}};
  EXPECT_EQ(judge(not_login).verdict, Verdict::refuse);
  SecureBytes garbage = bytes("[1,2]");
  EXPECT_EQ(judge_writeback(stored, ByteSpan(garbage), &volume_claude_json, k_now).verdict, Verdict::refuse);
}

TEST_F(Writeback, AnApiKeyCredentialHasNoLoginToUpdate) {
  stored.files.erase(stored.files.begin());
  EXPECT_EQ(judge(login("sk-ant-oat01-CANARY-new", k_now + 8 * k_hour)).verdict, Verdict::refuse);
}

TEST(WritebackExpiry, ClaimedExpiryReadsOnlyWholeNumbers) {
  SecureBytes ok = bytes(R"({"claudeAiOauth":{"expiresAt":1800000000000}})");
  EXPECT_EQ(claimed_expiry(ByteSpan(ok)), 1800000000000);
  SecureBytes fl = bytes(R"({"claudeAiOauth":{"expiresAt":1e300}})");
  EXPECT_FALSE(claimed_expiry(ByteSpan(fl)));
  SecureBytes none = bytes(R"({"claudeAiOauth":{}})");
  EXPECT_FALSE(claimed_expiry(ByteSpan(none)));
}

}  // namespace
}  // namespace pb::broker::dispatch
