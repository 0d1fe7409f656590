#include "vault/access_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/c_handles.hpp"
#include "core/fault.hpp"
#include "core/files.hpp"
#include "core/json.hpp"
#include "core/platform.hpp"

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
  if (platform::sync_file(fd.get()) != 0)
    return fail(ErrorKind::failure, "syncing the access log " + path.string() + " failed");
  return {};
}

/// The last complete line of a file (reads at most the final 64 KiB); an
/// incomplete last line (an append killed mid-write) is not a line.
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
  const auto end = buf.rfind('\n');
  if (end == std::string::npos) return {};
  buf.resize(end);
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
  if (::ftruncate(fd.get(), static_cast<off_t>(keep)) != 0 || platform::sync_file(fd.get()) != 0)
    return fail(ErrorKind::failure, "cutting an incomplete record from the access log " + path.string() + " failed");
  return true;
}

/// Folds one record into the entries map (docs/vault-format.md, "Access log").
void apply_record(EntryStates& states, const json& r) {
  const std::string cred = r.value("credential", std::string());
  if (cred.empty()) return;
  const std::string op = r.value("op", std::string());
  const std::string result = r.value("result", std::string());
  const std::string fp = r.value("fingerprint", std::string());
  std::uint64_t gen = 0;
  if (auto g = r.find("generation"); g != r.end()) gen = whole_number<std::uint64_t>(*g).value_or(0);
  if (op == "rm" && result == "ok") {
    states[cred].removed = true;
  } else if (gen > 0) {
    states[cred] = {gen, fp, false};
  } else if (result == "ok" && !fp.empty()) {
    // Records of before generations: the last fingerprint stored for an entry.
    auto& e = states[cred];
    if (e.generation == 0 && !e.removed) e.fingerprint = fp;
  }
}

json states_json(const EntryStates& states) {
  json j = json::object();
  for (const auto& [id, e] : states)
    j[id] = {{"generation", e.generation}, {"fingerprint", e.fingerprint}, {"removed", e.removed}};
  return j;
}

EntryStates states_from_json(const json& j) {
  EntryStates out;
  for (const auto& [id, e] : j.items())
    out[id] = {whole_number_or_throw<std::uint64_t>(e.at("generation")), e.at("fingerprint").get<std::string>(),
               e.at("removed").get<bool>()};
  return out;
}

/// One walk over the log's complete lines: how far it chains from the start.
struct Walk {
  std::size_t records = 0;            ///< complete lines
  std::vector<std::string> problems;  ///< one sentence each
  std::size_t valid_bytes = 0;        ///< the prefix whose records all chain
  std::uint64_t last_seq = 0;         ///< of that prefix
  std::string last_mac;
  EntryStates entries;  ///< from that prefix
  bool broken = false;
  bool anchor_seen = false;  ///< the anchor's record is in the prefix with the anchor's MAC
};

}  // namespace

AccessLog::AccessLog(fs::path dir, SecureBytes log_key, std::string vault_id, Clock clock, fs::path anchor)
    : m_dir(std::move(dir)),
      m_key(std::move(log_key)),
      m_vault_id(std::move(vault_id)),
      m_clock(std::move(clock)),
      m_anchor(std::move(anchor)) {}

std::string AccessLog::mac_of(std::string_view canonical) const {
  return to_hex(hmac_sha256(m_key, as_bytes(canonical)));
}

std::string AccessLog::genesis() const {
  return mac_of("genesis" + m_vault_id);
}

std::string AccessLog::head_tag(const Head& h) const {
  if (!h.v2) return mac_of("head:" + std::to_string(h.seq) + ":" + h.mac);
  json body = {{"seq", h.seq}, {"mac", h.mac}, {"entries", states_json(h.entries)}};
  return mac_of("head/2:" + body.dump());
}

std::string AccessLog::anchor_tag(std::uint64_t seq, std::string_view mac) const {
  return mac_of("anchor:" + m_vault_id + ":" + std::to_string(seq) + ":" + std::string(mac));
}

