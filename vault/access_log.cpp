#include "vault/access_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/c_handles.hpp"
#include "core/fault.hpp"
#include "core/files.hpp"
#include "vault/json_numbers.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace pb::vault {
namespace {

constexpr std::uint64_t k_max_log = 256u << 20;
constexpr std::size_t k_tail_window = 64u << 10;

/// Half of `line`, as a write killed in the middle would leave it.
[[maybe_unused]] void write_half(int fd, const std::string& line) {
  (void)!::write(fd, line.data(), line.size() / 2);
}

Status append_line(const fs::path& path, const std::string& line, bool pending) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return fail(ErrorKind::failure, "opening the access log " + path.string() + " failed");
  if (pending)
    PB_CRASH_POINT_WITH("access_log.pending.torn", write_half(fd.get(), line));
  else
    PB_CRASH_POINT_WITH("access_log.append.torn", write_half(fd.get(), line));
  std::size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(fd.get(), line.data() + off, line.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ErrorKind::failure, "writing the access log " + path.string() + " failed");
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail(ErrorKind::failure, "syncing the access log " + path.string() + " failed");
  return {};
}

/// The last complete line of a file (reads at most the final 64 KiB).
std::string last_line(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return {};
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || st.st_size == 0) return {};
  const auto size = static_cast<std::size_t>(st.st_size);
  const std::size_t start = size > k_tail_window ? size - k_tail_window : 0;
  std::string buf(size - start, '\0');
  ssize_t n = ::pread(fd.get(), buf.data(), buf.size(), static_cast<off_t>(start));
  if (n <= 0) return {};
  buf.resize(static_cast<std::size_t>(n));
  while (!buf.empty() && buf.back() == '\n') buf.pop_back();
  auto nl = buf.rfind('\n');
  return nl == std::string::npos ? (start == 0 ? buf : std::string()) : buf.substr(nl + 1);
}

/// Up to the last `max_bytes` of a file.
std::string tail_of(const fs::path& path, std::size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return {};
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return {};
  const auto size = static_cast<std::size_t>(st.st_size);
  const std::size_t start = size > max_bytes ? size - max_bytes : 0;
  std::string buf(size - start, '\0');
  ssize_t n = ::pread(fd.get(), buf.data(), buf.size(), static_cast<off_t>(start));
  buf.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return buf;
}

/// Cuts an incomplete last line: a record whose append was killed in the
/// middle of its write (the head never counted it). Returns whether it cut.
Result<bool> drop_torn_tail(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) {
    if (errno == ENOENT) return false;
    return fail(ErrorKind::failure, "opening the access log " + path.string() + " failed");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || st.st_size == 0) return false;
  const auto size = static_cast<std::size_t>(st.st_size);
  const std::size_t start = size > k_tail_window ? size - k_tail_window : 0;
  std::string buf(size - start, '\0');
  if (::pread(fd.get(), buf.data(), buf.size(), static_cast<off_t>(start)) != static_cast<ssize_t>(buf.size()))
    return fail(ErrorKind::failure, "reading the access log " + path.string() + " failed");
  if (buf.back() == '\n') return false;
  const auto nl = buf.rfind('\n');
  if (nl == std::string::npos && start > 0) return false;  // no record is that long: leave it to verify
  const std::size_t keep = nl == std::string::npos ? 0 : start + nl + 1;
  if (::ftruncate(fd.get(), static_cast<off_t>(keep)) != 0 || ::fsync(fd.get()) != 0)
    return fail(ErrorKind::failure, "cutting an incomplete record from the access log " + path.string() + " failed");
  return true;
}

}  // namespace

AccessLog::AccessLog(fs::path dir, SecureBytes log_key, std::string vault_id, Clock clock)
    : m_dir(std::move(dir)), m_key(std::move(log_key)), m_vault_id(std::move(vault_id)), m_clock(std::move(clock)) {}

std::string AccessLog::mac_of(std::string_view canonical) const {
  return to_hex(hmac_sha256(m_key, as_bytes(canonical)));
}

std::string AccessLog::genesis() const {
  return mac_of("genesis" + m_vault_id);
}

std::string AccessLog::head_tag(std::uint64_t seq, std::string_view mac) const {
  return mac_of("head:" + std::to_string(seq) + ":" + std::string(mac));
}

