// Fuzzes the write-back judge (broker/dispatch/writeback_rules.hpp): what a
// session's container wrote into its volume (.credentials.json, then a NUL,
// then .claude.json) against a fixed stored login. Whatever the input, an
// accepted write-back carries only the stored top-level keys, the known (or
// stored) login fields, the stored account and a believable expiry.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "broker/dispatch/writeback_rules.hpp"
#include "vault/entry.hpp"

namespace {

constexpr std::int64_t k_now = 1'800'000'000'000;
const char* const k_stored_creds =
    R"({"claudeAiOauth":{"accessToken":"sk-ant-oat01-fake-test-old","refreshToken":"sk-ant-ort01-fake-test-old",)"
    R"("expiresAt":1800003600000,"scopes":["user:inference"],"subscriptionType":"max"},)"
    R"("mcpOAuth":{"s":{"accessToken":"fake-test-mcp"}}})";
const char* const k_known[] = {"accessToken",      "refreshToken",    "expiresAt",     "scopes",
                               "subscriptionType", "isMax",           "rateLimitTier", "refreshTokenExpiresAt",
                               "accountUuid",      "organizationUuid"};

pb::vault::DecodedEntry stored() {
  pb::vault::DecodedEntry e;
  e.meta.id = "0123456789abcdef";
  e.meta.identity = "uuid:00000000-0000-4000-8000-0000000000a1";
  e.meta.account_uuid = "00000000-0000-4000-8000-0000000000a1";
  e.meta.expires_at = 1800003600000;
  std::string c = k_stored_creds;
  e.files.push_back({pb::vault::k_credentials_file, pb::SecureBytes(c.begin(), c.end())});
  return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const pb::vault::DecodedEntry entry = stored();
  const auto* nul = static_cast<const std::uint8_t*>(std::memchr(data, 0, size));
  const std::size_t creds_size = nul == nullptr ? size : static_cast<std::size_t>(nul - data);
  pb::SecureBytes claude_json;
  if (nul != nullptr) claude_json.assign(nul + 1, data + size);
  auto d = pb::broker::dispatch::judge_writeback(entry, pb::ByteSpan(data, creds_size),
                                                 nul == nullptr ? nullptr : &claude_json, k_now);
  using V = pb::broker::dispatch::WritebackDecision::Verdict;
  if (d.verdict == V::refuse) {
    for (char c : d.reason)
      if (static_cast<unsigned char>(c) < 0x20) __builtin_trap();  // one printable sentence
    return 0;
  }
  if (d.verdict != V::accept) return 0;
  auto out = nlohmann::json::parse(d.credentials.begin(), d.credentials.end(), nullptr, false);
  auto old = nlohmann::json::parse(k_stored_creds);
  if (!out.is_object() || !out["claudeAiOauth"].is_object()) __builtin_trap();
  for (const auto& [k, v] : out.items())
    if (k != "claudeAiOauth" && (!old.contains(k) || old[k] != v)) __builtin_trap();  // nothing foreign
  for (const auto& [k, v] : out["claudeAiOauth"].items()) {
    bool known = old["claudeAiOauth"].contains(k);
    for (const char* f : k_known) known = known || k == f;
    if (!known) __builtin_trap();
  }
  const auto& exp = out["claudeAiOauth"]["expiresAt"];
  if (!exp.is_number_integer() || !d.expires_at || exp.get<std::int64_t>() != *d.expires_at ||
      *d.expires_at > k_now + pb::broker::dispatch::k_max_token_lifetime_ms || *d.expires_at <= 1800003600000)
    __builtin_trap();
  return 0;
}