Error AccessLog::refused(std::string why) const {
  return fail(ErrorKind::integrity, why +
                                        "; nothing was written. See 'para-broker vault verify'; if you accept the "
                                        "vault as it is now, 'para-broker vault repair-log' starts the log over "
                                        "from its intact records and records that it did");
}

Result<std::optional<AccessLog::Head>> AccessLog::read_head() const {
  const fs::path path = m_dir / "access.head";
  auto bytes = read_file(path, 1u << 20);
  if (!bytes) {
    if (bytes.error().kind == ErrorKind::not_found) return std::optional<Head>{};
    return std::move(bytes).error();
  }
  Head h;
  std::string tag;
  try {
    auto j = json::parse(as_chars(*bytes));
    h.seq = whole_number_or_throw<std::uint64_t>(j.at("seq"));
    h.mac = j.at("mac").get<std::string>();
    tag = j.at("tag").get<std::string>();
    if (auto e = j.find("entries"); e != j.end()) {
      h.v2 = true;
      h.entries = states_from_json(*e);
    }
  } catch (const json::exception&) {
    return fail(ErrorKind::integrity, "the access log's chain head " + path.string() + " is malformed");
  }
  if (!equal_ct(as_bytes(tag), as_bytes(head_tag(h))))
    return fail(ErrorKind::integrity, "the access log's chain head " + path.string() + " was altered");
  return std::optional<Head>(std::move(h));
}

Result<std::optional<AccessLog::Anchor>> AccessLog::read_anchor() const {
  auto bytes = read_file(m_anchor, 4096);
  if (!bytes) {
    if (bytes.error().kind == ErrorKind::not_found) return std::optional<Anchor>{};
    return std::move(bytes).error();
  }
  Anchor a;
  try {
    auto j = json::parse(as_chars(*bytes));
    a.seq = whole_number_or_throw<std::uint64_t>(j.at("seq"));
    a.mac = j.at("mac").get<std::string>();
    if (j.at("vault_id").get<std::string>() != m_vault_id ||
        !equal_ct(as_bytes(j.at("tag").get<std::string>()), as_bytes(anchor_tag(a.seq, a.mac))))
      return fail(ErrorKind::integrity, "the access log's anchor " + m_anchor.string() + " was altered");
  } catch (const json::exception&) {
    return fail(ErrorKind::integrity, "the access log's anchor " + m_anchor.string() + " is malformed");
  }
  return std::optional<Anchor>(std::move(a));
}

Status AccessLog::append_pending(const fs::path& dir, std::int64_t time, std::string_view detail) {
  PB_TRY(FileLock lock, FileLock::acquire(dir / ".log.lock", FileLock::Mode::exclusive));
  json j = {{"time", time},      {"op", "unlock"},    {"result", "failed"},
            {"pid", ::getpid()}, {"uid", ::getuid()}, {"detail", detail}};
  return append_line(dir / "access.pending", j.dump() + "\n", true);
}

namespace {

/// Walks `text` from the first record: MACs, canonical form, seq and prev.
template <typename MacOf>
Walk walk_log(std::string_view text, const std::string& genesis, const MacOf& mac_of, std::uint64_t anchor_seq,
              const std::string& anchor_mac) {
  Walk w;
  std::uint64_t expect = 1;
  std::string prev = genesis;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    // An incomplete last line is an append killed in the middle of its write;
    // the head decides whether records are missing, the next append removes it.
    if (nl == std::string_view::npos) break;
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++w.records;
    const std::string where = "access log line " + std::to_string(w.records);
    try {
      auto j = json::parse(line);
      const std::string mac = j.at("mac").get<std::string>();
      json body = j;
      body.erase("mac");
      const std::string canonical = body.dump();
      const auto seq = whole_number_or_throw<std::uint64_t>(j.at("seq"));
      if (j.dump() != line || !equal_ct(as_bytes(mac), as_bytes(mac_of(canonical)))) {
        w.problems.push_back(where + " was altered (its MAC does not match)");
        w.broken = true;
      } else if (seq != expect || j.at("prev").get<std::string>() != prev) {
        w.problems.push_back(where + " does not follow the one before it (records deleted, inserted or reordered)");
        w.broken = true;
      } else if (!w.broken) {
        w.valid_bytes = pos;
        w.last_seq = seq;
        w.last_mac = mac;
        apply_record(w.entries, j);
        if (seq == anchor_seq && mac == anchor_mac) w.anchor_seen = true;
      }
      prev = mac;
      expect = seq + 1;
    } catch (const json::exception&) {
      w.problems.push_back(where + " is not a valid record");
      w.broken = true;
    }
  }
  return w;
}

}  // namespace