Status AccessLog::append_pending(const fs::path& dir, std::int64_t time, std::string_view detail) {
  PB_TRY(FileLock lock, FileLock::acquire(dir / ".log.lock", FileLock::Mode::exclusive));
  json j = {{"time", time},      {"op", "unlock"},    {"result", "failed"},
            {"pid", ::getpid()}, {"uid", ::getuid()}, {"detail", detail}};
  return append_line(dir / "access.pending", j.dump() + "\n", true);
}

Status AccessLog::append(LogRecord record) {
  // Protects: access.log, access.head and access.pending as one chain.
  PB_TRY(FileLock lock, FileLock::acquire(m_dir / ".log.lock", FileLock::Mode::exclusive));
  remove_temp_files(m_dir, "access.head");  // of a writer killed before its rename (it held this lock)
  PB_TRY(bool torn, drop_torn_tail(m_dir / "access.log"));

  // Where the chain stands: the head, unless a crash left one valid record past it.
  std::uint64_t seq = 0;
  std::string prev = genesis();
  std::string repairs;
  const fs::path head_path = m_dir / "access.head";
  auto head_bytes = read_file(head_path, 4096);
  bool head_ok = false;
  if (head_bytes) {
    try {
      auto h = json::parse(as_chars(*head_bytes));
      const auto hs = whole_number_or_throw<std::uint64_t>(h.at("seq"));
      const auto hm = h.at("mac").get<std::string>();
      if (equal_ct(as_bytes(h.at("tag").get<std::string>()), as_bytes(head_tag(hs, hm)))) {
        seq = hs;
        prev = hm;
        head_ok = true;
      }
    } catch (const json::exception&) {
    }
  }
  const std::string tail = last_line(m_dir / "access.log");
  if (!tail.empty()) {
    try {
      auto t = json::parse(tail);
      const std::string mac = t.at("mac").get<std::string>();
      const auto ts = whole_number_or_throw<std::uint64_t>(t.at("seq"));
      json body = t;
      body.erase("mac");
      const bool valid = equal_ct(as_bytes(mac), as_bytes(mac_of(body.dump())));
      if (valid && ((head_ok && ts == seq + 1 && t.at("prev").get<std::string>() == prev) || !head_ok)) {
        seq = ts;
        prev = mac;
        // An append killed between its record and its head: bring the head up
        // to date before adding to the chain, so that never more than one
        // record is past the head (verify's rule), however many appends die so.
        PB_TRY_STATUS(write_head(seq, prev));
      }
    } catch (const json::exception&) {
    }
    if (!head_ok) repairs = "the chain head was missing or invalid before this record";
  }

  // Failed unlocks recorded without the key join the chain first, each exactly
  // once: its record carries a mark of the pending line, and lines whose mark
  // is among the last records were chained by an append killed before it
  // removed access.pending.
  const fs::path pending = m_dir / "access.pending";
  if (auto p = read_file(pending, 1u << 20)) {
    std::string_view text = as_chars(*p);
    std::vector<std::string_view> lines;
    for (std::size_t pos = 0; pos < text.size();) {
      std::size_t nl = text.find('\n', pos);
      if (nl == std::string_view::npos) nl = text.size();
      if (nl > pos) lines.push_back(text.substr(pos, nl - pos));
      pos = nl + 1;
    }
    const std::string recent = tail_of(m_dir / "access.log", lines.size() * 4096 + k_tail_window);
    for (std::string_view line : lines) {
      const std::string mark = "[pending " + mac_of("pending:" + std::string(line)).substr(0, 16) + "]";
      if (recent.find(mark) != std::string::npos) continue;
      LogRecord r;
      r.op = "unlock";
      r.result = "failed";
      r.detail = "recorded before the vault was unlocked";
      try {
        auto j = json::parse(line);
        if (auto t = j.find("time"); t != j.end()) r.time = whole_number<std::int64_t>(*t).value_or(0);
        std::string d = j.value("detail", std::string());
        if (!d.empty()) r.detail = d;
      } catch (const json::exception&) {
        r.detail = "a pending record was malformed";
      }
      r.detail += " " + mark;
      PB_TRY_STATUS(append_locked(std::move(r), seq, prev));
    }
    PB_CRASH_POINT("access_log.pending.merged");
    ::unlink(pending.c_str());
  }
  if (torn)
    repairs += std::string(repairs.empty() ? "" : "; ") +
               "an incomplete record at the end of the log (an append that was killed) was removed";
  if (!repairs.empty()) record.detail = record.detail.empty() ? repairs : record.detail + "; " + repairs;
  return append_locked(std::move(record), seq, prev);
}

