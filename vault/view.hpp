#pragma once
// How stored credentials are shown (list, import, audit): masked accounts and
// readable times. Presentation only, no secrets.

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>

#include "vault/entry.hpp"

namespace pb::vault {

/// "jane.doe@example.com" -> "j***@example.com"; empty stays "-".
inline std::string mask_account(const std::string& account) {
  if (account.empty()) return "-";
  auto at = account.find('@');
  if (at == std::string::npos || at == 0) return account.substr(0, 1) + "***";
  return account.substr(0, 1) + "***" + account.substr(at);
}

/// Milliseconds since the epoch as UTC "YYYY-MM-DD HH:MM", or "-".
inline std::string format_time(std::optional<std::int64_t> ms) {
  if (!ms) return "-";
  std::time_t t = static_cast<std::time_t>(*ms / 1000);
  std::tm tm{};
  if (::gmtime_r(&t, &tm) == nullptr) return "-";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

/// When an entry's login was replaced and the replaced one is kept (list,
/// audit): one line saying so and how to put it back; empty when none is kept.
inline std::string previous_note(const vault::EntryMeta& m) {
  if (!m.previous) return {};
  return "the login of '" + m.name + "' was replaced on " + format_time(m.previous->replaced_at) + " UTC by one from " +
         m.source + "; 'para-broker vault restore " + m.name + "' puts back the one before (from " +
         m.previous->source + ")";
}

}  // namespace pb::vault