Result<EntryStates> AccessLog::scan_entries() const {
  auto log = read_file(m_dir / "access.log", k_max_log);
  if (!log) return std::move(log).error();
  Walk w = walk_log(
      as_chars(*log), genesis(), [this](std::string_view c) { return mac_of(c); }, 0, "");
  return std::move(w.entries);
}

Result<AccessLog::Position> AccessLog::locate() const {
  const fs::path log_path = m_dir / "access.log";
  PB_TRY(std::optional<Head> head, read_head());
  if (!head)
    return refused("the access log's chain head " + (m_dir / "access.head").string() +
                   " is missing, so the log cannot be continued: it may have been deleted or cut");
  Position pos;
  pos.head = std::move(*head);
  const std::string tail = last_line(log_path);
  if (tail.empty())
    return refused("the access log " + log_path.string() + " is missing or empty, but its chain head records " +
                   std::to_string(pos.head.seq) + " records");
  json t;
  std::uint64_t ts = 0;
  std::string tmac, tprev;
  try {
    t = json::parse(tail);
    tmac = t.at("mac").get<std::string>();
    ts = whole_number_or_throw<std::uint64_t>(t.at("seq"));
    tprev = t.at("prev").get<std::string>();
    json body = t;
    body.erase("mac");
    if (!equal_ct(as_bytes(tmac), as_bytes(mac_of(body.dump())))) throw std::runtime_error("mac");
  } catch (const std::exception&) {
    return refused("the last record of the access log " + log_path.string() + " was altered");
  }
  std::string before_tail;  // the MAC of the record before the last, when known
  if (ts == pos.head.seq && tmac == pos.head.mac) {
    before_tail = tprev;
  } else if (ts == pos.head.seq + 1 && tprev == pos.head.mac) {
    // An append killed between its record and its head: the record counts.
    before_tail = pos.head.mac;
    pos.head.seq = ts;
    pos.head.mac = tmac;
    apply_record(pos.head.entries, t);
    pos.past_head = true;
  } else {
    return refused("the access log " + log_path.string() +
                   " does not end where its chain head says (the head records " + std::to_string(pos.head.seq) +
                   " records, the last line is record " + std::to_string(ts) +
                   "): records were cut, added or replaced");
  }

  PB_TRY(std::optional<Anchor> anchor, read_anchor());
  if (!anchor) {
    if (pos.head.v2)
      return refused("the access log's anchor " + m_anchor.string() +
                     " is missing, so a rollback of the vault directory could not be detected");
    pos.anchor_missing = true;  // a vault from before anchors: the next append makes one
    return pos;
  }
  const std::uint64_t last = pos.head.seq;
  auto rolled_back = [&] {
    return refused("the vault directory was rolled back: its anchor " + m_anchor.string() + " records " +
                   std::to_string(anchor->seq) + " access-log records, the log holds " + std::to_string(last) +
                   (anchor->seq <= last ? " and a different record " + std::to_string(anchor->seq) : ""));
  };
  if (anchor->seq > last) return rolled_back();
  if (anchor->seq == last) {
    if (anchor->mac != pos.head.mac) return rolled_back();
  } else if (anchor->seq + 1 == last) {
    if (anchor->mac != before_tail) return rolled_back();
  } else {
    // An anchor more than one record behind: a writer of before anchors ran.
    auto log = read_file(log_path, k_max_log);
    if (!log) return std::move(log).error();
    Walk w = walk_log(
        as_chars(*log), genesis(), [this](std::string_view c) { return mac_of(c); }, anchor->seq, anchor->mac);
    if (!w.anchor_seen) return rolled_back();
  }
  return pos;
}

