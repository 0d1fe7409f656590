#pragma once
// Finds the marks of a Claude Code login in a file's bytes, fed block by block
// in bounded memory: the last k_overlap bytes of each block are kept, so a
// mark that straddles two blocks is found all the same. Only what was found
// is kept (a set of kinds), never the bytes that matched.
//
// What counts as a mark, for files of any name:
//   - a token: "sk-ant-oat", "sk-ant-ort" or "sk-ant-api" followed by at
//     least k_min_token_tail characters of [A-Za-z0-9_-] (the bare prefixes
//     occur in Claude Code's own program text, real tokens are ~100 long);
//   - the JSON key "claudeAiOauth" followed by ':' (the object of .credentials.json);
// and, for files named .claude.json (or .claude.json.<suffix>, its backups):
//   - the JSON keys "oauthAccount" or "primaryApiKey" followed by ':'.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pb::broker::audit {

enum class MarkKind : std::uint8_t {
  credentials_file,  ///< a file named .credentials.json (found by name)
  claude_ai_oauth,   ///< "claudeAiOauth": the OAuth login object
  access_token,      ///< sk-ant-oat…
  refresh_token,     ///< sk-ant-ort…
  api_key,           ///< sk-ant-api…
  oauth_account,     ///< "oauthAccount" in a .claude.json
  primary_api_key,   ///< "primaryApiKey" in a .claude.json
};
inline constexpr std::size_t k_mark_kinds = 7;

/// Stable name of a kind, as in the JSON report ("credentials-file", "sk-ant-oat", …).
std::string_view mark_name(MarkKind kind);

/// A set of kinds.
using MarkSet = std::uint32_t;
inline constexpr MarkSet mark_bit(MarkKind k) {
  return MarkSet{1} << static_cast<unsigned>(k);
}
/// The names of the kinds in `set`, in enum order.
std::vector<std::string> mark_names(MarkSet set);

inline constexpr std::size_t k_min_token_tail = 20;
inline constexpr std::size_t k_max_key_spacing = 16;  ///< whitespace allowed between a key and its ':'
inline constexpr std::size_t k_overlap = 64;          ///< longer than any mark

/// Whether a file of this (layer-relative) path is a .claude.json or one of its backups.
bool is_claude_json_name(std::string_view path);
/// Whether a file of this path is named .credentials.json.
bool is_credentials_name(std::string_view path);

class ContentMatcher {
 public:
  /// `claude_json`: also look for the .claude.json login keys.
  explicit ContentMatcher(bool claude_json) : m_claude_json(claude_json) {}

  /// Scans the next block of the file.
  void feed(std::span<const std::byte> block);
  /// Ends the file (a mark cut short by the end of the file is no mark).
  void finish();
  /// What was found so far.
  MarkSet found() const { return m_found; }

 private:
  void scan(std::string_view buf);
  void keep_tail(std::string_view block);

  bool m_claude_json;
  MarkSet m_found = 0;
  std::string m_carry;  ///< the last < k_overlap bytes seen
};

/// Scans a whole buffer (convenience for tests and small files).
MarkSet scan_bytes(std::string_view bytes, bool claude_json);

}  // namespace pb::broker::audit
