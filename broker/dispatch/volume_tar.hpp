#pragma once
// Tar streams between the broker and a session volume (libarchive inside).
//
// Writing: the volume's whole tree is rendered in memory as one archive whose
// every entry (the volume root included) carries the image's runtime uid/gid,
// mode 0700 for directories and 0600 for files, so that a non-root Claude can
// rewrite its files and create its locks.
//
// Reading: whatever comes out of a container is hostile. Only directories and
// regular files are kept; symlinks, hardlinks, devices and FIFOs are skipped;
// a name that core/names.hpp's clean_entry_name() refuses (absolute, "..",
// control characters, over 4096 bytes) refuses the whole archive
// (ErrorKind::unsafe_input), as do too many entries or too many bytes (names
// count toward max_total_size as well as contents).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/secure_buffer.hpp"

namespace pb::broker {
class ByteReader;
}

namespace pb::broker::dispatch {

struct TreeEntry {
  std::string name;  ///< '/'-separated, relative, no "." or ".." components
  bool is_dir = false;
  SecureBytes data;  ///< files only
  /// Rendering only: non-empty makes the entry a symbolic link to this
  /// (relative) target; read_tree() never returns links.
  std::string link;
  /// Rendering only: the permission bits; 0 = 0700 for a directory, 0600 for a file.
  std::uint32_t mode = 0;
  struct Owner {
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
  };
  /// Rendering only: the entry's owner when it is not render_tree()'s uid:gid.
  std::optional<Owner> owner = std::nullopt;
};

struct TreeLimits {
  std::size_t max_entries = 2048;
  std::uint64_t max_file_size = 4u << 20;
  std::uint64_t max_total_size = 16u << 20;
};

/// Renders `entries` below the directory `root` (itself an entry; "" = no
/// root entry, names as they are) as a tar
/// archive in memory, every entry owned by uid:gid unless its `owner` says
/// otherwise, dirs 0700, files 0600 (links 0777, as the kernel ignores a
/// link's own mode) unless an entry's `mode` (or `root_mode`, for root) does.
Result<SecureBytes> render_tree(const std::string& root, const std::vector<TreeEntry>& entries, std::uint32_t uid,
                                std::uint32_t gid, std::uint32_t root_mode = 0);

/// Reads a tar stream from a container under `limits`; `what` names it in errors.
/// Names come back as in the archive, without a leading "./" and trailing '/'.
Result<std::vector<TreeEntry>> read_tree(ByteReader& body, const TreeLimits& limits, const std::string& what);
/// read_tree() of a tar held in memory.
Result<std::vector<TreeEntry>> read_tree(ByteSpan tar, const TreeLimits& limits, const std::string& what);

}  // namespace pb::broker::dispatch
