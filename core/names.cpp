#include "core/names.hpp"

#include <algorithm>
#include <cstdint>

#include "core/text.hpp"

namespace pb {

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    std::uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1Fu) : len == 3 ? (c & 0x0Fu) : (c & 0x07u);
    for (std::size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

namespace {

/// Calls `part` for every '/'-separated component; false as soon as it does.
template <class F>
bool each_component(std::string_view path, F part) {
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (!part(path.substr(start, end - start))) return false;
    start = end + 1;
  }
  return true;
}

}  // namespace

std::optional<std::string_view> clean_entry_name(std::string_view name) {
  while (name.size() >= 2 && name.substr(0, 2) == "./") name.remove_prefix(2);
  while (!name.empty() && name.back() == '/') name.remove_suffix(1);
  if (name.empty() || name == ".") return std::string_view();
  if (name.front() == '/' || name.size() > k_max_entry_name || !valid_utf8(name)) return std::nullopt;
  if (std::any_of(name.begin(), name.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\'; }))
    return std::nullopt;
  const bool ok = each_component(name, [](std::string_view part) {
    return !part.empty() && part != "." && part != ".." && part.size() <= k_max_name_component;
  });
  if (!ok) return std::nullopt;
  return name;
}

bool is_safe_entry_name(std::string_view name) {
  auto clean = clean_entry_name(name);
  return clean && !clean->empty();
}

bool is_plain_entry_name(std::string_view name) {
  auto clean = clean_entry_name(name);
  return clean && !clean->empty() && *clean == name;
}

bool is_clean_absolute_path(std::string_view path) {
  if (path.empty() || path.front() != '/' || path.size() > k_max_image_path) return false;
  const bool chars_ok = std::all_of(path.begin(), path.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
           std::string_view("/._-+@~").find(c) != std::string_view::npos;
  });
  if (!chars_ok) return false;
  return each_component(path.substr(1), [](std::string_view part) {
    return part != "." && part != ".." && part.size() <= k_max_name_component;
  });
}

Status check_clean_absolute_path(std::string_view path, std::string_view what) {
  if (is_clean_absolute_path(path)) return {};
  return fail(ErrorKind::unsafe_input,
              std::string(what) + " '" + printable(path, 120) +
                  "' is not a clean absolute path (only letters, digits and / . _ - + @ ~, no . or .. "
                  "components, at most " +
                  std::to_string(k_max_image_path) + " bytes); para-broker refuses to use it");
}

}  // namespace pb
