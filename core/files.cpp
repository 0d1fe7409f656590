#include "core/files.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "core/c_handles.hpp"
#include "core/fault.hpp"
#include "core/platform.hpp"

namespace fs = std::filesystem;

namespace pb {
namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

std::string random_suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char k_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s(10, 'x');
  for (auto& c : s) c = k_chars[rng() % (sizeof(k_chars) - 1)];
  return s;
}

Error io_error(std::string_view op, const fs::path& path, int err) {
  ErrorKind kind = ErrorKind::failure;
  return fail(kind, std::string(op) + " " + path.string() + " failed: " + errno_text(err));
}

}  // namespace

AtomicFile::AtomicFile(fs::path target, fs::path temp, int fd)
    : m_target(std::move(target)), m_temp(std::move(temp)), m_fd(fd) {}

AtomicFile::AtomicFile(AtomicFile&& o) noexcept
    : m_target(std::move(o.m_target)),
      m_temp(std::move(o.m_temp)),
      m_fd(std::exchange(o.m_fd, -1)),
      m_committed(std::exchange(o.m_committed, true)) {}

Result<AtomicFile> AtomicFile::create(const fs::path& target, unsigned mode) {
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  for (int attempt = 0; attempt < 16; ++attempt) {
    fs::path temp = dir / ("." + target.filename().string() + ".tmp-" + random_suffix());
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd >= 0) {
      ::fchmod(fd, mode);  // the umask must not widen or narrow what we asked for
      return AtomicFile(target, std::move(temp), fd);
    }
    if (errno != EEXIST) return io_error("creating a temp file for", target, errno);
  }
  return fail(ErrorKind::failure, "could not create a temp file for " + target.string());
}

AtomicFile::~AtomicFile() {
  if (m_fd >= 0) ::close(m_fd);
  if (!m_committed && !m_temp.empty()) ::unlink(m_temp.c_str());
}

Status AtomicFile::write(ByteSpan data) {
  const auto* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(m_fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("writing", m_target, errno);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return {};
}

Status AtomicFile::sync_and_close() {
  PB_CRASH_POINT("files.atomic.written");
  if (platform::sync_file(m_fd) != 0) return io_error("syncing", m_target, errno);
  if (::close(std::exchange(m_fd, -1)) != 0) return io_error("closing", m_target, errno);
  PB_CRASH_POINT("files.atomic.synced");
  return {};
}

Status AtomicFile::commit() {
  PB_TRY_STATUS(sync_and_close());
  if (::rename(m_temp.c_str(), m_target.c_str()) != 0) return io_error("renaming onto", m_target, errno);
  m_committed = true;
  PB_CRASH_POINT("files.atomic.renamed");
  PB_TRY_STATUS(fsync_dir(m_target.has_parent_path() ? m_target.parent_path() : fs::path(".")));
  PB_CRASH_POINT("files.atomic.dir_synced");
  return {};
}

Status AtomicFile::commit_new() {
  PB_TRY_STATUS(sync_and_close());
  // link(2) fails with EEXIST instead of replacing: the target appears complete or not at all.
  if (::link(m_temp.c_str(), m_target.c_str()) != 0) {
    if (errno == EEXIST) return fail(ErrorKind::conflict, m_target.string() + " already exists");
    return io_error("linking", m_target, errno);
  }
  PB_CRASH_POINT("files.atomic.linked");
  ::unlink(m_temp.c_str());
  m_committed = true;
  PB_TRY_STATUS(fsync_dir(m_target.has_parent_path() ? m_target.parent_path() : fs::path(".")));
  PB_CRASH_POINT("files.atomic.dir_synced");
  return {};
}

bool is_temp_file_name(std::string_view name, std::string_view target_prefix) {
  constexpr std::string_view k_tmp = ".tmp-";
  constexpr std::size_t k_suffix = 10;
  if (name.size() < 1 + target_prefix.size() + k_tmp.size() + k_suffix || name.front() != '.') return false;
  if (name.substr(1, target_prefix.size()) != target_prefix) return false;
  if (name.substr(name.size() - k_suffix - k_tmp.size(), k_tmp.size()) != k_tmp) return false;
  for (char c : name.substr(name.size() - k_suffix))
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

std::size_t remove_temp_files(const fs::path& dir, std::string_view target_prefix) {
  std::size_t removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (is_temp_file_name(name, target_prefix) && ::unlink(it->path().c_str()) == 0) ++removed;
  }
  return removed;
}

Status write_file_atomic(const fs::path& target, ByteSpan data, unsigned mode) {
  PB_TRY(auto file, AtomicFile::create(target, mode));
  PB_TRY_STATUS(file.write(data));
  return file.commit();
}

Result<SecureBytes> read_file(const fs::path& path, std::uint64_t max_size) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) {
    if (errno == ENOENT) return fail(ErrorKind::not_found, "file " + path.string() + " does not exist");
    return io_error("opening", path, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return io_error("reading", path, errno);
  if (!S_ISREG(st.st_mode)) return fail(ErrorKind::unsafe_input, path.string() + " is not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > max_size)
    return fail(ErrorKind::unsafe_input, path.string() + " is larger than " + std::to_string(max_size) + " bytes");
  SecureBytes out;
  out.reserve(static_cast<std::size_t>(st.st_size));
  std::uint8_t buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      secure_wipe(buf, sizeof buf);
      return io_error("reading", path, errno);
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_size) {
      secure_wipe(buf, sizeof buf);
      return fail(ErrorKind::unsafe_input, path.string() + " is larger than " + std::to_string(max_size) + " bytes");
    }
    out.insert(out.end(), buf, buf + n);
  }
  secure_wipe(buf, sizeof buf);
  return out;
}

