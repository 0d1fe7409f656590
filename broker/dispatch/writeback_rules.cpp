#include "broker/dispatch/writeback_rules.hpp"

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>

#include "broker/dispatch/json_object.hpp"
#include "core/json.hpp"
#include "core/text.hpp"
#include "vault/capture.hpp"
#include "vault/entry.hpp"
#include "vault/json_wipe.hpp"
#include "vault/login_limits.hpp"

namespace pb::broker::dispatch {
namespace {

using nlohmann::json;

/// Fields Claude Code keeps in claudeAiOauth (CLAUDE-CODE-FACTS.md).
constexpr const char* k_login_fields[] = {
    "accessToken",   "refreshToken",          "expiresAt",   "scopes",          "subscriptionType", "isMax",
    "rateLimitTier", "refreshTokenExpiresAt", "accountUuid", "organizationUuid"};

WritebackDecision refuse(std::string why) {
  WritebackDecision d;
  d.verdict = WritebackDecision::Verdict::refuse;
  d.reason = std::move(why);
  return d;
}

std::string str(const json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string utc(std::int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return "an unrepresentable date";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

/// A volume's .claude.json, when present and an object (the caller wipes it).
std::optional<json> parsed_claude_json(const SecureBytes* claude_json) {
  if (claude_json == nullptr || claude_json->empty()) return std::nullopt;
  auto reduced = vault::reduce_claude_json(ByteSpan(*claude_json), claude_json->size() + 1);
  if (!reduced) return std::nullopt;
  auto cfg = parse_json_object(ByteSpan(*reduced), ".claude.json");
  if (!cfg) return std::nullopt;
  return std::move(*cfg);
}

/// The account the volume's .claude.json shows: its oauthAccount's accountUuid and e-mail.
std::pair<std::string, std::string> shown_account(const SecureBytes* claude_json) {
  auto cfg = parsed_claude_json(claude_json);
  if (!cfg) return {};
  vault::JsonWiper w{*cfg};
  auto a = cfg->find("oauthAccount");
  if (a == cfg->end() || !a->is_object()) return {};
  return {str(*a, "accountUuid"), str(*a, "emailAddress")};
}

const char* const k_account_unshown = "its .claude.json does not show which account it belongs to";

/// Refusal reason when the volume does not show the stored account; empty when it does.
std::string account_mismatch(const vault::EntryMeta& meta, const json& oauth, const SecureBytes* claude_json) {
  if (meta.identity.empty()) return {};  // captured without its account: the token alone identifies it
  const auto [uuid, email] = shown_account(claude_json);
  if (!meta.account_uuid.empty()) {
    if (uuid.empty()) return k_account_unshown;
    if (uuid != meta.account_uuid) return "it belongs to another account";
  } else if (email.empty()) {
    return k_account_unshown;
  } else if ("email:" + email != meta.identity) {
    return "it belongs to another account";
  }
  const std::string own = str(oauth, "accountUuid");
  if (!own.empty() && !meta.account_uuid.empty() && own != meta.account_uuid)
    return "its credentials name another account";
  return {};
}

}  // namespace

std::string other_account_shown(const vault::EntryMeta& stored, const SecureBytes* session_claude_json) {
  {
    // A file that does not parse (read while Claude Code rewrote it) tells nothing.
    auto cfg = parsed_claude_json(session_claude_json);
    if (!cfg) return {};
    vault::JsonWiper w{*cfg};
  }
  return account_mismatch(stored, json::object(), session_claude_json);
}

namespace {

/// Fields that say whose login it is: never taken from a volume. The stored
/// values stay; where the vault has none, the volume does not get to set them.
bool is_account_field(const std::string& key) {
  return key == "accountUuid" || key == "organizationUuid";
}

}  // namespace

std::optional<std::int64_t> claimed_expiry(ByteSpan credentials) {
  auto j = parse_json_object(credentials, "the credentials file");
  if (!j) return std::nullopt;
  vault::JsonWiper w{*j};
  auto oauth = j->find("claudeAiOauth");
  if (oauth == j->end() || !oauth->is_object()) return std::nullopt;
  auto exp = oauth->find("expiresAt");
  if (exp == oauth->end()) return std::nullopt;
  return whole_number<std::int64_t>(*exp);
}

std::optional<std::int64_t> believable_expiry(std::optional<std::int64_t> stored, std::int64_t now_ms) {
  if (stored && *stored > now_ms + k_max_token_lifetime_ms) return std::nullopt;
  return stored;
}

WritebackDecision judge_writeback(const vault::DecodedEntry& stored, ByteSpan volume_credentials,
                                  const SecureBytes* volume_claude_json, std::int64_t now_ms) {
  const vault::ArchiveFile* stored_file = nullptr;
  for (const auto& f : stored.files)
    if (f.name == vault::k_credentials_file) stored_file = &f;
  if (stored_file == nullptr) return refuse("the stored credential has no OAuth login to update");
  auto old_doc = parse_json_object(ByteSpan(stored_file->data), "the stored credentials");
  if (!old_doc) return refuse("the stored credentials cannot be read");
  vault::JsonWiper w1{*old_doc};
  auto new_doc = parse_json_object(volume_credentials, "the credentials file");
  if (!new_doc) return refuse("its credentials file is not a JSON object");
  vault::JsonWiper w2{*new_doc};

  auto old_oauth = old_doc->find("claudeAiOauth");
  if (old_oauth == old_doc->end() || !old_oauth->is_object())
    return refuse("the stored credential has no OAuth login to update");
  auto new_oauth = new_doc->find("claudeAiOauth");
  if (new_oauth == new_doc->end() || !new_oauth->is_object()) return refuse("it holds no OAuth login");
  if (!vault::is_token(*new_oauth, "accessToken")) return refuse("its access token is missing or malformed");
  if (old_oauth->contains("refreshToken") && !vault::is_token(*new_oauth, "refreshToken"))
    return refuse("its refresh token is missing or malformed");
  auto exp_it = new_oauth->find("expiresAt");
  const auto expires = exp_it == new_oauth->end() ? std::nullopt : whole_number<std::int64_t>(*exp_it);
  if (!expires) return refuse("its expiresAt is not a whole number");

  // Unchanged (the file as the vault wrote it): nothing to judge.
  if ((*new_oauth)["accessToken"] == (*old_oauth)["accessToken"] &&
      new_oauth->value("refreshToken", json()) == old_oauth->value("refreshToken", json()))
    return {};
  if (*expires > now_ms + k_max_token_lifetime_ms)
    return refuse("it claims to expire at " + utc(*expires) + ", later than a token can live (24 hours from now)");
  const auto stored_expiry = believable_expiry(stored.meta.expires_at, now_ms);
  if (stored_expiry && *expires <= *stored_expiry) {
    WritebackDecision older;
    older.differs = true;  // another login than the vault's, but not newer: the caller records it
    return older;
  }

  for (const auto& [key, value] : new_doc->items()) {
    if (key == "claudeAiOauth") continue;
    auto old = old_doc->find(key);
    if (old == old_doc->end())
      return refuse("its credentials file brings '" + printable(key, 60) + "', which the vault did not put there");
    if (*old != value) return refuse("its credentials file changes '" + printable(key, 60) + "'");
  }
  if (auto why = account_mismatch(stored.meta, *new_oauth, volume_claude_json); !why.empty()) {
    WritebackDecision d = refuse(why);
    d.account_unshown = why == k_account_unshown;
    return d;
  }

  WritebackDecision d;
  d.verdict = WritebackDecision::Verdict::accept;
  d.expires_at = expires;
  json login = *old_oauth;
  std::string dropped;
  for (auto& [key, value] : new_oauth->items()) {
    const std::string& field = key;  // clang 14 cannot capture a structured binding
    const bool known = std::find_if(std::begin(k_login_fields), std::end(k_login_fields),
                                    [&](const char* f) { return field == f; }) != std::end(k_login_fields);
    if (is_account_field(field)) continue;  // the stored account stays what it is
    if (known || old_oauth->contains(key)) {
      login[key] = value;
    } else {
      dropped += (dropped.empty() ? "" : ", ") + printable(key, 60);
    }
  }
  if (!dropped.empty()) d.note = "left out login fields the vault does not know: " + dropped;
  json out = *old_doc;
  out["claudeAiOauth"] = std::move(login);
  vault::JsonWiper w3{out};
  std::string text = out.dump();
  d.credentials.assign(text.begin(), text.end());
  secure_wipe(text.data(), text.size());
  return d;
}

}  // namespace pb::broker::dispatch
