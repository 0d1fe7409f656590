// Session names, and the names of the volumes and containers of a session (dispatch.hpp).

#include <algorithm>
#include <cctype>

#include "broker/dispatch/dispatch.hpp"
#include "broker/objects/labels.hpp"
#include "core/text.hpp"
#include "vault/crypto.hpp"

namespace pb::broker::dispatch {

namespace {

/// What earlier releases took, and used as it is in volume names.
bool is_docker_safe_session(std::string_view s) {
  if (s.empty() || s.size() > 64 || !std::isalnum(static_cast<unsigned char>(s.front()))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

/// A letter or digit outside ASCII, as far as it can be told without the
/// Unicode tables: not a control, a space, a symbol or punctuation of the
/// blocks where those live (Latin-1, General Punctuation and the symbol
/// blocks up to the arrows, CJK punctuation, specials), nor a private-use or
/// noncharacter code point. para takes what Rust's char::is_alphanumeric
/// says; a name that slips through here is still made Docker-safe by session_key().
bool is_non_ascii_alphanumeric(char32_t c) {
  if (c < 0xa0) return false;  // C1 controls
  if (c <= 0xbf) return c == 0xaa || c == 0xb2 || c == 0xb3 || c == 0xb5 || c == 0xb9 || c == 0xba || c >= 0xbc;
  if (c == 0xd7 || c == 0xf7) return false;      // multiplication and division signs
  if (c >= 0x2000 && c <= 0x206f) return false;  // general punctuation, spaces, format controls
  if (c >= 0x20a0 && c <= 0x20ff) return false;  // currency symbols
  if (c >= 0x2190 && c <= 0x2bff) return false;  // arrows, mathematical and technical symbols, box drawing
  if (c >= 0x2e00 && c <= 0x2e7f) return false;  // supplemental punctuation
  if (c >= 0x3000 && c <= 0x3003) return false;  // ideographic space and punctuation
  if (c >= 0xe000 && c <= 0xf8ff) return false;  // private use
  if (c >= 0xfe00 && c <= 0xfe0f) return false;  // variation selectors
  if (c == 0xfeff || (c >= 0xfff0 && c <= 0xffff)) return false;             // BOM, specials
  if ((c & 0xfffe) == 0xfffe || (c >= 0xfdd0 && c <= 0xfdef)) return false;  // noncharacters
  if (c >= 0xf0000) return false;                                            // supplementary private use
  return true;
}

}  // namespace

bool is_valid_session(std::string_view s) {
  if (is_docker_safe_session(s)) return true;
  if (s.empty() || s.size() > 128) return false;
  auto cps = decode_utf8(s);
  if (!cps) return false;
  return std::all_of(cps->begin(), cps->end(), [](char32_t c) {
    if (c < 0x80) return std::isalnum(static_cast<int>(c)) != 0 || c == '_' || c == '.' || c == '-';
    return is_non_ascii_alphanumeric(c);
  });
}

Status check_session(std::string_view s) {
  if (is_valid_session(s)) return {};
  return fail(ErrorKind::usage, "'" + printable(s, 140) +
                                    "' is not a valid session name (1-128 bytes of letters and digits of any "
                                    "script, _ - and .)");
}

std::string session_key(std::string_view s) {
  if (is_docker_safe_session(s)) return std::string(s);
  std::string ascii;
  for (char c : s)
    if (ascii.size() < 40 && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) ascii += c;
  const std::string hash = vault::to_hex(vault::sha256(as_bytes(std::string(s)))).substr(0, 16);
  return ascii.empty() ? hash : ascii + "-" + hash;
}

namespace {
std::string owner_hash(std::uint32_t uid, std::uint32_t gid) {
  const std::string key = std::to_string(uid) + ":" + std::to_string(gid);
  return vault::to_hex(vault::sha256(as_bytes(key))).substr(0, 12);
}
constexpr std::string_view k_login_prefix = "para-broker-user-";
}  // namespace

std::string login_volume_name(const std::string& credential_id, std::uint32_t uid, std::uint32_t gid) {
  return std::string(k_login_prefix) + credential_id + "-" + owner_hash(uid, gid);
}

std::string legacy_login_volume_name(const std::string& credential_id, std::uint32_t uid, std::uint32_t gid) {
  return "para-broker-shared-" + credential_id + "-" + owner_hash(uid, gid);
}

std::string lock_volume_name(const std::string& credential_id) {
  return "para-broker-lock-" + credential_id;
}

bool is_beside_lock(const std::string& login_volume) {
  return login_volume.starts_with(k_login_prefix);
}

std::string hold_volume_name(const std::string& session) {
  return "para-broker-hold-" + session_key(session);
}

std::string keeper_name(const std::string& volume) {
  const std::string_view prefix = "para-broker-";
  const std::string_view rest = std::string_view(volume).starts_with(prefix)
                                    ? std::string_view(volume).substr(prefix.size())
                                    : std::string_view(volume);
  return std::string(labels::k_container_prefix) + "keeper-" + std::string(rest);
}

std::string legacy_keeper_name(const std::string& volume) {
  return volume + "-keeper";
}

}  // namespace pb::broker::dispatch
