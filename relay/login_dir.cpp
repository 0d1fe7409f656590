#include "relay/login_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace pb::relay {
namespace {

std::string errno_text(int e) {
  return std::strerror(e);
}

Error io_error(const std::string& what, int e) {
  return fail(ErrorKind::failure, what + ": " + errno_text(e));
}

Result<Fd> open_directory(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return io_error("cannot open the directory " + path, errno);
  return fd;
}

/// A temp name no session can have guessed: .credentials.json.relay-<16 hex digits>.
std::string temp_name() {
  std::uint64_t r = 0;
  if (getrandom(&r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) {
    r = static_cast<std::uint64_t>(getpid()) * 0x9E3779B97F4A7C15ull ^ static_cast<std::uint64_t>(time(nullptr));
  }
  static const char* k_hex = "0123456789abcdef";
  std::string name = std::string(k_credentials_file) + ".relay-";
  for (int i = 0; i < 16; ++i) name += k_hex[(r >> (i * 4)) & 0xf];
  return name;
}

FileRead refused(std::string why) {
  FileRead r;
  r.status = FileRead::Status::refused;
  r.reason = std::move(why);
  return r;
}

/// The refusal for a file that is not a single-linked regular file, or empty when it is one.
std::string not_a_plain_file(const struct stat& st) {
  if (S_ISLNK(st.st_mode)) return "it is a symbolic link";
  if (!S_ISREG(st.st_mode)) return "it is not a regular file";
  if (st.st_nlink != 1) return "it has more than one link";
  if (st.st_size > static_cast<off_t>(k_max_file_size)) return "it is larger than 64 KiB";
  return {};
}

}  // namespace

void Fd::reset(int fd) noexcept {
  if (m_fd >= 0) ::close(m_fd);
  m_fd = fd;
}

Result<LoginDir> LoginDir::open(std::string path, uid_t uid, gid_t gid) {
  auto fd = open_directory(path);
  if (!fd) return std::move(fd).error();
  return LoginDir(std::move(path), std::move(*fd), uid, gid);
}

Result<void> LoginDir::reopen() {
  auto fd = open_directory(m_path);
  if (!fd) return std::move(fd).error();
  m_fd = std::move(*fd);
  return {};
}

bool LoginDir::path_is_current() const {
  struct stat held {
  }, now{};
  if (fstat(m_fd.get(), &held) != 0) return false;
  if (lstat(m_path.c_str(), &now) != 0) return false;
  return S_ISDIR(now.st_mode) && now.st_dev == held.st_dev && now.st_ino == held.st_ino;
}

FileRead LoginDir::read() const {
  struct stat st {};
  if (fstatat(m_fd.get(), k_credentials_file, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return refused("it cannot be examined (" + errno_text(errno) + ")");
  }
  if (auto why = not_a_plain_file(st); !why.empty()) return refused(why);
  // O_NONBLOCK: a FIFO swapped in after fstatat opens without waiting for a writer.
  Fd fd(openat(m_fd.get(), k_credentials_file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return {};
    if (errno == ELOOP) return refused("it is a symbolic link");
    return refused("it cannot be opened (" + errno_text(errno) + ")");
  }
  if (fstat(fd.get(), &st) != 0) return refused("it cannot be examined (" + errno_text(errno) + ")");
  if (auto why = not_a_plain_file(st); !why.empty()) return refused(why);
  FileRead r;
  r.status = FileRead::Status::ok;
  // Read to the end (an in-place writer may still be growing it), never past the cap.
  std::string& text = r.text.str();
  text.resize(k_max_file_size + 1);
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      return refused("it cannot be read (" + errno_text(errno) + ")");
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > k_max_file_size) return refused("it is larger than 64 KiB");
  wipe(text.data() + got, text.size() - got);
  text.resize(got);
  return r;
}

std::size_t LoginDir::remove_stale_temps() const {
  const int copy = fcntl(m_fd.get(), F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return 0;
  DIR* d = fdopendir(copy);
  if (d == nullptr) {
    ::close(copy);
    return 0;
  }
  const std::string prefix = std::string(k_credentials_file) + ".relay-";
  std::vector<std::string> stale;
  while (const dirent* e = readdir(d))
    if (std::string_view(e->d_name).starts_with(prefix)) stale.emplace_back(e->d_name);
  closedir(d);
  std::size_t removed = 0;
  for (const auto& name : stale) removed += unlinkat(m_fd.get(), name.c_str(), 0) == 0;
  return removed;
}

Result<bool> LoginDir::replace(std::string_view text, const FileRead& judged, std::vector<Fd>* unsynced) const {
  const int dir = m_fd.get();
  std::string tmp;
  Fd fd;
  for (int attempt = 0; attempt < 4 && !fd; ++attempt) {
    tmp = temp_name();
    fd.reset(openat(dir, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd && errno != EEXIST) return io_error("cannot create a temp file in " + m_path, errno);
  }
  if (!fd) return io_error("cannot create a temp file in " + m_path, EEXIST);
  // From here on the temp file goes away on every path but the rename.
  struct Unlink {
    int dir;
    const std::string* name;
    bool armed = true;
    ~Unlink() {
      if (armed) unlinkat(dir, name->c_str(), 0);
    }
  } cleanup{dir, &tmp};

  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return io_error("cannot write a temp file in " + m_path, n < 0 ? errno : EIO);
    done += static_cast<std::size_t>(n);
  }
  // The mode before the owner: once the file is another user's, changing its
  // mode would need CAP_FOWNER, which the relay does not have.
  if (fchmod(fd.get(), 0600) != 0) return io_error("cannot set the temp file's mode in " + m_path, errno);
  if (fchown(fd.get(), m_uid, m_gid) != 0)
    return io_error("cannot give the temp file in " + m_path + " its owner", errno);
  // The target's own session may have rewritten it since it was judged: put
  // nothing over a login the relay has not seen.
  if (!(read() == judged)) return false;
  if (renameat(dir, tmp.c_str(), dir, k_credentials_file) != 0)
    return io_error("cannot rename the temp file over " + m_path + "/" + k_credentials_file, errno);
  cleanup.armed = false;
  // Durability after visibility: a session waiting on the refresh lock reads
  // the file the moment the lock is free, so the copy must be there before
  // any fsync (measured: 8 to 17 ms each on a loaded machine). A crash before
  // the fsync can leave the file empty on file systems that do not order a
  // rename after its data (ext4 does); the login is still in the source
  // directory and in the vault.
  if (unsynced != nullptr) {
    unsynced->push_back(std::move(fd));
    unsynced->emplace_back(fcntl(dir, F_DUPFD_CLOEXEC, 0));
    return true;
  }
  fsync(fd.get());
  fsync(dir);
  return true;
}

}  // namespace pb::relay
