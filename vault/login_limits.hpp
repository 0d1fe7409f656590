#pragma once
// The bounds a login read from somewhere hostile (a session's volume) must
// keep, shared by write-back (broker/dispatch/writeback) and the relay
// (relay/rules), which links nothing of the vault: header-only.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace pb::vault {

/// The longest access-token lifetime a login read back may claim, from now
/// (access tokens last about 8 hours): a far expiry would win every later
/// comparison and block every genuine refresh.
inline constexpr std::int64_t k_max_token_lifetime_ms = 24LL * 60 * 60 * 1000;

/// The longest token taken from a volume.
inline constexpr std::size_t k_max_token = 16u << 10;

/// Whether o[key] is a token as Claude Code writes one: a non-empty string
/// of printable ASCII without blanks, at most k_max_token bytes.
inline bool is_token(const nlohmann::json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_string()) return false;
  const auto& s = it->get_ref<const std::string&>();
  return !s.empty() && s.size() <= k_max_token && std::all_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
}

}  // namespace pb::vault
