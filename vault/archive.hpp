#pragma once
// In-memory tar archives of a credential's files (libarchive inside).
//
// The reader treats its input as hostile: only regular files whose names
// core/names.hpp's is_plain_entry_name() accepts (relative, UTF-8, no "..",
// "." or empty components, no leading "./"), at most max_name_size bytes; no
// links, devices or FIFOs; bounded entry count and sizes. Anything else is refused
// with ErrorKind::unsafe_input and nothing is returned.

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/secure_buffer.hpp"

namespace pb::vault {

struct ArchiveFile {
  std::string name;  ///< relative path inside the archive, '/'-separated
  SecureBytes data;
};

struct ArchiveLimits {
  std::size_t max_entries = 64;
  std::uint64_t max_file_size = 4u << 20;    ///< per file
  std::uint64_t max_total_size = 16u << 20;  ///< all files together
  std::size_t max_name_size = 255;
};

/// Writes `files` as a ustar/pax archive into memory (mode 0600, mtime 0, uid/gid 0).
Result<SecureBytes> write_tar(const std::vector<ArchiveFile>& files);
/// Reads an archive from memory under `limits`.
Result<std::vector<ArchiveFile>> read_tar(ByteSpan tar, const ArchiveLimits& limits = {});

}  // namespace pb::vault