Result<EntryStates> AccessLog::entry_states() const {
  // Protects: reading the head, the log's end and the anchor as one state.
  PB_TRY(FileLock lock, FileLock::acquire(m_dir / ".log.lock", FileLock::Mode::shared));
  PB_TRY(Position pos, locate());
  if (pos.head.v2) return std::move(pos.head.entries);
  return scan_entries();  // a head of before generations: the log says it, once per command until the next append
}

Status AccessLog::start(LogRecord record) {
  PB_TRY(FileLock lock, FileLock::acquire(m_dir / ".log.lock", FileLock::Mode::exclusive));
  remove_temp_files(m_dir, "access.head");
  std::error_code ec;
  if (fs::exists(m_dir / "access.log", ec) || fs::exists(m_dir / "access.head", ec))
    return fail(ErrorKind::conflict, "a new access log cannot start in " + m_dir.string() + ": one is already there");
  Head h;
  h.v2 = true;
  h.mac = genesis();
  return append_locked(std::move(record), h);
}

Status AccessLog::append(LogRecord record) {
  // Protects: access.log, access.head, access.pending and the anchor as one chain.
  PB_TRY(FileLock lock, FileLock::acquire(m_dir / ".log.lock", FileLock::Mode::exclusive));
  remove_temp_files(m_dir, "access.head");  // of a writer killed before its rename (it held this lock)
  remove_temp_files(m_anchor.parent_path(), m_anchor.filename().string());
  PB_TRY(bool torn, drop_torn_tail(m_dir / "access.log"));
  PB_TRY(Position pos, locate());
  Head& head = pos.head;
  std::string repairs;
  if (!head.v2) {
    // A log of before generations: its entries map comes from all its records, once.
    PB_TRY(head.entries, scan_entries());
    head.v2 = true;
    repairs = "the access log now keeps entry generations and an anchor at " + m_anchor.string();
  }
  // Bring the head (and anchor) up to date before adding to the chain, so that
  // never more than one record is past the head, however many appends die so.
  if (pos.past_head || pos.anchor_missing) {
    PB_TRY_STATUS(write_head(head));
    PB_TRY_STATUS(write_anchor(head.seq, head.mac));
  }

  // Failed unlocks recorded without the key join the chain first, each exactly
  // once: its record carries a mark of the pending line, and lines whose mark
  // is among the last records were chained by an append killed before it
  // removed access.pending.
  const fs::path pending = m_dir / "access.pending";
  if (auto p = read_file(pending, 1u << 20)) {
    std::string_view text = as_chars(*p);
    std::vector<std::string_view> lines;
    for (std::size_t at = 0; at < text.size();) {
      std::size_t nl = text.find('\n', at);
      if (nl == std::string_view::npos) nl = text.size();
      if (nl > at) lines.push_back(text.substr(at, nl - at));
      at = nl + 1;
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
      PB_TRY_STATUS(append_locked(std::move(r), head));
    }
    PB_CRASH_POINT("access_log.pending.merged");
    ::unlink(pending.c_str());
  }
  if (torn)
    repairs += std::string(repairs.empty() ? "" : "; ") +
               "an incomplete record at the end of the log (an append that was killed) was removed";
  if (!repairs.empty()) record.detail = record.detail.empty() ? repairs : record.detail + "; " + repairs;
  return append_locked(std::move(record), head);
}

std::string AccessLog::chain_record(const LogRecord& r, Head& head) const {
  json j = {{"seq", head.seq + 1},
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
            {"prev", head.mac}};
  if (r.generation > 0) j["generation"] = r.generation;
  const std::string mac = mac_of(j.dump());
  j["mac"] = mac;
  ++head.seq;
  head.mac = mac;
  apply_record(head.entries, j);
  return j.dump();
}