Status fsync_dir(const fs::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return io_error("opening directory", dir, errno);
  if (platform::sync_file(fd.get()) != 0 && errno != EINVAL) return io_error("syncing directory", dir, errno);
  return {};
}

FileLock::FileLock(FileLock&& o) noexcept : m_fd(std::exchange(o.m_fd, -1)) {}

FileLock::~FileLock() {
  if (m_fd >= 0) ::close(m_fd);  // closing the descriptor releases the flock
}

Result<FileLock> FileLock::acquire(const fs::path& path, Mode mode) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return io_error("opening lock file", path, errno);
  const int op = mode == Mode::exclusive ? LOCK_EX : LOCK_SH;
  while (::flock(fd, op) != 0) {
    if (errno == EINTR) continue;
    int err = errno;
    ::close(fd);
    return io_error("locking", path, err);
  }
  return FileLock(fd);
}

Status check_private_dir(const fs::path& dir, std::string_view what) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return io_error(std::string("checking ") + std::string(what), dir, errno);
  if (!S_ISDIR(st.st_mode))
    return fail(ErrorKind::unsafe_input, std::string(what) + " " + dir.string() +
                                             " is not a directory; remove it or point the setting elsewhere");
  if (st.st_uid != ::geteuid())
    return fail(ErrorKind::unsafe_input, std::string(what) + " " + dir.string() + " belongs to uid " +
                                             std::to_string(st.st_uid) + ", not to you; use a directory of your own");
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return fail(ErrorKind::unsafe_input, std::string(what) + " " + dir.string() +
                                             " can be written by others; fix it with: chmod 700 " + dir.string());
  return {};
}

namespace {

/// One step of check_parent_dirs(): `dir` exists (lstat in `st`); `own` is path's own directory.
Status check_ancestor(const fs::path& dir, const struct stat& st, const fs::path& path, std::string_view what,
                      bool strict) {
  const uid_t me = ::geteuid();
  auto refuse = [&](const std::string& why, const std::string& fix) {
    return fail(ErrorKind::unsafe_input, std::string(what) + " " + path.string() + " is refused: " + dir.string() +
                                             " above it " + why + "; " + fix);
  };
  if (st.st_uid != 0 && st.st_uid != me)
    return refuse(
        (S_ISLNK(st.st_mode) ? "is a symlink that belongs to uid " : "belongs to uid ") + std::to_string(st.st_uid),
        "use a location whose parents belong to you or root");
  if (S_ISLNK(st.st_mode)) return {};
  const bool others_write = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
  const bool sticky_root = (st.st_mode & S_ISVTX) != 0 && st.st_uid == 0;
  if (others_write && (strict || !sticky_root))
    return refuse("can be written by others, who could replace what is below it",
                  "fix it with: chmod go-w " + dir.string() + " (or use a location only you and root can write)");
  return {};
}

/// Walks the existing directories from "/" down to `p`'s parent.
Status walk_ancestors(const fs::path& p, const fs::path& shown, std::string_view what, bool own_dir_private) {
  const fs::path parent = p.parent_path();
  fs::path cur;
  for (const auto& part : parent) {
    cur /= part;
    struct stat st {};
    if (::lstat(cur.c_str(), &st) != 0) return {};  // not there yet: created below an already checked one
    PB_TRY_STATUS(check_ancestor(cur, st, shown, what, own_dir_private && cur == parent));
  }
  return {};
}

}  // namespace

Status check_parent_dirs(const fs::path& path, std::string_view what, bool own_dir_private) {
  std::error_code ec;
  const fs::path abs = fs::absolute(path, ec).lexically_normal();
  if (ec) return fail(ErrorKind::failure, "resolving " + path.string() + " failed: " + ec.message());
  // As written (symlinks on the way are checked as links) …
  PB_TRY_STATUS(walk_ancestors(abs, path, what, own_dir_private));
  // … and as resolved, where a symlink leads.
  fs::path existing = abs.parent_path();
  while (!existing.empty() && existing != existing.root_path() && !fs::exists(existing, ec))
    existing = existing.parent_path();
  const fs::path real = fs::canonical(existing, ec);
  if (ec || real == existing) return {};
  return walk_ancestors(real / abs.lexically_relative(existing), path, what, own_dir_private);
}

Status ensure_private_dir(const fs::path& dir, std::string_view what) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    // Parents the user does not own are not ours to tighten; only the leaf is made 0700.
    fs::create_directories(dir, ec);
    if (ec)
      return fail(ErrorKind::failure,
                  "creating " + std::string(what) + " " + dir.string() + " failed: " + ec.message());
    if (::chmod(dir.c_str(), 0700) != 0) return io_error("setting the mode of", dir, errno);
  }
  return check_private_dir(dir, what);
}

}  // namespace pb
