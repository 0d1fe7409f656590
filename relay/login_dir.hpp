#pragma once
// One login directory the relay serves: a user's login volume, mounted in the
// relay's container. Whatever runs as that user can put anything in it, so:
//
//   - the directory is opened once (O_DIRECTORY|O_NOFOLLOW) and every file
//     operation is relative to that descriptor: nothing outside it is read or
//     written, and no symbolic link is followed;
//   - .credentials.json is read only when it is a regular file with one link,
//     at most k_max_file_size bytes, opened O_NOFOLLOW|O_NONBLOCK (a FIFO does
//     not block the relay; a device or FIFO is refused by its fstatat before
//     it is opened);
//   - it is written by a temp file of its own (O_CREAT|O_EXCL|O_NOFOLLOW,
//     0600), given mode 0600 and then the directory's owner (in that order:
//     the relay has CAP_CHOWN but not CAP_FOWNER), fsynced, and renamed over
//     .credentials.json; the directory is fsynced afterwards.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"  // header only: Result and Error
#include "relay/rules.hpp"

namespace pb::relay {

/// The name Claude Code keeps its login under, in every login directory.
inline constexpr const char* k_credentials_file = ".credentials.json";

/// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : m_fd(fd) {}
  Fd(Fd&& o) noexcept : m_fd(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const noexcept { return m_fd; }
  explicit operator bool() const noexcept { return m_fd >= 0; }
  int release() noexcept {
    int fd = m_fd;
    m_fd = -1;
    return fd;
  }
  void reset(int fd = -1) noexcept;

 private:
  int m_fd = -1;
};

/// What a directory's .credentials.json held when it was read.
struct FileRead {
  enum class Status {
    ok,       ///< `text` is the file's content
    absent,   ///< there is no .credentials.json
    refused,  ///< it is not a file the relay reads: `reason` says why
  };
  Status status = Status::absent;
  SecretString text;
  std::string reason;

  bool operator==(const FileRead& o) const { return status == o.status && text == o.text && reason == o.reason; }
};

class LoginDir {
 public:
  /// Opens `path` (a directory, not a symbolic link) for the owner `uid:gid`.
  static Result<LoginDir> open(std::string path, uid_t uid, gid_t gid);

  const std::string& path() const noexcept { return m_path; }
  int fd() const noexcept { return m_fd.get(); }
  uid_t uid() const noexcept { return m_uid; }
  gid_t gid() const noexcept { return m_gid; }

  /// Reads .credentials.json under the rules above.
  FileRead read() const;

  /// Replaces .credentials.json by `text` (owner uid:gid, mode 0600), unless
  /// the file no longer is what `judged` read: then returns false and writes
  /// nothing, and the caller judges again. Errors name the step, never the text.
  /// The new file is visible as soon as it is renamed into place; its fsync
  /// (and the directory's) comes after that, or, with `unsynced`, is left to
  /// the caller (the file and the directory are put there), so that copies
  /// into several directories become visible one right after the other.
  Result<bool> replace(std::string_view text, const FileRead& judged, std::vector<Fd>* unsynced = nullptr) const;

  /// Removes the temp files a relay killed mid-copy left (`.credentials.json.relay-*`:
  /// a login in them, perhaps still root's). How many were removed.
  std::size_t remove_stale_temps() const;

  /// Opens the path again, after the directory was replaced or unmounted.
  Result<void> reopen();

  /// Whether `path` still names the directory this descriptor holds.
  bool path_is_current() const;

 private:
  LoginDir(std::string path, Fd fd, uid_t uid, gid_t gid)
      : m_path(std::move(path)), m_fd(std::move(fd)), m_uid(uid), m_gid(gid) {}

  std::string m_path;
  Fd m_fd;
  uid_t m_uid = 0;
  gid_t m_gid = 0;
};

}  // namespace pb::relay