Status AccessLog::append_locked(LogRecord r, Head& head) {
  Head next = head;
  const std::string line = chain_record(r, next);
  PB_TRY_STATUS(append_line(m_dir / "access.log", line + "\n", false));
  PB_CRASH_POINT("access_log.append.record_written");
  head = std::move(next);
  PB_TRY_STATUS(write_head(head));
  PB_CRASH_POINT("access_log.append.head_written");
  return write_anchor(head.seq, head.mac);
}

Status AccessLog::write_head(const Head& h) const {
  return write_head_to(m_dir / "access.head", h);
}

Status AccessLog::write_head_to(const fs::path& path, const Head& h) const {
  json head = {{"seq", h.seq}, {"mac", h.mac}, {"entries", states_json(h.entries)}, {"tag", head_tag(h)}};
  return write_file_atomic(path, as_bytes(head.dump() + "\n"));
}

Status AccessLog::write_anchor(std::uint64_t seq, const std::string& mac) const {
  return write_anchor_to(m_anchor, seq, mac);
}

Status AccessLog::write_anchor_to(const fs::path& path, std::uint64_t seq, const std::string& mac) const {
  PB_TRY_STATUS(ensure_private_dir(path.parent_path(), "access-log anchor directory"));
  json a = {{"vault_id", m_vault_id}, {"seq", seq}, {"mac", mac}, {"tag", anchor_tag(seq, mac)}};
  return write_file_atomic(path, as_bytes(a.dump() + "\n"));
}

Result<FileLock> AccessLog::lock() const {
  return FileLock::acquire(m_dir / ".log.lock", FileLock::Mode::exclusive);
}

Result<std::size_t> AccessLog::stage_rekeyed(ByteSpan new_key, const fs::path& log_out, const fs::path& head_out,
                                             const fs::path& anchor_out, std::vector<LogRecord> then) const {
  auto log = read_file(m_dir / "access.log", k_max_log);
  if (!log) return std::move(log).error();
  const std::string_view text = as_chars(*log);
  Walk w = walk_log(
      text, genesis(), [this](std::string_view c) { return mac_of(c); }, 0, "");
  if (w.broken || w.records == 0)
    return fail(ErrorKind::integrity, "the access log does not verify" +
                                          (w.problems.empty() ? std::string() : ": " + w.problems.front()) +
                                          "; nothing was changed");
  // The same records under the new key: each keeps what it says, its "prev"
  // and "mac" follow the new chain. An incomplete last line (an append that
  // was killed) is left out, as the next append would cut it.
  AccessLog next(m_dir, SecureBytes(new_key.begin(), new_key.end()), m_vault_id, m_clock, m_anchor);
  Head head;
  head.v2 = true;
  head.mac = next.genesis();
  std::string out;
  out.reserve(text.size() + 4096);
  try {
    for (std::size_t pos = 0; pos < w.valid_bytes;) {
      const std::size_t nl = text.find('\n', pos);
      json j = json::parse(text.substr(pos, nl - pos));  // walk_log parsed it already
      pos = nl + 1;
      j.erase("mac");
      j["prev"] = head.mac;
      const std::string mac = next.mac_of(j.dump());
      j["mac"] = mac;
      ++head.seq;
      head.mac = mac;
      apply_record(head.entries, j);
      out += j.dump();
      out += '\n';
    }
  } catch (const json::exception&) {
    return fail(ErrorKind::integrity, "the access log changed while it was re-keyed; nothing was changed");
  }
  for (const auto& r : then) {
    out += next.chain_record(r, head);
    out += '\n';
  }
  PB_TRY_STATUS(write_file_atomic(log_out, as_bytes(out)));
  PB_TRY_STATUS(next.write_head_to(head_out, head));
  PB_TRY_STATUS(next.write_anchor_to(anchor_out, head.seq, head.mac));
  return static_cast<std::size_t>(head.seq);
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
  std::optional<Anchor> anchor;
  if (auto a = read_anchor(); !a) {
    check.problems.push_back(a.error().message);
  } else {
    anchor = std::move(*a);
  }
  Walk w = walk_log(
      as_chars(*log), genesis(), [this](std::string_view c) { return mac_of(c); }, anchor ? anchor->seq : 0,
      anchor ? anchor->mac : "");
  check.records = w.records;
  check.problems.insert(check.problems.end(), w.problems.begin(), w.problems.end());
  check.entries = std::move(w.entries);
  if (check.records == 0) check.problems.push_back("the access log is empty");
  auto head = read_head();
  if (!head) {
    check.problems.push_back(head.error().message);
  } else if (!*head) {
    check.problems.push_back("the access log's chain head is missing");
  } else {
    const Head& h = **head;
    if (!w.broken) {
      const std::uint64_t last = w.last_seq;
      // A crash between appending a record and replacing the head leaves
      // exactly one valid record past the head: not tampering.
      if (last < h.seq || (last == h.seq && h.mac != w.last_mac))
        check.problems.push_back("the access log was truncated: the chain head records " + std::to_string(h.seq) +
                                 " records, the log holds " + std::to_string(last));
      else if (last > h.seq + 1)
        check.problems.push_back("the access log has records past its chain head");
    }
    if (anchor && !w.broken && !w.anchor_seen)
      check.problems.push_back(
          "the vault directory was rolled back: the access log's anchor " + m_anchor.string() + " records " +
          std::to_string(anchor->seq) + " records, the log holds " + std::to_string(w.last_seq) +
          (anchor->seq <= w.last_seq ? " and a different record " + std::to_string(anchor->seq) : ""));
    if (!anchor && h.v2 && read_anchor().ok())
      check.problems.push_back("the access log's anchor " + m_anchor.string() + " is missing");
  }
  return check;
}

