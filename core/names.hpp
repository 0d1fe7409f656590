#pragma once
// The one home of the rules for names and paths that come from outside: entry
// names in tar archives (from containers, images and the vault's own files)
// and absolute paths taken from an image (HOME, CLAUDE_CONFIG_DIR,
// XDG_CONFIG_HOME, /etc/passwd, probe output) before they reach a Docker
// argument, a mount spec, an API body or an archive request.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace pb {

/// Whole archive entry names are at most this long (PATH_MAX).
inline constexpr std::size_t k_max_entry_name = 4096;
/// One path component (NAME_MAX).
inline constexpr std::size_t k_max_name_component = 255;
/// An absolute path from an image.
inline constexpr std::size_t k_max_image_path = 1024;

/// Well-formed UTF-8: no overlong forms, surrogates or code points past U+10FFFF.
bool valid_utf8(std::string_view s);

/// An archive entry name as it may be used: leading "./" and trailing '/'
/// removed ("" for the archive's own root, "." or "./"); nullopt when the name
/// is absolute, has an empty, "." or ".." component, a control character or a
/// backslash, is not UTF-8, or is longer than k_max_entry_name (a component
/// longer than k_max_name_component).
std::optional<std::string_view> clean_entry_name(std::string_view name);

/// clean_entry_name() gives a name that is not the root.
bool is_safe_entry_name(std::string_view name);

/// A safe entry name already in its clean form: clean_entry_name() gives it
/// back unchanged (no leading "./", no trailing '/'), as the vault writes and
/// reads its own archives' names.
bool is_plain_entry_name(std::string_view name);

/// A path from an image that may go into a Docker argument or mount spec:
/// absolute, at most k_max_image_path bytes, only ASCII letters, digits and
/// `/ . _ - + @ ~` (so no `,` `=` quotes, blanks or control characters, which
/// would change the meaning of `--mount` or `--env`), and no "." or ".."
/// component. Empty components ("//") and a trailing '/' are harmless.
bool is_clean_absolute_path(std::string_view path);

/// is_clean_absolute_path() as an error (ErrorKind::unsafe_input, exit 7)
/// naming `what` (e.g. "the image's HOME") and the refused value, printably.
Status check_clean_absolute_path(std::string_view path, std::string_view what);

}  // namespace pb