Status AccessLog::append_locked(LogRecord r, std::uint64_t& seq, std::string& prev) {
  json j = {{"seq", seq + 1},
            {"time", r.time != 0 ? r.time : m_clock()},
            {"op", r.op},
            {"credential", r.credential},
            {"name", r.name},
            {"session", r.session},
            {"image", r.image},
            {"pid", ::getpid()},
            {"uid", ::getuid()},
            {"result", r.result},
            {"fingerprint", r.fingerprint},
            {"detail", r.detail},
            {"prev", prev}};
  const std::string mac = mac_of(j.dump());
  j["mac"] = mac;
  PB_TRY_STATUS(append_line(m_dir / "access.log", j.dump() + "\n", false));
  PB_CRASH_POINT("access_log.append.record_written");
  ++seq;
  prev = mac;
  return write_head(seq, mac);
}

Status AccessLog::write_head(std::uint64_t seq, const std::string& mac) const {
  json head = {{"seq", seq}, {"mac", mac}, {"tag", head_tag(seq, mac)}};
  return write_file_atomic(m_dir / "access.head", as_bytes(head.dump() + "\n"));
}

Result<LogCheck> AccessLog::verify() const {
  PB_TRY(FileLock lock, FileLock::acquire(m_dir / ".log.lock", FileLock::Mode::exclusive));
  LogCheck check;
  auto log = read_file(m_dir / "access.log", k_max_log);
  if (!log) {
    if (log.error().kind == ErrorKind::not_found) {
      check.problems.push_back("the access log is missing");
      return check;
    }
    return std::move(log).error();
  }
  std::string_view text = as_chars(*log);
  std::uint64_t expect = 1;
  std::string prev = genesis();
  std::size_t pos = 0, line_no = 0;
  bool broken = false;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) {
      // An append killed in the middle of its write; the head decides below
      // whether records are missing, and the next append removes the fragment.
      break;
    }
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    const std::string where = "access log line " + std::to_string(line_no);
    try {
      auto j = json::parse(line);
      const std::string mac = j.at("mac").get<std::string>();
      json body = j;
      body.erase("mac");
      const std::string canonical = body.dump();
      if (j.dump() != line || !equal_ct(as_bytes(mac), as_bytes(mac_of(canonical)))) {
        check.problems.push_back(where + " was altered (its MAC does not match)");
        broken = true;
      } else if (whole_number_or_throw<std::uint64_t>(j.at("seq")) != expect ||
                 j.at("prev").get<std::string>() != prev) {
        check.problems.push_back(where + " does not follow the one before it (records deleted, inserted or reordered)");
        broken = true;
      }
      prev = mac;
      expect = whole_number_or_throw<std::uint64_t>(j.at("seq")) + 1;
    } catch (const json::exception&) {
      check.problems.push_back(where + " is not a valid record");
      broken = true;
    }
    ++check.records;
  }
  if (check.records == 0) check.problems.push_back("the access log is empty");
  auto head_bytes = read_file(m_dir / "access.head", 4096);
  if (!head_bytes) {
    check.problems.push_back("the access log's chain head is missing");
  } else {
    try {
      auto h = json::parse(as_chars(*head_bytes));
      const auto hs = whole_number_or_throw<std::uint64_t>(h.at("seq"));
      const auto hm = h.at("mac").get<std::string>();
      if (!equal_ct(as_bytes(h.at("tag").get<std::string>()), as_bytes(head_tag(hs, hm)))) {
        check.problems.push_back("the access log's chain head was altered");
      } else if (!broken) {
        const std::uint64_t last = expect - 1;
        // A crash between appending a record and replacing the head leaves
        // exactly one valid record past the head: not tampering.
        if (last < hs || (last == hs && hm != prev))
          check.problems.push_back("the access log was truncated: the chain head records " + std::to_string(hs) +
                                   " records, the log holds " + std::to_string(last));
        else if (last > hs + 1)
          check.problems.push_back("the access log has records past its chain head");
      }
    } catch (const json::exception&) {
      check.problems.push_back("the access log's chain head is malformed");
    }
  }
  return check;
}

}  // namespace pb::vault
