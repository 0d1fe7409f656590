// relay/rules and relay/args: what the relay copies from one user's login
// volume into another's, and its command line. Each refusal is a file a
// session could write into its own volume to reach the other users'.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "relay/args.hpp"
#include "relay/rules.hpp"

namespace pb::relay {
namespace {

using nlohmann::json;

constexpr std::int64_t k_now = 1'800'000'000'000;  // ms
constexpr std::int64_t k_hour = 3'600'000;
constexpr const char* k_uuid = "00000000-0000-4000-8000-0000000000a1";

json login(const std::string& tag, std::int64_t expires) {
  return {{"claudeAiOauth",
           {{"accessToken", "sk-ant-oat01-CANARY-" + tag},
            {"refreshToken", "sk-ant-ort01-CANARY-" + tag},
            {"expiresAt", expires},
            {"scopes", {"user:inference", "user:profile"}},
            {"subscriptionType", "max"},
            {"rateLimitTier", "default_claude_max_20x"}}}};
}

Judgement judge(const json& j, const std::string& uuid = "") {
  return judge_login(j.dump(), k_now, uuid);
}

std::string refusal(const json& j, const std::string& uuid = "") {
  auto r = judge(j, uuid);
  EXPECT_FALSE(r.login) << j.dump();
  return r.reason;
}

TEST(RelayRules, AcceptsAGenuineLoginAndKeepsOnlyTheLoginFields) {
  json j = login("a", k_now + k_hour);
  j["claudeAiOauth"]["accountUuid"] = k_uuid;
  j["claudeAiOauth"]["organizationUuid"] = "org";
  j["claudeAiOauth"]["somethingNew"] = "x";
  j["mcpOAuth"] = {{"server", {{"accessToken", "mcp"}}}};
  auto r = judge(j, k_uuid);
  ASSERT_TRUE(r.login) << r.reason;
  EXPECT_EQ(r.login->expires_at, k_now + k_hour);
  EXPECT_EQ(r.login->fields["accessToken"], "sk-ant-oat01-CANARY-a");
  EXPECT_EQ(r.login->fields["rateLimitTier"], "default_claude_max_20x");
  EXPECT_FALSE(r.login->fields.contains("accountUuid"));
  EXPECT_FALSE(r.login->fields.contains("organizationUuid"));
  EXPECT_FALSE(r.login->fields.contains("somethingNew"));
}

TEST(RelayRules, RefusesWhatIsNotALogin) {
  EXPECT_EQ(judge_login("", k_now, "").reason, "it is empty (being rewritten?)");
  EXPECT_EQ(judge_login("{\"claudeAiOauth\":{\"accessT", k_now, "").reason,
            "it is not well-formed JSON (or nests too deep)");
  EXPECT_EQ(judge_login("[1,2]", k_now, "").reason, "it is not a JSON object");
  EXPECT_EQ(refusal(json{{"other", 1}}), "it holds no OAuth login");
  EXPECT_EQ(refusal(json{{"claudeAiOauth", "text"}}), "it holds no OAuth login");
  std::string deep(200, '[');
  deep += std::string(200, ']');
  EXPECT_EQ(judge_login("{\"a\":" + deep + "}", k_now, "").reason, "it is not well-formed JSON (or nests too deep)");
  std::string big = login("a", k_now).dump();
  big.insert(1, "\"pad\":\"" + std::string(k_max_file_size, 'x') + "\",");
  EXPECT_EQ(judge_login(big, k_now, "").reason, "it is larger than 64 KiB");
}

TEST(RelayRules, RefusesMalformedTokens) {
  const std::vector<json> bad = {
      "", 42, "has space", "tab\there", "nul\x01", std::string(k_max_token + 1, 'a'), "caf\xc3\xa9"};
  for (const char* key : {"accessToken", "refreshToken"}) {
    for (const auto& v : bad) {
      json j = login("a", k_now + k_hour);
      j["claudeAiOauth"][key] = v;
      EXPECT_NE(refusal(j).find("token is missing or malformed"), std::string::npos) << key;
    }
    json j = login("a", k_now + k_hour);
    j["claudeAiOauth"].erase(key);
    EXPECT_NE(refusal(j).find("token is missing or malformed"), std::string::npos) << key;
  }
  json ok = login("a", k_now + k_hour);
  ok["claudeAiOauth"]["accessToken"] = std::string(k_max_token, 'a');
  EXPECT_TRUE(judge(ok).login);
}

TEST(RelayRules, RefusesAnExpiryThatIsNotAWholeNumberOrTooFarAway) {
  for (const json& v : {json(1.8e12), json("1800000000000"), json(nullptr), json(1e300), json::array()}) {
    json j = login("a", 0);
    j["claudeAiOauth"]["expiresAt"] = v;
    EXPECT_EQ(refusal(j), "its expiresAt is not a whole number") << v.dump();
  }
  json missing = login("a", 0);
  missing["claudeAiOauth"].erase("expiresAt");
  EXPECT_EQ(refusal(missing), "its expiresAt is not a whole number");
  EXPECT_EQ(refusal(login("a", k_now + k_max_token_lifetime_ms + 1)), "its expiresAt is more than 24 hours away");
  EXPECT_TRUE(judge(login("a", k_now + k_max_token_lifetime_ms)).login);
  EXPECT_TRUE(judge(login("a", k_now - k_hour)).login);  // expired is a login too: the oldest
}

TEST(RelayRules, WithAnAccountUuidRefusesAnotherAccount) {
  json j = login("a", k_now + k_hour);
  EXPECT_TRUE(judge(j, k_uuid).login);  // no accountUuid: nothing to compare
  j["claudeAiOauth"]["accountUuid"] = "00000000-0000-4000-8000-0000000000b2";
  EXPECT_EQ(refusal(j, k_uuid), "its accountUuid names another account");
  EXPECT_TRUE(judge(j).login);  // without --account-uuid any account goes
  j["claudeAiOauth"]["accountUuid"] = 7;
  EXPECT_EQ(refusal(j, k_uuid), "its accountUuid names another account");
  j["claudeAiOauth"]["accountUuid"] = k_uuid;
  EXPECT_TRUE(judge(j, k_uuid).login);
}

TEST(RelayRules, NewerMeansAnotherPairExpiringLater) {
  auto a = judge(login("a", k_now + k_hour));
  auto b_later = judge(login("b", k_now + 2 * k_hour));
  auto b_same_time = judge(login("b", k_now + k_hour));
  auto a_later = judge(login("a", k_now + 2 * k_hour));
  ASSERT_TRUE(a.login && b_later.login && b_same_time.login && a_later.login);
  EXPECT_TRUE(is_newer(*b_later.login, a));
  EXPECT_FALSE(is_newer(*a.login, b_later));
  EXPECT_FALSE(is_newer(*b_same_time.login, a));
  EXPECT_FALSE(is_newer(*a_later.login, a));  // the same pair: nothing to copy
  EXPECT_TRUE(is_newer(*a.login, Judgement{std::nullopt, "refused"}));
}

TEST(RelayRules, ComposeKeepsTheTargetsOwnKeysAndAccount) {
  json source = login("new", k_now + 2 * k_hour);
  source["claudeAiOauth"]["accountUuid"] = "planted-account";
  source["claudeAiOauth"]["planted"] = "x";
  source["mcpOAuth"] = {{"evil", {{"accessToken", "planted"}}}};
  source["pluginSecrets"] = "planted";
  auto s = judge(source);
  ASSERT_TRUE(s.login);

  json target = login("old", k_now + k_hour);
  target["claudeAiOauth"]["accountUuid"] = k_uuid;
  target["claudeAiOauth"]["refreshTokenExpiresAt"] = 5;  // a login field the source does not have: goes
  target["claudeAiOauth"]["ownField"] = "kept";
  target["mcpOAuth"] = {{"mine", {{"accessToken", "target-mcp"}}}};
  const auto composed = compose(*s.login, target.dump());
  ASSERT_TRUE(composed);
  const auto out = json::parse(composed->str());

  EXPECT_EQ(out["mcpOAuth"], target["mcpOAuth"]);
  EXPECT_FALSE(out.contains("pluginSecrets"));
  const auto& o = out["claudeAiOauth"];
  EXPECT_EQ(o["accessToken"], "sk-ant-oat01-CANARY-new");
  EXPECT_EQ(o["refreshToken"], "sk-ant-ort01-CANARY-new");
  EXPECT_EQ(o["expiresAt"], k_now + 2 * k_hour);
  EXPECT_EQ(o["scopes"], source["claudeAiOauth"]["scopes"]);
  EXPECT_EQ(o["accountUuid"], k_uuid);
  EXPECT_EQ(o["ownField"], "kept");
  EXPECT_FALSE(o.contains("planted"));
  EXPECT_FALSE(o.contains("refreshTokenExpiresAt"));
  EXPECT_EQ(out.size(), 2u);
}

TEST(RelayRules, ComposeWritesAFreshFileOnlyWhereThereIsNone) {
  auto s = judge(login("new", k_now + k_hour));
  ASSERT_TRUE(s.login);
  // No file: the login alone.
  const auto fresh = compose(*s.login, std::nullopt);
  ASSERT_TRUE(fresh);
  const auto out = json::parse(fresh->str());
  EXPECT_EQ(out["claudeAiOauth"], (*s.login).fields);
  EXPECT_EQ(out.size(), 1u);
  // A file that is not a JSON object (half written in place, garbage) is never rebuilt from {}.
  for (const std::string_view target :
       {"", "not json", "[1]", "{\"mcpOAuth\":{\"s\":{\"accessToken\":\"m\"}},\"claudeAiOauth\":{\"acc"})
    EXPECT_FALSE(compose(*s.login, target)) << target;
  // An object whose login is not one: its login is replaced, its keys stay.
  const auto kept = compose(*s.login, std::string_view("{\"claudeAiOauth\":3,\"k\":1}"));
  ASSERT_TRUE(kept);
  const auto out_kept = json::parse(kept->str());
  EXPECT_EQ(out_kept["claudeAiOauth"], (*s.login).fields);
  EXPECT_EQ(out_kept["k"], 1);
}

TEST(RelayRules, EveryMovingFieldHasItsTypeAndBounds) {
  auto with = [](const char* key, json value) {
    json j = login("a", k_now + k_hour);
    j["claudeAiOauth"][key] = std::move(value);
    return j;
  };
  const std::string scopes_refused = "its scopes are not a list of at most 32 short printable strings";
  // Floats print longer than they are read ("1e9" becomes "1000000000.0"): they could inflate the target's file.
  EXPECT_EQ(refusal(json::parse(R"({"claudeAiOauth":{"accessToken":"a","refreshToken":"r","expiresAt":1,)"
                                R"("scopes":[1e9,1e9,1e9]}})")),
            scopes_refused);
  EXPECT_EQ(refusal(with("scopes", "user:inference")), scopes_refused);
  EXPECT_EQ(refusal(with("scopes", json::array({"a", 7}))), scopes_refused);
  EXPECT_EQ(refusal(with("scopes", json::array({std::string(129, 's')}))), scopes_refused);
  EXPECT_EQ(refusal(with("scopes", json::array({"user:\ninference"}))), scopes_refused);
  EXPECT_EQ(refusal(with("scopes", json::array({json::object()}))), scopes_refused);
  EXPECT_EQ(refusal(with("scopes", std::vector<std::string>(33, "s"))), scopes_refused);
  EXPECT_TRUE(judge(with("scopes", std::vector<std::string>(32, std::string(128, 's')))).login);
  EXPECT_TRUE(judge(with("scopes", json::array())).login);
  for (const char* key : {"subscriptionType", "rateLimitTier"}) {
    const std::string refused = std::string("its ") + key + " is not a short printable string";
    EXPECT_EQ(refusal(with(key, 7)), refused);
    EXPECT_EQ(refusal(with(key, 1e300)), refused);
    EXPECT_EQ(refusal(with(key, json::array({"max"}))), refused);
    EXPECT_EQ(refusal(with(key, std::string(129, 'm'))), refused);
    EXPECT_EQ(refusal(with(key, "max\x01")), refused);
    EXPECT_TRUE(judge(with(key, nullptr)).login) << key;
    EXPECT_TRUE(judge(with(key, "Max 20x")).login) << key;
  }
  EXPECT_EQ(refusal(with("isMax", "yes")), "its isMax is not true or false");
  EXPECT_EQ(refusal(with("isMax", 1)), "its isMax is not true or false");
  EXPECT_EQ(refusal(with("isMax", nullptr)), "its isMax is not true or false");
  EXPECT_TRUE(judge(with("isMax", true)).login);
  const std::string rte = "its refreshTokenExpiresAt is not a whole number";
  EXPECT_EQ(refusal(with("refreshTokenExpiresAt", 1.5)), rte);
  EXPECT_EQ(refusal(with("refreshTokenExpiresAt", 1e300)), rte);
  EXPECT_EQ(refusal(with("refreshTokenExpiresAt", "soon")), rte);
  EXPECT_TRUE(judge(with("refreshTokenExpiresAt", nullptr)).login);
  EXPECT_TRUE(judge(with("refreshTokenExpiresAt", k_now + 30 * 24 * k_hour)).login);
}

TEST(RelayRules, TheAccountIsComparedWhateverItsCase) {
  json j = login("a", k_now + k_hour);
  j["claudeAiOauth"]["accountUuid"] = "00000000-0000-4000-8000-0000000000A1";
  EXPECT_TRUE(judge(j, k_uuid).login);
  EXPECT_TRUE(judge(j, "00000000-0000-4000-8000-0000000000A1").login);
  j["claudeAiOauth"]["accountUuid"] = "00000000-0000-4000-8000-0000000000B1";
  EXPECT_EQ(refusal(j, k_uuid), "its accountUuid names another account");
}

TEST(RelayRules, ExpiryIsShownInUtc) {
  EXPECT_EQ(utc(1'796'569'200'000), "2026-12-06T15:00:00Z");
  EXPECT_EQ(utc(0), "1970-01-01T00:00:00Z");
}

Result<Options> parse(std::vector<std::string_view> args) {
  return parse_args(args);
}

TEST(RelayArgs, TakesDirectoriesWithOwnersAndAnAccount) {
  auto o = parse({"--account-uuid", k_uuid, "/relay/0:0:0", "/relay/1:1234:1234", "/relay/u-2:4294967294:5"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->account_uuid, k_uuid);
  ASSERT_EQ(o->dirs.size(), 3u);
  EXPECT_EQ(o->dirs[1].path, "/relay/1");
  EXPECT_EQ(o->dirs[1].uid, 1234u);
  EXPECT_EQ(o->dirs[2].uid, 4294967294u);
  EXPECT_EQ(o->dirs[2].gid, 5u);
  auto eq = parse({"/a:0:0", std::string("--account-uuid=") + k_uuid, "/b:1:1"});
  ASSERT_TRUE(eq) << eq.error().message;
  EXPECT_EQ(eq->account_uuid, k_uuid);
  auto upper = parse({"--account-uuid", "00000000-0000-4000-8000-0000000000A1", "/a:0:0", "/b:1:1"});
  ASSERT_TRUE(upper) << upper.error().message;
  EXPECT_EQ(upper->account_uuid, k_uuid);  // kept in lower case
  EXPECT_TRUE(parse({"--help"})->help);
  EXPECT_TRUE(parse({"--version"})->version);
}

TEST(RelayArgs, RefusesEverythingElse) {
  const std::vector<std::vector<std::string_view>> bad = {
      {},
      {"/relay/0:0:0"},                                    // one directory serves nobody
      {"relay/0:0:0", "/relay/1:1:1"},                     // relative
      {"/relay/../etc:0:0", "/relay/1:1:1"},               // ..
      {"/relay/./0:0:0", "/relay/1:1:1"},                  // .
      {"/relay//0:0:0", "/relay/1:1:1"},                   // empty component
      {"/relay/0/:0:0", "/relay/1:1:1"},                   // trailing slash
      {"/:0:0", "/relay/1:1:1"},                           // the root
      {"/relay/a b:0:0", "/relay/1:1:1"},                  // space
      {"/relay/0:0", "/relay/1:1:1"},                      // no gid
      {"/relay/0:0:0:0", "/relay/1:1:1"},                  // a ':' in the path
      {"/relay/0:4294967295:0", "/relay/1:1:1"},           // chown's -1
      {"/relay/0:0:4294967295", "/relay/1:1:1"},           // chown's -1
      {"/relay/0:-1:0", "/relay/1:1:1"},                   // sign
      {"/relay/0:+1:0", "/relay/1:1:1"},                   // sign
      {"/relay/0:01:0", "/relay/1:1:1"},                   // leading zero
      {"/relay/0::0", "/relay/1:1:1"},                     // empty
      {"/relay/0:99999999999:0", "/relay/1:1:1"},          // too large
      {"/relay/0:0:0", "/relay/0:1:1"},                    // the same directory twice
      {"/relay/0:0:0", "/relay/0/x:1:1"},                  // one inside the other
      {"/relay:0:0", "/relay/1:1:1"},                      // one inside the other
      {"--account-uuid", "/relay/0:0:0", "/relay/1:1:1"},  // not a uuid
      {"--account-uuid", "00000000-0000-4000-8000-0000000000a", "/a:0:0", "/b:1:1"},
      {"--account-uuid", "00000000-0000-4000-8000-0000000000ag", "/a:0:0", "/b:1:1"},
      {"--account-uuid=00000000-0000-4000-8000-0000000000a1", "--account-uuid=00000000-0000-4000-8000-0000000000a1",
       "/a:0:0", "/b:1:1"},
      {"/a:0:0", "/b:1:1", "--account-uuid"},
      {"--verbose", "/a:0:0", "/b:1:1"},
  };
  for (const auto& args : bad) {
    auto o = parse(args);
    std::string shown;
    for (auto a : args) shown += std::string(a) + " ";
    ASSERT_FALSE(o) << shown;
    EXPECT_EQ(o.error().kind, ErrorKind::usage) << shown;
    EXPECT_FALSE(o.error().message.empty());
  }
  EXPECT_TRUE(parse({"--", "/a:0:0", "/b:1:1"}));
}

}  // namespace
}  // namespace pb::relay
