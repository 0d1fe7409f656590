#pragma once
// The vault: a directory of encrypted credential entries, its key header and
// its access log. Knows nothing of Docker.
//
//   <home>/vault.json          key header (see docs/vault-format.md)
//   <home>/entries/<id>.pbe    one entry per credential (vault/entry.hpp)
//   <home>/access.log|.head|.pending   access log (vault/access_log.hpp)
//   <home>/rotate/             a `vault rotate`'s staged files (only while one runs, or after a kill)
//   <home>/.store.lock         flock: exclusive while entries or the header change
//   <home>/.log.lock           flock: exclusive while the log chain grows
//
// Key hierarchy: a random 256-bit data key, wrapped (AES-256-GCM) by a
// key-encryption key from the provider: the key file (256 random bits) or
// scrypt(passphrase). From the data key, HKDF-SHA256 derives the entry key,
// the log MAC key and the fingerprint key. `rekey` re-wraps the data key;
// `rotate` replaces it and everything under it.

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/secure_buffer.hpp"
#include "vault/access_log.hpp"
#include "vault/capture.hpp"
#include "vault/crypto.hpp"
#include "vault/entry.hpp"

namespace pb::vault {

enum class Provider { key_file, passphrase };
std::string_view provider_name(Provider p);

/// Asks for a passphrase; `confirm` asks twice (new passphrases).
using PassphraseSource = std::function<Result<SecureString>(std::string_view prompt, bool confirm)>;

struct Options {
  std::filesystem::path home;      ///< vault directory
  std::filesystem::path key_file;  ///< key-file provider's key
  Clock clock = system_clock();
  RandomSource random = system_random();
  /// Where a passphrase comes from; none: a passphrase vault without a cached
  /// key is locked. The command line gives its own (broker/commands/vault_view.hpp).
  PassphraseSource passphrase;
  /// How long an unwrapped passphrase key stays in the kernel keyring; 0 = no cache.
  std::chrono::seconds key_cache_ttl{300};
  ScryptParams scrypt{};
};

/// Who accesses a credential, for the access log.
struct AccessInfo {
  std::string session;
  std::string image;
};

/// A damaged entry or log problem, named so that the user can act on it.
struct Problem {
  std::string id;       ///< entry id (from the file name), empty for the log
  std::string name;     ///< credential name when it could still be read
  std::string message;  ///< one sentence
};

struct Listing {
  std::vector<EntryMeta> entries;  ///< sorted by name
  std::vector<Problem> damaged;    ///< entries whose metadata cannot be read
};

struct CaptureOptions {
  std::optional<std::string> name;  ///< default: the existing entry's, else from the account
  AccessInfo access;
};

struct CaptureOutcome {
  enum class Action { created, replaced, kept_stored };  ///< kept_stored: the vault's login is newer
  Action action = Action::created;
  EntryMeta meta;
};

struct VerifyReport {
  std::size_t entries_ok = 0;
  std::size_t log_records = 0;
  std::vector<Problem> problems;
  bool ok() const { return problems.empty(); }
};

/// The error a failed verify ends with (`vault verify`, and `vault rotate`, which refuses such a vault).
Error integrity_failure(const VerifyReport& report);

struct RotateOutcome {
  std::size_t entries = 0;      ///< entries/<id>.pbe re-encrypted
  std::size_t previous = 0;     ///< entries/<id>.prev (kept previous logins) re-encrypted
  std::size_t log_records = 0;  ///< access-log records now under the new log key
};

class Vault {
 public:
  /// Whether `opts.home` holds a vault header.
  static bool exists(const Options& opts);
  /// Creates a new vault (conflict if one exists). key_file: uses the key file
  /// if present, else creates it (0600). passphrase: asks for a new one.
  static Result<Vault> init(const Options& opts, Provider provider);
  /// Unlocks an existing vault: not_found if there is none, locked (exit 4) on
  /// a wrong or missing key; a failed unlock is logged.
  static Result<Vault> open(const Options& opts);
  /// open(), or init() with the key-file provider when there is no vault yet.
  static Result<Vault> open_or_create(const Options& opts);

  Vault(Vault&&) noexcept;
  Vault& operator=(Vault&&) = delete;
  ~Vault();

  Provider provider() const { return m_provider; }
  const std::string& vault_id() const { return m_vault_id; }
  const Options& options() const { return m_opts; }

  /// Metadata of every entry without decrypting payloads; an entry the access
  /// log does not name as it is (older, removed) is listed as damaged.
  Result<Listing> list() const;
  /// An entry's metadata by name or id (not_found, integrity).
  Result<EntryMeta> find(std::string_view name_or_id) const;
  /// Decrypts and checks one entry: its files (name -> bytes) and metadata.
  Result<DecodedEntry> read(std::string_view name_or_id) const;

