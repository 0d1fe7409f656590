#pragma once
// The vault's tamper-evident access log.
//
//   access.log   JSON lines, append-only. Each record:
//     {"seq":N,"time":ms,"op":…,"credential":id,"name":…,"session":…,"image":…,
//      "pid":…,"uid":…,"result":…,"fingerprint":hex,"detail":…,"prev":hex,"mac":hex}
//     mac  = HMAC-SHA256(log_key, canonical JSON of the record without "mac")
//     prev = mac of record N-1; for record 1, HMAC(log_key, "genesis" || vault id)
//   access.head  {"seq":N,"mac":hex,"tag":HMAC(log_key, "head:" N ":" mac)},
//     replaced atomically after each append, so cutting the log's tail shows.
//   access.pending  unauthenticated JSON lines of failed unlocks (the key is
//     unknown then); moved into the chain by the next successful unlock.
//
// `.log.lock` (flock, exclusive) serialises appends: the chain is a
// read-modify-write of the head.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/secure_buffer.hpp"
#include "vault/crypto.hpp"

namespace pb::vault {

/// One access to record. `fingerprint` is a keyed fingerprint, never the secret.
struct LogRecord {
  std::string op;          ///< "init", "capture", "update", "mount", "release", "rm", "rekey", "unlock", …
  std::string credential;  ///< entry id, may be empty
  std::string name;        ///< credential name, may be empty
  std::string session;     ///< para session, may be empty
  std::string image;       ///< image reference, may be empty
  std::string result = "ok";
  std::string fingerprint;
  std::string detail;
  std::int64_t time = 0;  ///< filled in by the log when 0
};

struct LogCheck {
  std::size_t records = 0;
  std::vector<std::string> problems;  ///< one sentence each; empty when the chain is intact
};

class AccessLog {
 public:
  AccessLog(std::filesystem::path dir, SecureBytes log_key, std::string vault_id, Clock clock);

  /// Appends one record (and first any pending failed unlocks) under the log lock.
  Status append(LogRecord record);
  /// Checks every line, the chain, and the head.
  Result<LogCheck> verify() const;

  /// Records a failed unlock without the key (see access.pending).
  static Status append_pending(const std::filesystem::path& dir, std::int64_t time, std::string_view detail);

 private:
  std::string mac_of(std::string_view canonical) const;
  std::string genesis() const;
  std::string head_tag(std::uint64_t seq, std::string_view mac) const;
  Status append_locked(LogRecord record, std::uint64_t& seq, std::string& prev);
  Status write_head(std::uint64_t seq, const std::string& mac) const;

  std::filesystem::path m_dir;
  SecureBytes m_key;
  std::string m_vault_id;
  Clock m_clock;
};

}  // namespace pb::vault
