#pragma once
// Claude Code version numbers: MAJOR.MINOR.PATCH with an optional suffix
// ("-beta.1", "+build"), compared numerically on the three numbers.

#include <compare>
#include <optional>
#include <string>
#include <string_view>

namespace pb::probes {

struct Version {
  unsigned major = 0;
  unsigned minor = 0;
  unsigned patch = 0;
  std::string suffix;  ///< pre-release or build text after the numbers, kept for display

  /// Orders by the numbers only: a suffix does not move a build between rules.
  std::strong_ordering operator<=>(const Version& o) const noexcept;
  bool operator==(const Version& o) const noexcept { return (*this <=> o) == 0; }
  std::string to_string() const;
};

/// Parses "1.0.31", "2.1.332-beta.1"; nullopt for anything else (also
/// numbers above 99999, leading "v", whitespace or more than 64 characters).
std::optional<Version> parse_version(std::string_view text);

}  // namespace pb::probes
