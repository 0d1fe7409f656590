#pragma once
// Text that came from outside (an image, a container, the Docker daemon, a
// file on disk) on its way into a message or onto a terminal.

#include <cstddef>
#include <string>
#include <string_view>

namespace pb {

/// For error messages: printable ASCII only (every other byte becomes '?'),
/// at most `max` characters and then "...".
std::string printable(std::string_view s, std::size_t max = 300);

/// For a report on a terminal: control characters (C0 and DEL) shown as
/// "\xNN", everything else (UTF-8 names included) kept.
std::string escape_controls(std::string_view s);

}  // namespace pb
