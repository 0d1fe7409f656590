#include "probes/version.hpp"

#include <charconv>

namespace pb::probes {

std::strong_ordering Version::operator<=>(const Version& o) const noexcept {
  if (auto c = major <=> o.major; c != 0) return c;
  if (auto c = minor <=> o.minor; c != 0) return c;
  return patch <=> o.patch;
}

std::string Version::to_string() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch) + suffix;
}

namespace {

bool parse_number(std::string_view& text, unsigned& out) {
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if (begin == end || *begin < '0' || *begin > '9') return false;
  auto [ptr, ec] = std::from_chars(begin, end, out);
  if (ec != std::errc{} || out > 99999) return false;
  text.remove_prefix(static_cast<std::size_t>(ptr - begin));
  return true;
}

bool suffix_ok(std::string_view s) {
  if (s.empty()) return true;
  if (s.front() != '-' && s.front() != '+') return false;
  if (s.size() == 1) return false;
  for (char c : s.substr(1))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == '-' ||
          c == '+'))
      return false;
  return true;
}

}  // namespace

std::optional<Version> parse_version(std::string_view text) {
  if (text.size() > 64) return std::nullopt;
  Version v;
  if (!parse_number(text, v.major)) return std::nullopt;
  if (text.empty() || text.front() != '.') return std::nullopt;
  text.remove_prefix(1);
  if (!parse_number(text, v.minor)) return std::nullopt;
  if (text.empty() || text.front() != '.') return std::nullopt;
  text.remove_prefix(1);
  if (!parse_number(text, v.patch)) return std::nullopt;
  if (!suffix_ok(text)) return std::nullopt;
  v.suffix = std::string(text);
  return v;
}

}  // namespace pb::probes