Status AccessLog::repair(std::string what_was_wrong,
                         const std::function<std::vector<LogRecord>(const EntryStates&)>& then) {
  PB_TRY(FileLock lock, FileLock::acquire(m_dir / ".log.lock", FileLock::Mode::exclusive));
  remove_temp_files(m_dir, "access.head");
  const fs::path log_path = m_dir / "access.log";
  std::string text;
  if (auto log = read_file(log_path, k_max_log)) {
    text.assign(as_chars(*log));
  } else if (log.error().kind != ErrorKind::not_found) {
    return std::move(log).error();
  }
  Walk w = walk_log(
      text, genesis(), [this](std::string_view c) { return mac_of(c); }, 0, "");
  const std::string stamp = std::to_string(m_clock());
  // The old files stay as evidence; the log keeps its records that still chain.
  for (const char* name : {"access.log", "access.head"}) {
    if (auto old = read_file(m_dir / name, k_max_log)) {
      PB_TRY_STATUS(write_file_atomic(m_dir / (std::string(name) + ".before-repair-" + stamp), *old));
    }
  }
  PB_TRY_STATUS(write_file_atomic(log_path, as_bytes(std::string_view(text).substr(0, w.valid_bytes))));
  Head head;
  head.v2 = true;
  head.seq = w.last_seq;
  head.mac = w.last_seq == 0 ? genesis() : w.last_mac;
  head.entries = std::move(w.entries);
  const std::size_t dropped = w.records - static_cast<std::size_t>(w.last_seq);
  LogRecord r;
  r.op = "repair-log";
  r.detail = what_was_wrong + "; kept " + std::to_string(w.last_seq) + " records that chain" +
             (dropped > 0 ? ", set " + std::to_string(dropped) + " aside" : "") +
             " (old log: access.log.before-repair-" + stamp + ")";
  PB_TRY_STATUS(append_locked(std::move(r), head));
  for (auto& rec : then(head.entries)) PB_TRY_STATUS(append_locked(std::move(rec), head));
  return {};
}

}  // namespace pb::vault
