#pragma once
// Files on disk: atomic replacement, advisory locks, private directories.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/secure_buffer.hpp"

namespace pb {

/// Writes a file atomically: bytes go to a temp file in the same directory;
/// commit() fsyncs it, renames it over the target and fsyncs the directory.
/// Destroying an uncommitted AtomicFile removes the temp file (ccache style).
class AtomicFile {
 public:
  /// Opens a temp file beside `target` with `mode` (0600 by default).
  static Result<AtomicFile> create(const std::filesystem::path& target, unsigned mode = 0600);
  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  /// Appends bytes to the temp file.
  Status write(ByteSpan data);
  Status write(std::string_view data) { return write(as_bytes(data)); }
  /// Makes the new content durable and visible under the target name.
  Status commit();
  /// As commit(), but only if the target does not exist yet (conflict otherwise).
  Status commit_new();

 private:
  Status sync_and_close();
  AtomicFile(std::filesystem::path target, std::filesystem::path temp, int fd);
  std::filesystem::path m_target;
  std::filesystem::path m_temp;
  int m_fd = -1;
  bool m_committed = false;
};

/// Replaces `target` atomically with `data` (see AtomicFile).
Status write_file_atomic(const std::filesystem::path& target, ByteSpan data, unsigned mode = 0600);

/// Whether `name` is the temp file of an AtomicFile whose target's name starts
/// with `target_prefix` (".<target>.tmp-<10 of a-z0-9>").
bool is_temp_file_name(std::string_view name, std::string_view target_prefix = "");

/// Removes the temp files that killed writers left in `dir` for targets whose
/// names start with `target_prefix`; returns how many. The caller must hold
/// the lock that every writer of those targets holds, or it could remove the
/// temp file of a write in progress.
std::size_t remove_temp_files(const std::filesystem::path& dir, std::string_view target_prefix = "");

/// Reads a whole regular file, refusing files larger than `max_size`.
Result<SecureBytes> read_file(const std::filesystem::path& path, std::uint64_t max_size);

/// fsyncs a directory so that a rename or unlink in it is durable.
Status fsync_dir(const std::filesystem::path& dir);

/// An exclusive or shared flock(2) on a lock file, released on destruction.
class FileLock {
 public:
  enum class Mode { shared, exclusive };
  /// Blocks until the lock is held. Creates the lock file (0600) if needed.
  static Result<FileLock> acquire(const std::filesystem::path& path, Mode mode);
  FileLock(FileLock&& o) noexcept;
  FileLock& operator=(FileLock&&) = delete;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : m_fd(fd) {}
  int m_fd = -1;
};

/// Creates `dir` (and parents) with mode 0700 if missing, then checks that it
/// is a directory owned by us that no one else can write; a sentence says how
/// to fix it otherwise.
Status ensure_private_dir(const std::filesystem::path& dir, std::string_view what);

/// Checks an existing directory as ensure_private_dir() does, without creating it.
Status check_private_dir(const std::filesystem::path& dir, std::string_view what);

/// Checks every existing directory above `path`, as OpenSSH's StrictModes
/// does, both as written and with symlinks resolved: each must belong to root
/// or to us, and no one else may write it, except a sticky directory of root's
/// (as /tmp) that is not `path`'s own directory when `own_dir_private`.
/// A symlink on the way must belong to root or to us. unsafe_input (exit 7)
/// with a sentence saying how to fix it otherwise.
Status check_parent_dirs(const std::filesystem::path& path, std::string_view what, bool own_dir_private = false);

}  // namespace pb
