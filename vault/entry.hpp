#pragma once
// One credential = one entry file, `entries/<id>.pbe`:
//
//   entry-file  = magic version id-len id [generation] meta-len meta-box payload-len payload-box
//   magic       = "PBVE"                    ; 4 bytes
//   version     = %x02 (written) / %x01     ; 1 byte, k_entry_version; version 1 has no generation
//   id-len      = 1 byte, 16                ; length of id
//   id          = 16 lower-case hex digits  ; must equal the file name's stem
//   generation  = u64 big-endian, >= 1     ; version 2 only: counts the entry's writes; the
//                                           ; access log records each (vault/access_log.hpp)
//   meta-len    = u32 big-endian            ; size of meta-box, <= 64 KiB
//   meta-box    = nonce(12) ciphertext tag(16)   ; AES-256-GCM of meta.json,
//                                                ; AAD = header || "meta"
//   payload-len = u32 big-endian            ; size of payload-box, <= 16 MiB
//   payload-box = nonce(12) ciphertext tag(16)   ; AES-256-GCM of a tar of the
//                                                ; captured files and meta.json,
//                                                ; AAD = header || "payload"
//   header      = magic version id-len id [generation]
//
// Nothing may follow the payload box. The metadata sits in its own small box
// so that `list` decrypts a few hundred bytes per entry, never the payload;
// the payload repeats meta.json so the two boxes cannot be mixed between
// versions of an entry, and meta lists the sha256 of every payload file.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/secure_buffer.hpp"
#include "vault/archive.hpp"
#include "vault/crypto.hpp"

namespace pb::vault {

inline constexpr std::uint8_t k_entry_version = 2;
inline constexpr std::uint8_t k_entry_version_without_generation = 1;
inline constexpr std::size_t k_entry_id_size = 16;
inline constexpr std::size_t k_max_meta_box = 64u << 10;
inline constexpr std::size_t k_max_payload_box = 16u << 20;
inline constexpr std::size_t k_max_entry_file =
    4 + 1 + 1 + k_entry_id_size + 8 + 4 + k_max_meta_box + 4 + k_max_payload_box;

/// Payload file names (home-relative, as Claude Code keeps them).
inline constexpr const char* k_credentials_file = ".claude/.credentials.json";
inline constexpr const char* k_claude_json_file = ".claude.json";
inline constexpr const char* k_meta_file = "meta.json";

struct FileDigest {
  std::string name;
  std::string sha256;  ///< lower-case hex
  std::uint64_t size = 0;
};

/// What `list` and `audit` show; never a secret.
struct EntryMeta {
  std::string id;
  std::string name;
  std::string kind;                        ///< "oauth", "api-key" or "setup-token"
  std::string account;                     ///< e-mail address, may be empty
  std::string account_uuid;                ///< may be empty
  std::string identity;                    ///< what makes two captures "the same account"
  std::string plan;                        ///< e.g. "max", "pro"; may be empty
  std::optional<std::int64_t> expires_at;  ///< access-token expiry, ms since epoch
  std::string source;                      ///< "dir:/path", "host", "container:…", "image:…"
  std::string fingerprint;                 ///< keyed fingerprint of the secret (hex)
  std::int64_t created = 0;                ///< ms since epoch
  std::int64_t updated = 0;
  std::optional<std::int64_t> last_used;
  std::vector<FileDigest> files;
  /// The login this one replaced, kept beside the entry as <id>.prev so that a
  /// bad write-back can be undone (`vault restore`); nullopt when none is kept.
  struct Previous {
    std::string fingerprint;  ///< of the replaced login
    std::string source;       ///< where the replaced login came from
    std::int64_t replaced_at = 0;
  };
  std::optional<Previous> previous;
  /// From the entry file's header, not meta.json: 0 for a version-1 entry.
  std::uint64_t generation = 0;

  std::string to_json_text() const;
  static Result<EntryMeta> from_json_text(std::string_view text);
};

/// The plain header of an entry file (no key needed; `vault inspect`).
struct EntryFileHeader {
  std::uint8_t version = 0;
  std::string id;
  std::uint64_t generation = 0;  ///< 0 for version 1
  std::size_t header_size = 0;
  std::size_t meta_box_size = 0;
  std::size_t payload_box_size = 0;
};

/// Whether `id` is a well-formed entry id (16 lower-case hex digits).
bool is_entry_id(std::string_view id);

/// Parses the structure of an entry file without decrypting (integrity error
/// with a sentence when the layout is wrong).
Result<EntryFileHeader> parse_entry_header(ByteSpan file);

/// Builds an entry file: meta box plus payload box (files + meta.json), at
/// generation `meta.generation` (must be >= 1).
Result<Bytes> encode_entry(ByteSpan entry_key, const EntryMeta& meta, const std::vector<ArchiveFile>& files,
                           const RandomSource& random);

/// Decrypts the meta box only (fast path for `list`).
Result<EntryMeta> decode_entry_meta(ByteSpan entry_key, ByteSpan file, std::string_view expected_id);

struct DecodedEntry {
  EntryMeta meta;
  std::vector<ArchiveFile> files;  ///< without meta.json
};
/// Decrypts and checks everything: both boxes, tar, meta.json equality, sha256 of each file.
Result<DecodedEntry> decode_entry(ByteSpan entry_key, ByteSpan file, std::string_view expected_id);

}  // namespace pb::vault
