#include "relay/rules.hpp"

#include <string.h>  // explicit_bzero

#include <algorithm>
#include <ctime>
#include <stdexcept>

#include "core/json.hpp"           // header only: whole numbers out of hostile JSON
#include "vault/login_limits.hpp"  // header only: the bounds write-back keeps too

namespace pb::relay {
namespace {

using nlohmann::json;

/// Fields Claude Code keeps in claudeAiOauth that move with a login
/// (write-back's k_login_fields, CLAUDE-CODE-FACTS.md).
constexpr const char* k_moving_fields[] = {"accessToken",   "refreshToken",         "expiresAt",
                                           "scopes",        "subscriptionType",     "isMax",
                                           "rateLimitTier", "refreshTokenExpiresAt"};
// accountUuid and organizationUuid say whose login it is: never taken from another volume.

bool printable_string(const json& v, std::size_t max) {
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  return s.size() <= max && std::all_of(s.begin(), s.end(), [](char c) {
           return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
         });
}

/// Why a moving field other than the tokens and expiresAt breaks its rule, or empty.
std::string other_fields_refusal(const json& oauth) {
  if (auto it = oauth.find("scopes"); it != oauth.end()) {
    if (!it->is_array() || it->size() > k_max_scopes ||
        !std::all_of(it->begin(), it->end(), [](const json& v) { return printable_string(v, k_max_short_field); }))
      return "its scopes are not a list of at most 32 short printable strings";
  }
  for (const char* key : {"subscriptionType", "rateLimitTier"}) {
    auto it = oauth.find(key);
    if (it != oauth.end() && !it->is_null() && !printable_string(*it, k_max_short_field))
      return std::string("its ") + key + " is not a short printable string";
  }
  if (auto it = oauth.find("isMax"); it != oauth.end() && !it->is_boolean()) return "its isMax is not true or false";
  if (auto it = oauth.find("refreshTokenExpiresAt");
      it != oauth.end() && !it->is_null() && !whole_number<std::int64_t>(*it))
    return "its refreshTokenExpiresAt is not a whole number";
  return {};
}

/// The file as a JSON object, or nullopt (with `why`) when it is not one.
std::optional<json> parse_object(std::string_view text, std::string* why) {
  json::parser_callback_t depth_guard = [](int depth, json::parse_event_t, json&) {
    if (depth > k_max_json_depth) throw std::length_error("too deep");
    return true;
  };
  try {
    auto j = json::parse(text.begin(), text.end(), depth_guard);
    if (!j.is_object()) {
      wipe_json(j);
      if (why != nullptr) *why = "it is not a JSON object";
      return std::nullopt;
    }
    return j;
  } catch (const std::exception&) {
    if (why != nullptr) *why = "it is not well-formed JSON (or nests too deep)";
    return std::nullopt;
  }
}

/// Whether two uuids are equal, whatever the case of their hexadecimal digits.
bool same_uuid(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

struct Wiper {
  json& j;
  ~Wiper() { wipe_json(j); }
};

Judgement refuse(std::string why) {
  Judgement j;
  j.reason = std::move(why);
  return j;
}

}  // namespace

void wipe(void* data, std::size_t size) noexcept {
  if (data != nullptr && size != 0) explicit_bzero(data, size);
}

void wipe_json(nlohmann::json& j) noexcept {
  if (j.is_string()) {
    auto& s = j.get_ref<std::string&>();
    wipe(s.data(), s.size());
  } else if (j.is_structured()) {
    for (auto& v : j) wipe_json(v);
  }
}

bool Login::same_pair(const Login& other) const {
  return fields.value("accessToken", json()) == other.fields.value("accessToken", json()) &&
         fields.value("refreshToken", json()) == other.fields.value("refreshToken", json());
}

Judgement judge_login(std::string_view file, std::int64_t now_ms, std::string_view account_uuid) {
  if (file.empty()) return refuse("it is empty (being rewritten?)");
  if (file.size() > k_max_file_size) return refuse("it is larger than 64 KiB");
  std::string why;
  auto doc = parse_object(file, &why);
  if (!doc) return refuse(why);
  Wiper w{*doc};
  auto oauth = doc->find("claudeAiOauth");
  if (oauth == doc->end() || !oauth->is_object()) return refuse("it holds no OAuth login");
  if (!vault::is_token(*oauth, "accessToken")) return refuse("its access token is missing or malformed");
  if (!vault::is_token(*oauth, "refreshToken")) return refuse("its refresh token is missing or malformed");
  auto exp_it = oauth->find("expiresAt");
  const auto expires = exp_it == oauth->end() ? std::nullopt : whole_number<std::int64_t>(*exp_it);
  if (!expires) return refuse("its expiresAt is not a whole number");
  if (*expires > now_ms + k_max_token_lifetime_ms) return refuse("its expiresAt is more than 24 hours away");
  if (auto bad = other_fields_refusal(*oauth); !bad.empty()) return refuse(std::move(bad));
  if (!account_uuid.empty()) {
    auto acc = oauth->find("accountUuid");
    if (acc != oauth->end() && !(acc->is_string() && same_uuid(acc->get_ref<const std::string&>(), account_uuid)))
      return refuse("its accountUuid names another account");
  }
  Judgement j;
  j.login.emplace();
  j.login->expires_at = *expires;
  for (const char* field : k_moving_fields) {
    auto it = oauth->find(field);
    if (it != oauth->end()) j.login->fields[field] = *it;
  }
  return j;
}

bool is_newer(const Login& source, const Judgement& target) {
  if (!target.login) return true;
  return !source.same_pair(*target.login) && source.expires_at > target.login->expires_at;
}

std::optional<SecretString> compose(const Login& source, std::optional<std::string_view> target_file) {
  json out = json::object();
  if (target_file) {
    auto doc = parse_object(*target_file, nullptr);
    if (!doc) return std::nullopt;  // present but not an object: maybe half written; never rebuilt from {}
    out = std::move(*doc);
  }
  Wiper w{out};
  auto oauth = out.find("claudeAiOauth");
  if (oauth == out.end() || !oauth->is_object()) {
    out["claudeAiOauth"] = json::object();
    oauth = out.find("claudeAiOauth");
  }
  for (const char* field : k_moving_fields) {
    auto old = oauth->find(field);
    if (old != oauth->end()) wipe_json(*old);
    auto from = source.fields.find(field);
    if (from != source.fields.end()) {
      (*oauth)[field] = *from;
    } else if (old != oauth->end()) {
      oauth->erase(old);
    }
  }
  return SecretString(out.dump(-1, ' ', false, json::error_handler_t::replace));
}

std::string utc(std::int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return "an unrepresentable date";
  char buf[32];
  if (std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return "an unrepresentable date";
  return buf;
}

}  // namespace pb::relay
