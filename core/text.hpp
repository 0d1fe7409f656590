#pragma once
// Text that came from outside (an image, a container, the Docker daemon, a
// file on disk) on its way into a message or onto a terminal.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace pb {

/// For error messages: printable ASCII only (every other byte becomes '?'),
/// at most `max` characters and then "...".
std::string printable(std::string_view s, std::size_t max = 300);

/// For a report on a terminal: control characters (C0 and DEL) shown as
/// "\xNN", everything else (UTF-8 names included) kept.
std::string escape_controls(std::string_view s);

/// The code points of well-formed UTF-8 (no overlong forms, no surrogates,
/// nothing above U+10FFFF); nullopt for anything else.
std::optional<std::u32string> decode_utf8(std::string_view s);

/// A decimal number ("2.5", "1e3", "-3"), the whole of `s` and nothing else,
/// whatever the locale; nullopt otherwise. (libc++, macOS's standard library,
/// has no std::from_chars for floating point.)
std::optional<double> parse_decimal(std::string_view s);

}  // namespace pb