  /// Stores a capture: the same account (or name) updates its entry, where a
  /// newer access-token expiry wins; logged as "capture".
  Result<CaptureOutcome> capture(const Capture& capture, const CaptureOptions& options);
  /// Writes refreshed files into entry `id` (under the store lock); the caller
  /// has judged them newer and of the same account; logged as op (e.g. "writeback").
  Result<CaptureOutcome> update(std::string_view id, const Capture& capture, const AccessInfo& access,
                                std::string_view op = "update");
  /// Sets last_used to now and logs `op` (e.g. "mount") with the session and image.
  Result<EntryMeta> touch(std::string_view name_or_id, const AccessInfo& access, std::string_view op = "mount");
  /// Puts back the login that the last replacement of an entry (a write-back or
  /// a new capture) replaced, keeping the current one as the previous in turn;
  /// logged as "restore". not_found when none is kept; integrity when the kept
  /// file is not the one the entry names.
  Result<EntryMeta> restore_previous(std::string_view name_or_id, const AccessInfo& access = {});
  /// Deletes an entry (and the previous login kept beside it); logged as "rm".
  Result<EntryMeta> remove(std::string_view name_or_id, const AccessInfo& access = {});
  /// Re-wraps the data key under a new key from `provider`; the old key stops working.
  Status rekey(Provider provider);
  /// `vault rotate`: a new random data key for everything. Refuses a vault that
  /// does not verify (integrity_failure()). Every entry and kept previous login
  /// is re-encrypted (same generations, fingerprints under the new key), the
  /// access log is re-authenticated under the new log key with "rotate"
  /// records added, the header gets the new wrapped key and key check (key-file
  /// provider: under a new key file, which replaces the old one; passphrase:
  /// the same passphrase, asked for and checked, with a fresh salt), and the
  /// cached key is replaced. Staged under rotate/ and committed by replacing the
  /// header; an interrupted rotate is finished (committed) or discarded (not)
  /// by the next command that takes the store lock.
  Result<RotateOutcome> rotate(const AccessInfo& access = {});
  /// Explicit, logged repair of a broken access log (`vault repair-log`): keeps
  /// its records that still chain, appends a "repair-log" record naming what
  /// was wrong, and accepts each entry file as it is now (except removed ones);
  /// returns one sentence saying what it did.
  Result<std::string> repair_log();
  /// Appends a record to the access log (other components: mount, release, audit).
  Status log(LogRecord record);
  /// Checks every entry completely and the log chain.
  Result<VerifyReport> verify() const;

  /// Keyed fingerprint of a secret (16 hex digits), for log records.
  std::string fingerprint(ByteSpan secret) const;

  /// A key for `purpose` outside the vault's own files (e.g. authenticating a
  /// cache): HKDF-SHA256 of the data key under "para-broker derived key v1: "
  /// followed by `purpose`, a label none of the vault's own keys uses. Another
  /// data key (another vault, or this one after `vault rotate`) derives another key.
  Result<SecureBytes> derive_key(std::string_view purpose) const;

 private:
  Vault(Options opts, Provider provider, std::string vault_id, SecureBytes data_key);
  std::filesystem::path entry_path(std::string_view id) const;
  /// Where the login an entry replaced is kept: entries/<id>.prev (same format as the entry).
  std::filesystem::path previous_path(std::string_view id) const;
  Result<Listing> list_locked() const;
  Result<EntryMeta> find_locked(std::string_view name_or_id) const;
  Result<DecodedEntry> read_locked(std::string_view name_or_id) const;
  Result<CaptureOutcome> store_capture(const Capture& capture, const CaptureOptions& options,
                                       std::optional<std::string> only_id, std::string_view op);
  Result<VerifyReport> verify_locked() const;
  /// Takes .store.lock (finishing or discarding an interrupted rotate first),
  /// then makes sure this object's keys are the header's (see ensure_current()).
  Result<FileLock> lock_store(FileLock::Mode mode) const;
  /// With the store lock held: when the header's key check is no longer this
  /// object's (a `vault rotate` ran since it was opened), switches to the new
  /// data key (from the key file, or the key cache), else refuses, writing nothing.
  Status ensure_current() const;
  /// Derives the entry, fingerprint and log keys of `data_key` and makes it this object's.
  void use_data_key(SecureBytes data_key) const;

  Options m_opts;
  mutable Provider m_provider;
  std::string m_vault_id;
  // Mutable: a vault object opened before a `vault rotate` switches to the new
  // key under the store lock (ensure_current()), in const readers too. One
  // thread at a time uses a Vault object.
  mutable SecureBytes m_data_key;
  mutable SecureBytes m_entry_key;
  mutable SecureBytes m_fp_key;
  mutable std::string m_key_check;
  mutable std::unique_ptr<AccessLog> m_log;
};

/// The access-log anchor of vault `vault_id`: beside the key file, outside the vault directory.
std::filesystem::path anchor_path(const Options& opts, std::string_view vault_id);

/// Whether `name` can name a credential: 1-64 of [A-Za-z0-9._@+-], starting alphanumeric.
bool is_valid_name(std::string_view name);

/// `vault inspect`: the plain header of a vault file (key header or entry),
/// as JSON text; never decrypts, never prints secrets.
Result<std::string> inspect_file(const std::filesystem::path& file);

}  // namespace pb::vault
