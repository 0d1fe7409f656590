#include "broker/audit/content_matcher.hpp"

#include <string.h>  // memmem (GNU)

#include <array>

namespace pb::broker::audit {
namespace {

constexpr std::array<std::string_view, k_mark_kinds> k_names = {
    "credentials-file", "claudeAiOauth", "sk-ant-oat", "sk-ant-ort", "sk-ant-api", "oauthAccount", "primaryApiKey"};

bool is_token_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string_view basename_of(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

/// Calls f(pos) for every occurrence of `needle` in `hay`.
template <typename F>
void for_each_occurrence(std::string_view hay, std::string_view needle, F&& f) {
  const char* base = hay.data();
  std::size_t from = 0;
  while (from + needle.size() <= hay.size()) {
    const void* hit = ::memmem(base + from, hay.size() - from, needle.data(), needle.size());
    if (hit == nullptr) return;
    const auto pos = static_cast<std::size_t>(static_cast<const char*>(hit) - base);
    f(pos);
    from = pos + 1;
  }
}

enum class Verdict { yes, no, incomplete };

/// Whether what follows a quoted JSON key (from `after`) is optional spacing and ':'.
Verdict key_followed_by_colon(std::string_view buf, std::size_t after) {
  for (std::size_t i = after, n = 0; n <= k_max_key_spacing; ++i, ++n) {
    if (i >= buf.size()) return Verdict::incomplete;
    if (buf[i] == ':') return Verdict::yes;
    if (!is_space(buf[i])) return Verdict::no;
  }
  return Verdict::no;
}

}  // namespace

std::string_view mark_name(MarkKind kind) {
  return k_names.at(static_cast<std::size_t>(kind));
}

std::vector<std::string> mark_names(MarkSet set) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < k_mark_kinds; ++i)
    if ((set & (MarkSet{1} << i)) != 0) out.emplace_back(k_names.at(i));
  return out;
}

bool is_claude_json_name(std::string_view path) {
  auto base = basename_of(path);
  return base == ".claude.json" || base.starts_with(".claude.json.");
}

bool is_credentials_name(std::string_view path) {
  return basename_of(path) == ".credentials.json";
}

void ContentMatcher::scan(std::string_view buf) {
  for_each_occurrence(buf, "sk-ant-", [&](std::size_t pos) {
    const std::size_t kind_at = pos + 7;
    if (kind_at + 3 > buf.size()) return;  // incomplete: the carried tail sees it again
    const std::string_view which = buf.substr(kind_at, 3);
    MarkKind kind;
    if (which == "oat") {
      kind = MarkKind::access_token;
    } else if (which == "ort") {
      kind = MarkKind::refresh_token;
    } else if (which == "api") {
      kind = MarkKind::api_key;
    } else {
      return;
    }
    std::size_t tail = 0;
    std::size_t i = kind_at + 3;
    while (i < buf.size() && tail < k_min_token_tail && is_token_char(buf[i])) {
      ++i;
      ++tail;
    }
    // A token cut short by the block's end is judged again with the carried tail.
    if (tail >= k_min_token_tail) m_found |= mark_bit(kind);
  });
  const auto key = [&](std::string_view quoted, MarkKind kind) {
    for_each_occurrence(buf, quoted, [&](std::size_t pos) {
      if (key_followed_by_colon(buf, pos + quoted.size()) == Verdict::yes) m_found |= mark_bit(kind);
    });
  };
  key("\"claudeAiOauth\"", MarkKind::claude_ai_oauth);
  if (m_claude_json) {
    key("\"oauthAccount\"", MarkKind::oauth_account);
    key("\"primaryApiKey\"", MarkKind::primary_api_key);
  }
}

void ContentMatcher::keep_tail(std::string_view block) {
  if (block.size() >= k_overlap) {
    m_carry.assign(block.substr(block.size() - k_overlap));
    return;
  }
  m_carry.append(block);
  if (m_carry.size() > k_overlap) m_carry.erase(0, m_carry.size() - k_overlap);
}

void ContentMatcher::feed(std::span<const std::byte> bytes) {
  const std::string_view block(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (block.empty()) return;
  if (!m_carry.empty()) {
    // Marks that start in the carried tail and end in this block: every mark is
    // shorter than k_overlap, so the first k_overlap bytes of the block suffice.
    std::string junction = m_carry;
    junction.append(block.substr(0, std::min(block.size(), k_overlap)));
    scan(junction);
  }
  scan(block);
  keep_tail(block);
}

void ContentMatcher::finish() {
  // Everything in the carried tail was scanned with its block; a mark cut
  // short by the end of the file is no mark.
  m_carry.clear();
}

MarkSet scan_bytes(std::string_view bytes, bool claude_json) {
  ContentMatcher m(claude_json);
  m.feed(std::as_bytes(std::span(bytes.data(), bytes.size())));
  m.finish();
  return m.found();
}

}  // namespace pb::broker::audit
