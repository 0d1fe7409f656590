#pragma once
// The vault's tamper-evident access log.
//
//   access.log   JSON lines, append-only. Each record:
//     {"seq":N,"time":ms,"op":…,"credential":id,"name":…,"session":…,"image":…,
//      "pid":…,"uid":…,"result":…,"fingerprint":hex,"detail":…,["generation":G,]
//      "prev":hex,"mac":hex}
//     mac  = HMAC-SHA256(log_key, canonical JSON of the record without "mac")
//     prev = mac of record N-1; for record 1, HMAC(log_key, "genesis" || vault id)
//   access.head  {"seq":N,"mac":hex,"entries":{id:{"generation":G,"fingerprint":hex,
//     "removed":bool}},"tag":HMAC(log_key, "head/2:" || canonical JSON without "tag")},
//     replaced atomically after each append, so cutting the log's tail shows; the
//     entries map is each credential's latest generation, so that readers can
//     refuse an old or removed entry file without reading the whole log. (Version
//     1 heads, {"seq","mac","tag":HMAC("head:" N ":" mac)}, are still read.)
//   access.pending  unauthenticated JSON lines of failed unlocks (the key is
//     unknown then); moved into the chain by the next successful unlock.
//   <anchor>  outside the vault directory (beside the key file):
//     {"vault_id":…,"seq":N,"mac":hex,"tag":HMAC(log_key, "anchor:" id ":" N ":" mac)},
//     replaced after the head, so that rolling back the whole vault directory
//     to an earlier copy shows: the log no longer holds record N with that MAC.
//
// `.log.lock` (flock, exclusive) serialises appends: the chain is a
// read-modify-write of the head. Readers of the entries map hold it shared.
// An append refuses to continue a chain whose head is missing or does not
// match the log's end, or that the anchor says was rolled back: only an
// explicit repair (repair()) starts over, and that is logged.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/secure_buffer.hpp"
#include "vault/crypto.hpp"

namespace pb::vault {

/// One access to record. `fingerprint` is a keyed fingerprint, never the secret.
struct LogRecord {
  std::string op;          ///< "init", "capture", "update", "mount", "release", "rm", "rekey", "rotate", "unlock", …
  std::string credential;  ///< entry id, may be empty
  std::string name;        ///< credential name, may be empty
  std::string session;     ///< para session, may be empty
  std::string image;       ///< image reference, may be empty
  std::string result = "ok";
  std::string fingerprint;
  std::string detail;
  std::int64_t time = 0;         ///< filled in by the log when 0
  std::uint64_t generation = 0;  ///< the entry generation this record wrote; 0: none
};

/// What the log last said about one credential entry.
struct EntryState {
  std::uint64_t generation = 0;  ///< 0: only records of before generations (an entry of format version 1)
  std::string fingerprint;       ///< empty when unknown
  bool removed = false;          ///< its last record is a successful "rm"
};
using EntryStates = std::map<std::string, EntryState>;

struct LogCheck {
  std::size_t records = 0;
  std::vector<std::string> problems;  ///< one sentence each; empty when the chain is intact
  EntryStates entries;                ///< from the records that chain correctly
};

class AccessLog {
 public:
  /// `anchor` is the anchor file, outside `dir`.
  AccessLog(std::filesystem::path dir, SecureBytes log_key, std::string vault_id, Clock clock,
            std::filesystem::path anchor);

  /// The first record of a new vault's chain (there must be no log and no head).
  Status start(LogRecord record);
  /// Appends one record (and first any pending failed unlocks) under the log
  /// lock; integrity error, writing nothing, when the chain cannot be continued.
  Status append(LogRecord record);
  /// Checks every line, the chain, the head and the anchor.
  Result<LogCheck> verify() const;
  /// Each entry's latest state from the head (and a record past it); refuses,
  /// as append does, a log whose end or anchor does not match.
  Result<EntryStates> entry_states() const;
  /// Explicit repair: keeps the records that still chain from the start (the
  /// whole old log is kept as access.log.before-repair-<ms>), appends a
  /// "repair-log" record saying `what_was_wrong`, then the records `then`
  /// makes from the kept entries map; the head and anchor follow.
  Status repair(std::string what_was_wrong, const std::function<std::vector<LogRecord>(const EntryStates&)>& then);

  const std::filesystem::path& anchor_path() const { return m_anchor; }

  /// The log lock, exclusive, for a caller that stages a re-keyed copy (stage_rekeyed()).
  Result<FileLock> lock() const;
  /// `vault rotate`, with lock() held: writes the whole chain re-authenticated
  /// under `new_key` (every record as it is, with new "prev" and "mac"; record
  /// 1 chains from the new key's genesis), then `then` appended, to `log_out`,
  /// with its head to `head_out` and its anchor to `anchor_out`; the live log
  /// is not touched. Refuses a chain that does not verify. Returns the number
  /// of records written.
  Result<std::size_t> stage_rekeyed(ByteSpan new_key, const std::filesystem::path& log_out,
                                    const std::filesystem::path& head_out, const std::filesystem::path& anchor_out,
                                    std::vector<LogRecord> then) const;

  /// Records a failed unlock without the key (see access.pending).
  static Status append_pending(const std::filesystem::path& dir, std::int64_t time, std::string_view detail);

 private:
  struct Head {
    std::uint64_t seq = 0;
    std::string mac;
    bool v2 = false;
    EntryStates entries;
  };
  struct Anchor {
    std::uint64_t seq = 0;
    std::string mac;
  };
  struct Position {
    Head head;                    ///< brought up to date with a record past it
    bool past_head = false;       ///< a record past the head (a crash before its head) was found
    bool anchor_missing = false;  ///< a version-1 head without an anchor yet
  };

  std::string mac_of(std::string_view canonical) const;
  std::string genesis() const;
  std::string head_tag(const Head& h) const;
  std::string anchor_tag(std::uint64_t seq, std::string_view mac) const;
  Result<std::optional<Head>> read_head() const;
  Result<std::optional<Anchor>> read_anchor() const;
  Result<EntryStates> scan_entries() const;
  Result<Position> locate() const;
  Status append_locked(LogRecord record, Head& head);
  /// The record's line (canonical JSON with its MAC, no newline) as the next after `head`, which it advances.
  std::string chain_record(const LogRecord& r, Head& head) const;
  Status write_head(const Head& head) const;
  Status write_head_to(const std::filesystem::path& path, const Head& head) const;
  Status write_anchor(std::uint64_t seq, const std::string& mac) const;
  Status write_anchor_to(const std::filesystem::path& path, std::uint64_t seq, const std::string& mac) const;
  Error refused(std::string why) const;

  std::filesystem::path m_dir;
  SecureBytes m_key;
  std::string m_vault_id;
  Clock m_clock;
  std::filesystem::path m_anchor;
};

}  // namespace pb::vault
