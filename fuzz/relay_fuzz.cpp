// Fuzzes the relay's rules (relay/rules.hpp): one login volume's
// .credentials.json, a NUL, another's. Whatever the input, a login the relay
// accepts expires within 24 hours, and what it writes into the other volume
// is that volume's own file with nothing of the first but the login fields:
// the same top-level keys, the same account fields, the moving fields taken.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string_view>

#include "relay/rules.hpp"

namespace {

constexpr std::int64_t k_now = 1'800'000'000'000;
constexpr const char* k_uuid = "00000000-0000-4000-8000-0000000000a1";
constexpr const char* k_moving[] = {"accessToken",      "refreshToken", "expiresAt",     "scopes",
                                    "subscriptionType", "isMax",        "rateLimitTier", "refreshTokenExpiresAt"};

bool printable(const std::string& s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using nlohmann::json;
  const auto* nul = static_cast<const std::uint8_t*>(std::memchr(data, 0, size));
  const std::size_t source_size = nul == nullptr ? size : static_cast<std::size_t>(nul - data);
  const std::string_view source(reinterpret_cast<const char*>(data), source_size);
  const std::optional<std::string_view> target =
      nul == nullptr ? std::nullopt
                     : std::optional(std::string_view(reinterpret_cast<const char*>(nul + 1), data + size - nul - 1));

  const auto judged = pb::relay::judge_login(source, k_now, (size & 1) != 0 ? k_uuid : "");
  if (!judged.login) {
    if (judged.reason.empty() || !printable(judged.reason)) __builtin_trap();  // one printable phrase
    return 0;
  }
  const auto& login = *judged.login;
  if (login.expires_at > k_now + pb::relay::k_max_token_lifetime_ms) __builtin_trap();
  if (login.fields.contains("accountUuid") || login.fields.contains("organizationUuid")) __builtin_trap();
  const auto before = target ? pb::relay::judge_login(*target, k_now, "") : pb::relay::Judgement{};
  (void)pb::relay::is_newer(login, before);

  const auto text = pb::relay::compose(login, target);
  json old = target ? json::parse(target->begin(), target->end(), nullptr, false) : json::object();
  if (!text) {
    if (!target) __builtin_trap();  // only a present file that is not an object (or nests too deep) is left alone
    return 0;
  }
  const auto out = json::parse(text->str(), nullptr, false);
  if (!out.is_object() || !out.contains("claudeAiOauth") || !out["claudeAiOauth"].is_object()) __builtin_trap();
  if (!old.is_object()) __builtin_trap();  // never rebuilt from {}
  for (const auto& [k, v] : out.items())
    if (k != "claudeAiOauth" && (!old.contains(k) || old[k] != v)) __builtin_trap();  // nothing planted
  for (const auto& [k, v] : old.items())
    if (k != "claudeAiOauth" && (!out.contains(k) || out[k] != v)) __builtin_trap();  // nothing lost
  const json old_login =
      old.contains("claudeAiOauth") && old["claudeAiOauth"].is_object() ? old["claudeAiOauth"] : json::object();
  const auto& new_login = out["claudeAiOauth"];
  for (const auto& [k, v] : new_login.items()) {
    bool moving = false;
    for (const char* f : k_moving) moving = moving || k == f;
    if (moving ? login.fields.value(k, json()) != v : old_login.value(k, json()) != v) __builtin_trap();
  }
  for (const auto& [k, v] : login.fields.items())
    if (!new_login.contains(k)) __builtin_trap();
  return 0;
}
