#include "vault/vault.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <map>
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

constexpr int k_header_version = 1;
constexpr const char* k_header_file = "vault.json";
constexpr std::uint64_t k_min_scrypt_n = std::uint64_t{1} << 15;
constexpr std::uint64_t k_max_scrypt_n = std::uint64_t{1} << 20;
/// A new passphrase shorter than this is refused: with the KDF's cost, fewer
/// characters fall to an offline search of the key header within days.
constexpr std::size_t k_min_passphrase = 12;

struct Header {
  std::string vault_id;  // 32 hex digits
  Provider provider = Provider::key_file;
  ScryptParams scrypt;
  Bytes salt;
  Bytes wrapped_key;
  std::int64_t created = 0;
  /// 32 hex digits of HMAC(data key, "para-broker key check v1|" vault id): a
  /// cached data key must match it. Empty in headers of before key checks.
  std::string key_check;
};

std::string key_check_of(ByteSpan data_key, std::string_view vault_id) {
  return to_hex(hmac_sha256(data_key, as_bytes("para-broker key check v1|" + std::string(vault_id)))).substr(0, 32);
}

/// What the wrapped data key is bound to: format, version and every parameter.
std::string header_aad(const Header& h) {
  std::string aad = "para-broker-vault/" + std::to_string(k_header_version) + "|" + h.vault_id + "|" +
                    std::string(provider_name(h.provider));
  if (h.provider == Provider::passphrase)
    aad += "|scrypt|" + std::to_string(h.scrypt.n) + "|" + std::to_string(h.scrypt.r) + "|" +
           std::to_string(h.scrypt.p) + "|" + to_hex(h.salt);
  if (!h.key_check.empty()) aad += "|check|" + h.key_check;
  return aad;
}

std::string cache_description(const Header& h) {
  const std::string aad = header_aad(h);
  Bytes d(aad.begin(), aad.end());
  d.insert(d.end(), h.wrapped_key.begin(), h.wrapped_key.end());
  return "para-broker:v1:" + h.vault_id + ":" + to_hex(sha256(d)).substr(0, 16);
}

std::string header_json(const Header& h) {
  json j = {{"format", "para-broker-vault"},
            {"version", k_header_version},
            {"vault_id", h.vault_id},
            {"provider", provider_name(h.provider)},
            {"kdf", nullptr},
            {"wrapped_key", to_hex(h.wrapped_key)},
            {"created", h.created}};
  if (h.provider == Provider::passphrase)
    j["kdf"] = {{"name", "scrypt"}, {"n", h.scrypt.n}, {"r", h.scrypt.r}, {"p", h.scrypt.p}, {"salt", to_hex(h.salt)}};
  if (!h.key_check.empty()) j["key_check"] = h.key_check;
  return j.dump(2) + "\n";
}

Result<Header> parse_header(std::string_view text, const fs::path& path) {
  auto bad = [&](const std::string& why) {
    return fail(ErrorKind::integrity, "the vault header " + path.string() + " is damaged: " + why);
  };
  try {
    auto j = json::parse(text);
    if (j.at("format") != "para-broker-vault") return bad("it is not a para-broker vault header");
    const int v = whole_number_or_throw<int>(j.at("version"));
    if (v != k_header_version)
      return bad("it has format version " + std::to_string(v) + ", this para-broker reads version " +
                 std::to_string(k_header_version));
    Header h;
    h.vault_id = j.at("vault_id").get<std::string>();
    if (h.vault_id.size() != 32 || !from_hex(h.vault_id)) return bad("its vault id is malformed");
    const std::string p = j.at("provider").get<std::string>();
    if (p == "key-file") {
      h.provider = Provider::key_file;
    } else if (p == "passphrase") {
      h.provider = Provider::passphrase;
      const auto& k = j.at("kdf");
      if (k.at("name") != "scrypt") return bad("its key derivation is not scrypt");
      h.scrypt.n = whole_number_or_throw<std::uint64_t>(k.at("n"));
      h.scrypt.r = whole_number_or_throw<std::uint32_t>(k.at("r"));
      h.scrypt.p = whole_number_or_throw<std::uint32_t>(k.at("p"));
      // Bounds: weaker than the minimum would be a downgrade; far stronger would exhaust memory.
      if (h.scrypt.n < k_min_scrypt_n || h.scrypt.n > k_max_scrypt_n || (h.scrypt.n & (h.scrypt.n - 1)) != 0 ||
          h.scrypt.r < 8 || h.scrypt.r > 16 || h.scrypt.p < 1 || h.scrypt.p > 4)
        return bad("its scrypt parameters are out of bounds");
      auto salt = from_hex(k.at("salt").get<std::string>());
      if (!salt || salt->size() != 16) return bad("its salt is malformed");
      h.salt = std::move(*salt);
    } else {
      return bad("its key provider '" + p + "' is unknown");
    }
    auto wrapped = from_hex(j.at("wrapped_key").get<std::string>());
    if (!wrapped || wrapped->size() != k_key_size + k_box_overhead) return bad("its wrapped key is malformed");
    h.wrapped_key = std::move(*wrapped);
    h.created = whole_number_or_throw<std::int64_t>(j.at("created"));
    if (auto c = j.find("key_check"); c != j.end()) {
      h.key_check = c->get<std::string>();
      if (h.key_check.size() != 32 || !from_hex(h.key_check)) return bad("its key check is malformed");
    }
    return h;
  } catch (const json::exception&) {
    return bad("it is not valid JSON");
  }
}

Result<Header> read_header(const fs::path& home) {
  const fs::path path = home / k_header_file;
  auto bytes = read_file(path, 64u << 10);
  if (!bytes) {
    if (bytes.error().kind == ErrorKind::not_found)
      return fail(ErrorKind::not_found, "there is no vault in " + home.string() +
                                            "; create one with 'para-broker vault init' or import a credential");
    return std::move(bytes).error();
  }
  return parse_header(as_chars(*bytes), path);
}

std::string random_hex(const RandomSource& random, std::size_t bytes) {
  Bytes b(bytes);
  random(b);
  return to_hex(b);
}

/// Reads the key file's 256 bits (64 hex digits), refusing a file others can read.
Result<SecureBytes> read_key_file(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0)
    return fail(ErrorKind::locked, "the vault is locked: its key file " + path.string() +
                                       " is missing; restore it or set PARA_BROKER_KEY_FILE");
  if (!S_ISREG(st.st_mode))
    return fail(ErrorKind::unsafe_input, "the key file " + path.string() + " is not a regular file");
  if ((st.st_mode & 077) != 0)
    return fail(ErrorKind::unsafe_input,
                "the key file " + path.string() + " can be read by others; fix it with: chmod 600 " + path.string());
  if (st.st_uid != ::geteuid())
    return fail(ErrorKind::unsafe_input, "the key file " + path.string() + " belongs to uid " +
                                             std::to_string(st.st_uid) + ", not to you; use a key file of your own");
  PB_TRY(SecureBytes text, read_file(path, 256));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  auto key = from_hex(as_chars(text));
  if (!key || key->size() != k_key_size)
    return fail(ErrorKind::locked, "the key file " + path.string() + " is malformed (expected 64 hex digits)");
  SecureBytes out(key->begin(), key->end());
  secure_wipe(key->data(), key->size());
  return out;
}

/// Creates the key file only if there is none. It appears complete or not at
/// all: a process killed while writing it must not leave an empty or partial
/// key file, which would lock the vault for good.
Status write_key_file_exclusive(const fs::path& path, ByteSpan key) {
  PB_TRY_STATUS(ensure_private_dir(path.parent_path(), "key directory"));
  PB_TRY(AtomicFile file, AtomicFile::create(path, 0600));
  static constexpr char k_digits[] = "0123456789abcdef";
  SecureString text;
  text.reserve(key.size() * 2 + 1);  // one allocation: growth would leave no copy anyway, but none is needed
  for (std::uint8_t b : key) {
    text.push_back(k_digits[b >> 4]);
    text.push_back(k_digits[b & 15]);
  }
  text.push_back('\n');
  PB_TRY_STATUS(file.write(std::string_view(text.data(), text.size())));
  Status s = file.commit_new();
  if (!s.ok() && s.error().kind == ErrorKind::conflict)
    return fail(ErrorKind::conflict, "the key file " + path.string() + " already exists");
  return s;
}

/// Creates the key file with fresh random bits, or reads the one there (a race
/// with another first capture ends with both using the winner's key).
Result<SecureBytes> ensure_key_file(const fs::path& path, const RandomSource& random) {
  SecureBytes key(k_key_size);
  random(key);
  Status s = write_key_file_exclusive(path, key);
  if (s.ok()) return key;
  if (s.error().kind == ErrorKind::conflict) return read_key_file(path);
  return std::move(s).error();
}

Result<SecureBytes> kek_from_passphrase(const Options& opts, const Header& h, bool confirm, std::string_view prompt) {
  if (!opts.passphrase) return fail(ErrorKind::locked, "the vault is locked and no passphrase source is available");
  PB_TRY(SecureString pass, opts.passphrase(prompt, confirm));
  if (pass.empty()) return fail(ErrorKind::locked, "the passphrase is empty");
  if (confirm && pass.size() < k_min_passphrase)
    return fail(ErrorKind::unsafe_input, "the new passphrase is too short to protect the vault: use at least " +
                                             std::to_string(k_min_passphrase) +
                                             " characters (a few unrelated words); nothing was changed");
  return scrypt(std::string_view(pass.data(), pass.size()), h.salt, h.scrypt);
}

/// Removes the temp files that killed writers left behind: of entries, of the
/// header and of the key file. Only with the store lock held, which every
/// writer of those files holds.
/// "<key file>.new" of a killed rekey or rotate (none runs while the store
/// lock is held): installed if it unlocks the header (killed after replacing
/// it), else removed (killed before: it unlocks nothing). Store lock held.
void settle_new_key_file(const Options& opts) {
  fs::path pending = opts.key_file;
  pending += ".new";
  if (::access(pending.c_str(), F_OK) != 0) return;
  if (auto h = read_header(opts.home); h && h->provider == Provider::key_file) {
    if (auto next = read_key_file(pending); next && vault::open(*next, h->wrapped_key, as_bytes(header_aad(*h)))) {
      if (::rename(pending.c_str(), opts.key_file.c_str()) == 0) (void)fsync_dir(opts.key_file.parent_path());
      return;
    }
  }
  ::unlink(pending.c_str());
}

void remove_stale_temps(const Options& opts) {
  remove_temp_files(opts.home / "entries");
  remove_temp_files(opts.home, k_header_file);
  remove_temp_files(opts.key_file.parent_path(), opts.key_file.filename().string());
  settle_new_key_file(opts);
}

// ---- vault rotate: staged under <home>/rotate/, committed by replacing the header
//
//   rotate/journal          {"vault_id", "key_check"}: the new header's key check, written first
//   rotate/entries/<id>.pbe, rotate/entries/<id>.prev   re-encrypted under the new key
//   rotate/access.log, rotate/access.head               the log under the new log key
//   <anchor>.rotate                                     its anchor, beside the anchor
//   <key file>.new                                      the new key file (key-file provider)
//
// The commit is the atomic replacement of vault.json by the new header. With
// the store lock held exclusively, a rotate/ left by a kill is finished when
// the header's key check is the journal's (committed: every staged file is
// renamed into place, the key file first), else discarded (the header is the
// old one: nothing staged is used). Each step of finishing is a rename of a
// staged file that is then gone, so finishing again after a kill goes on.

constexpr const char* k_rotate_dir = "rotate";

fs::path staged_anchor(const fs::path& anchor) {
  fs::path p = anchor;
  p += ".rotate";
  return p;
}

bool rotation_staged(const Options& opts) {
  struct stat st {};
  return ::lstat((opts.home / k_rotate_dir).c_str(), &st) == 0;
}

Status rename_into(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) == 0 || errno == ENOENT) return {};
  return fail(ErrorKind::failure, "installing " + to.string() + " (vault rotate) failed");
}

/// Finishes or discards what a killed `vault rotate` staged. Store lock held exclusively.
Status recover_rotation(const Options& opts) {
  const fs::path stage = opts.home / k_rotate_dir;
  if (!rotation_staged(opts)) return {};
  auto header = read_header(opts.home);
  if (!header) return {};  // no header to decide by: leave everything as it is for the user to see
  std::string journal_check, journal_id;
  if (auto j = read_file(stage / "journal", 4096)) {
    try {
      auto parsed = json::parse(as_chars(*j));
      journal_check = parsed.at("key_check").get<std::string>();
      journal_id = parsed.at("vault_id").get<std::string>();
    } catch (const json::exception&) {
      journal_check.clear();
    }
  }
  const bool committed = !journal_check.empty() && journal_id == header->vault_id && journal_check == header->key_check;
  const fs::path anchor = anchor_path(opts, header->vault_id);
  if (committed) {
    settle_new_key_file(opts);  // the new header is wrapped under it
    std::vector<fs::path> staged;
    std::error_code ec;
    for (fs::directory_iterator it(stage / "entries", ec), end; !ec && it != end; it.increment(ec))
      staged.push_back(it->path());
    std::sort(staged.begin(), staged.end());
    for (const auto& from : staged) {
      const std::string name = from.filename().string();
      const bool entry = name.size() == k_entry_id_size + 4 && name.ends_with(".pbe");
      const bool kept = name.size() == k_entry_id_size + 5 && name.ends_with(".prev");
      if ((entry || kept) && is_entry_id(name.substr(0, k_entry_id_size)))
        PB_TRY_STATUS(rename_into(from, opts.home / "entries" / name));
    }
    PB_TRY_STATUS(fsync_dir(opts.home / "entries"));
    PB_CRASH_POINT("vault.rotate.entries_installed");
    // The log before its head: a kill between leaves the new log with the old
    // head, which only this finishing reads (the head is renamed next).
    PB_TRY_STATUS(rename_into(stage / "access.log", opts.home / "access.log"));
    PB_TRY_STATUS(rename_into(stage / "access.head", opts.home / "access.head"));
    PB_TRY_STATUS(fsync_dir(opts.home));
    PB_CRASH_POINT("vault.rotate.log_installed");
    PB_TRY_STATUS(rename_into(staged_anchor(anchor), anchor));
    PB_TRY_STATUS(fsync_dir(anchor.parent_path()));
    PB_CRASH_POINT("vault.rotate.installed");
  } else {
    ::unlink(staged_anchor(anchor).c_str());
    settle_new_key_file(opts);  // it unlocks nothing: removed
  }
  std::error_code ec;
  fs::remove_all(stage, ec);
  if (ec) return fail(ErrorKind::failure, "removing " + stage.string() + " (vault rotate) failed: " + ec.message());
  return fsync_dir(opts.home);
}

/// Takes .store.lock in `mode`, first finishing or discarding an interrupted
/// rotate (which needs it exclusively).
Result<FileLock> acquire_store(const Options& opts, FileLock::Mode mode) {
  const fs::path path = opts.home / ".store.lock";
  if (mode == FileLock::Mode::exclusive) {
    PB_TRY(FileLock lock, FileLock::acquire(path, mode));
    PB_TRY_STATUS(recover_rotation(opts));
    return lock;
  }
  for (;;) {
    {
      PB_TRY(FileLock lock, FileLock::acquire(path, mode));
      if (!rotation_staged(opts)) return lock;
    }
    PB_TRY(FileLock lock, FileLock::acquire(path, FileLock::Mode::exclusive));
    PB_TRY_STATUS(recover_rotation(opts));
  }
}

Status write_header(const fs::path& home, const Header& h) {
  return write_file_atomic(home / k_header_file, as_bytes(header_json(h)));
}

std::string default_name(const LoginSummary& s) {
  std::string base = s.account.substr(0, s.account.find('@'));
  std::string out;
  for (char c : base)
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') out.push_back(c);
  while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out.front()))) out.erase(out.begin());
  if (out.size() > 48) out.resize(48);
  return out.empty() ? s.kind : out;
}

/// The directories above the vault and the key file (which also holds the log's
/// anchor): others must not be able to replace them (OpenSSH's StrictModes).
Status check_locations(const Options& opts) {
  PB_TRY_STATUS(check_parent_dirs(opts.home, "the vault directory"));
  return check_parent_dirs(opts.key_file, "the key file", true);
}

/// Why an entry file is not the one the access log last recorded, if it is not.
std::optional<std::string> stale_reason(const EntryMeta& m, const EntryStates& states) {
  const auto it = states.find(m.id);
  if (it != states.end() && it->second.removed)
    return "it was removed (its last access-log record is 'rm') and has been put back";
  const std::uint64_t logged = it == states.end() ? 0 : it->second.generation;
  if (m.generation == logged) {
    if (it != states.end() && !it->second.fingerprint.empty() && m.fingerprint != it->second.fingerprint)
      return std::string("its login is not the one the access log last recorded for it (an older copy put back?)");
    return std::nullopt;
  }
  // One past the log: a write killed before its log record (the next write of it logs on).
  if (m.generation == logged + 1) return std::nullopt;
  return "it is generation " + std::to_string(m.generation) + ", the access log's latest for it is " +
         std::to_string(logged) + (m.generation < logged ? " (an older copy put back)" : "");
}

}  // namespace

fs::path anchor_path(const Options& opts, std::string_view vault_id) {
  return opts.key_file.parent_path() / ("vault-" + std::string(vault_id) + ".anchor");
}

std::string_view provider_name(Provider p) {
  return p == Provider::key_file ? "key-file" : "passphrase";
}

bool is_valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || !std::isalnum(static_cast<unsigned char>(name.front()))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '@' || c == '+' || c == '-';
  });
}

Vault::Vault(Options opts, Provider provider, std::string vault_id, SecureBytes data_key)
    : m_opts(std::move(opts)), m_provider(provider), m_vault_id(std::move(vault_id)) {
  use_data_key(std::move(data_key));
}

void Vault::use_data_key(SecureBytes data_key) const {
  // HKDF with distinct labels: a key never serves two purposes.
  m_data_key = std::move(data_key);
  m_entry_key = hkdf_sha256(m_data_key, "para-broker entry key v1").value();
  m_fp_key = hkdf_sha256(m_data_key, "para-broker fingerprint key v1").value();
  m_key_check = key_check_of(m_data_key, m_vault_id);
  m_log = std::make_unique<AccessLog>(m_opts.home, hkdf_sha256(m_data_key, "para-broker log key v1").value(),
                                      m_vault_id, m_opts.clock, anchor_path(m_opts, m_vault_id));
}

Vault::Vault(Vault&&) noexcept = default;
Vault::~Vault() = default;

bool Vault::exists(const Options& opts) {
  std::error_code ec;
  return fs::exists(opts.home / k_header_file, ec);
}

Result<Vault> Vault::init(const Options& opts, Provider provider) {
  PB_TRY_STATUS(check_locations(opts));
  PB_TRY_STATUS(ensure_private_dir(opts.home, "vault directory"));
  PB_TRY_STATUS(ensure_private_dir(opts.home / "entries", "vault entries directory"));
  // Protects: the vault header and the set of entries.
  PB_TRY(FileLock lock, FileLock::acquire(opts.home / ".store.lock", FileLock::Mode::exclusive));
  remove_stale_temps(opts);
  if (exists(opts))
    return fail(ErrorKind::conflict, "a vault already exists in " + opts.home.string() +
                                         "; use 'para-broker vault rekey' to change its key");
  Header h;
  h.vault_id = random_hex(opts.random, 16);
  h.provider = provider;
  h.created = opts.clock();
  SecureBytes kek;
  if (provider == Provider::key_file) {
    PB_TRY(kek, ensure_key_file(opts.key_file, opts.random));
    PB_CRASH_POINT("vault.init.key_file_written");
  } else {
    h.scrypt = opts.scrypt;
    h.salt.resize(16);
    opts.random(h.salt);
    PB_TRY(kek, kek_from_passphrase(opts, h, true, "New vault passphrase"));
  }
  SecureBytes data_key(k_key_size);
  opts.random(data_key);
  h.key_check = key_check_of(data_key, h.vault_id);
  const std::string aad = header_aad(h);
  PB_TRY(h.wrapped_key, seal(kek, data_key, as_bytes(aad), opts.random));
  // The log starts before the header exists, so that a vault never exists
  // without its log (verify would report a missing log). A log without a
  // header is what an init killed before its header left, or the log of a
  // vault whose header was deleted: it is kept aside, not continued.
  LogRecord r;
  r.op = "init";
  r.detail = "provider " + std::string(provider_name(provider));
  const std::string aside = ".orphan-" + std::to_string(h.created);
  bool kept_aside = false;
  for (const char* name : {"access.log", "access.head", "access.pending"}) {
    const fs::path from = opts.home / name;
    fs::path to = from;
    to += aside;
    if (::rename(from.c_str(), to.c_str()) == 0) kept_aside = true;
  }
  if (kept_aside) {
    r.detail += "; an earlier log without a vault header was kept as access.*" + aside;
    // The anchor temp file an init killed while anchoring that log left; its
    // vault never came to be (a writer of another vault sharing this directory
    // would at worst leave its anchor one record behind, which is accepted).
    remove_temp_files(anchor_path(opts, h.vault_id).parent_path(), "vault-");
  }
  Vault v(opts, provider, h.vault_id, std::move(data_key));
  PB_TRY_STATUS(v.m_log->start(std::move(r)));
  PB_CRASH_POINT("vault.init.log_started");
  PB_TRY_STATUS(write_header(opts.home, h));
  if (provider == Provider::passphrase)
    platform::key_cache().store(cache_description(h), v.m_data_key, opts.key_cache_ttl);
  return v;
}

namespace {

/// The data key from the key file, or from "<key file>.new" when a rekey
/// stopped between replacing the header and the key file (the new key is then
/// installed; the key file may even be missing, after a switch from a
/// passphrase); nullopt when neither unlocks. Call with the store lock held.
Result<std::optional<SecureBytes>> data_key_from_key_file(const Options& opts, const Header& h) {
  const std::string aad = header_aad(h);
  auto unwrap = [&](ByteSpan kek) { return vault::open(kek, h.wrapped_key, as_bytes(aad)); };
  auto kek = read_key_file(opts.key_file);
  if (kek) {
    if (auto dk = unwrap(*kek)) return std::optional<SecureBytes>(std::move(*dk));
  }
  fs::path pending = opts.key_file;
  pending += ".new";
  if (auto next = read_key_file(pending)) {
    if (auto dk = unwrap(*next)) {
      if (::rename(pending.c_str(), opts.key_file.c_str()) == 0) {
        (void)fsync_dir(opts.key_file.parent_path());
        PB_CRASH_POINT("vault.open.key_installed");
      }
      return std::optional<SecureBytes>(std::move(*dk));
    }
  } else if (auto again = read_key_file(opts.key_file)) {
    // Another unlock (under the same shared lock) installed it meanwhile.
    if (auto dk = unwrap(*again)) return std::optional<SecureBytes>(std::move(*dk));
  }
  if (!kek) return std::move(kek).error();
  return std::optional<SecureBytes>{};
}

}  // namespace

Result<Vault> Vault::open(const Options& opts) {
  // No vault yet (a fresh machine): the header's "there is no vault" sentence,
  // not an I/O error about the directory.
  if (std::error_code ec; !fs::exists(opts.home, ec) && !ec) return std::move(read_header(opts.home)).error();
  PB_TRY_STATUS(check_locations(opts));
  PB_TRY_STATUS(check_private_dir(opts.home, "vault directory"));
  Header h;
  std::optional<SecureBytes> from_key_file;
  {
    // Protects: the header and the key file, read as a pair (rekey replaces
    // both under the exclusive lock). Not held while a passphrase is asked for.
    std::optional<FileLock> lock;
    if (exists(opts)) {
      PB_TRY(FileLock shared, acquire_store(opts, FileLock::Mode::shared));
      lock.emplace(std::move(shared));
    }
    PB_TRY(h, read_header(opts.home));
    if (h.provider == Provider::key_file) {
      PB_TRY(from_key_file, data_key_from_key_file(opts, h));
    }
  }
  if (from_key_file) return Vault(opts, h.provider, h.vault_id, std::move(*from_key_file));

  std::string failure;
  if (h.provider == Provider::key_file) {
    failure = "the key file " + opts.key_file.string() + " does not unlock the vault in " + opts.home.string() +
              "; restore the right key file or point PARA_BROKER_KEY_FILE at it";
  } else {
    // Only a header with a key check can vouch for a cached key (`vault rekey` adds one).
    const bool cacheable = opts.key_cache_ttl.count() > 0 && !h.key_check.empty();
    if (cacheable) {
      if (auto cached = platform::key_cache().load(cache_description(h), opts.key_cache_ttl);
          cached && cached->size() == k_key_size &&
          equal_ct(as_bytes(key_check_of(*cached, h.vault_id)), as_bytes(h.key_check)))
        return Vault(opts, h.provider, h.vault_id, std::move(*cached));
    }
    PB_TRY(SecureBytes kek, kek_from_passphrase(opts, h, false, "Vault passphrase"));
    if (auto dk = vault::open(kek, h.wrapped_key, as_bytes(header_aad(h)))) {
      if (cacheable) platform::key_cache().store(cache_description(h), *dk, opts.key_cache_ttl);
      return Vault(opts, h.provider, h.vault_id, std::move(*dk));
    }
    failure = "the passphrase does not unlock the vault in " + opts.home.string() + "; nothing was changed";
  }
  (void)AccessLog::append_pending(opts.home, opts.clock(),
                                  h.provider == Provider::key_file ? "wrong key file" : "wrong passphrase");
  return fail(ErrorKind::locked, failure);
}

Result<Vault> Vault::open_or_create(const Options& opts) {
  if (!exists(opts)) {
    auto v = init(opts, Provider::key_file);
    if (v.ok() || v.error().kind != ErrorKind::conflict) return v;
  }
  return open(opts);
}

fs::path Vault::entry_path(std::string_view id) const {
  return m_opts.home / "entries" / (std::string(id) + ".pbe");
}

fs::path Vault::previous_path(std::string_view id) const {
  return m_opts.home / "entries" / (std::string(id) + ".prev");
}

std::string Vault::fingerprint(ByteSpan secret) const {
  return to_hex(hmac_sha256(m_fp_key, secret)).substr(0, 16);
}

Result<SecureBytes> Vault::derive_key(std::string_view purpose) const {
  // A prefix of its own: no purpose can name the entry, log or fingerprint key.
  return hkdf_sha256(m_data_key, "para-broker derived key v1: " + std::string(purpose));
}

Result<Listing> Vault::list() const {
  // Protects: entry files and the log read as one state (a writer holds it
  // exclusively from an entry's write until its log record).
  PB_TRY(FileLock lock, lock_store(FileLock::Mode::shared));
  return list_locked();
}

Result<Listing> Vault::list_locked() const {
  Listing out;
  const fs::path dir = m_opts.home / "entries";
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return out;
    return fail(ErrorKind::failure, "reading " + dir.string() + " failed: " + ec.message());
  }
  PB_TRY(EntryStates states, m_log->entry_states());
  for (; it != end; it.increment(ec)) {
    if (ec) return fail(ErrorKind::failure, "reading " + dir.string() + " failed: " + ec.message());
    const std::string fname = it->path().filename().string();
    if (fname.size() != k_entry_id_size + 4 || !fname.ends_with(".pbe")) continue;  // temp files, strays
    const std::string id = fname.substr(0, k_entry_id_size);
    if (!is_entry_id(id)) continue;
    auto bytes = read_file(it->path(), k_max_entry_file);
    if (!bytes) {
      if (bytes.error().kind == ErrorKind::not_found) continue;  // removed meanwhile
      out.damaged.push_back({id, "", "credential entry " + id + " cannot be read: " + bytes.error().message});
      continue;
    }
    auto meta = decode_entry_meta(m_entry_key, *bytes, id);
    if (!meta) {
      out.damaged.push_back({id, "",
                             "credential entry " + id + " (" + it->path().string() +
                                 ") is corrupt or tampered: " + meta.error().message});
      continue;
    }
    if (auto why = stale_reason(*meta, states)) {
      out.damaged.push_back({id, meta->name,
                             "credential '" + meta->name + "' (entry " + id + ") is refused: " + *why +
                                 "; remove it with 'para-broker rm " + id + "' and capture it again"});
      continue;
    }
    out.entries.push_back(std::move(*meta));
  }
  std::sort(out.entries.begin(), out.entries.end(),
            [](const EntryMeta& a, const EntryMeta& b) { return a.name != b.name ? a.name < b.name : a.id < b.id; });
  return out;
}

Result<EntryMeta> Vault::find_locked(std::string_view name_or_id) const {
  PB_TRY(Listing l, list_locked());
  for (const auto& m : l.entries)
    if (m.name == name_or_id) return m;
  for (const auto& m : l.entries)
    if (m.id == name_or_id) return m;
  for (const auto& d : l.damaged)
    if (d.id == name_or_id) return fail(ErrorKind::integrity, d.message);
  if (!l.damaged.empty())
    return fail(ErrorKind::not_found, "no credential named '" + std::string(name_or_id) +
                                          "' among the readable ones; " + std::to_string(l.damaged.size()) +
                                          " entry file(s) are damaged (see 'para-broker vault verify')");
  return fail(ErrorKind::not_found,
              "no credential named '" + std::string(name_or_id) + "'; 'para-broker list' shows the stored ones");
}

Result<EntryMeta> Vault::find(std::string_view name_or_id) const {
  PB_TRY(FileLock lock, lock_store(FileLock::Mode::shared));
  return find_locked(name_or_id);
}

Result<DecodedEntry> Vault::read(std::string_view name_or_id) const {
  PB_TRY(FileLock lock, lock_store(FileLock::Mode::shared));
  return read_locked(name_or_id);
}

Result<DecodedEntry> Vault::read_locked(std::string_view name_or_id) const {
  PB_TRY(EntryMeta meta, find_locked(name_or_id));
  auto bytes = read_file(entry_path(meta.id), k_max_entry_file);
  if (!bytes) return std::move(bytes).error();
  auto entry = decode_entry(m_entry_key, *bytes, meta.id);
  if (!entry)
    return fail(ErrorKind::integrity, "credential '" + meta.name + "' (entry " + meta.id +
                                          ") is corrupt or tampered: " + entry.error().message +
                                          "; remove it with 'para-broker rm " + meta.id + "' and capture it again");
  if (entry->meta.generation != meta.generation)
    return fail(ErrorKind::integrity, "credential '" + meta.name + "' (entry " + meta.id +
                                          ") changed while it was read, without a lock; try again");
  return entry;
}

Result<CaptureOutcome> Vault::capture(const Capture& capture, const CaptureOptions& options) {
  return store_capture(capture, options, std::nullopt, "capture");
}

Result<CaptureOutcome> Vault::update(std::string_view id, const Capture& capture, const AccessInfo& access,
                                     std::string_view op) {
  CaptureOptions o;
  o.access = access;
  return store_capture(capture, o, std::string(id), op);
}

namespace {

/// The entry a capture replaces: the one written back into (`only_id`), the
/// one of the name given, or the one of the same account; null for a new one.
Result<const EntryMeta*> entry_replaced(const Listing& listing, const std::optional<std::string>& only_id,
                                        const CaptureOptions& options, const LoginSummary& summary) {
  const EntryMeta* existing = nullptr;
  if (only_id) {
    for (const auto& m : listing.entries)
      if (m.id == *only_id) existing = &m;
    if (existing == nullptr) {
      for (const auto& d : listing.damaged)
        if (d.id == *only_id) return fail(ErrorKind::integrity, d.message);
      return fail(ErrorKind::not_found, "no credential entry " + *only_id + " to write back into");
    }
  } else if (options.name) {
    for (const auto& m : listing.entries)
      if (m.name == *options.name) existing = &m;
  } else if (!summary.identity.empty()) {
    for (const auto& m : listing.entries)
      if (m.identity == summary.identity) existing = &m;
  }
  if (existing != nullptr && !existing->identity.empty() && !summary.identity.empty() &&
      existing->identity != summary.identity)
    return fail(ErrorKind::conflict, "credential '" + existing->name +
                                         "' belongs to another account; choose another --name or remove it first");
  return existing;
}

/// A name no entry has: `base`, else `base-2`, `base-3`, ...
std::string unused_name(const Listing& listing, const std::string& base) {
  std::string name = base;
  for (int n = 2;
       std::any_of(listing.entries.begin(), listing.entries.end(), [&](const EntryMeta& m) { return m.name == name; });
       ++n)
    name = base + "-" + std::to_string(n);
  return name;
}

/// What the entry says of the login it holds, and of its files.
void describe_login(EntryMeta& meta, const LoginSummary& summary, const Capture& capture, const std::string& fp,
                    const std::vector<ArchiveFile>& files, std::int64_t now) {
  meta.kind = summary.kind;
  meta.account = summary.account;
  meta.account_uuid = summary.account_uuid;
  if (!summary.identity.empty()) meta.identity = summary.identity;
  meta.plan = summary.plan;
  meta.expires_at = summary.expires_at;
  meta.source = capture.source;
  meta.fingerprint = fp;
  meta.updated = now;
  meta.files.clear();
  for (const auto& f : files) meta.files.push_back({f.name, to_hex(sha256(f.data)), f.data.size()});
}

}  // namespace

Result<CaptureOutcome> Vault::store_capture(const Capture& capture, const CaptureOptions& options,
                                            std::optional<std::string> only_id, std::string_view op) {
  if (options.name && !is_valid_name(*options.name))
    return fail(ErrorKind::usage,
                "'" + *options.name + "' is not a valid credential name (use letters, digits, . _ @ + -)");
  // Everything is validated before the vault is touched: refused input changes nothing.
  SecureBytes reduced;
  if (!capture.claude_json.empty()) {
    PB_TRY(reduced, reduce_claude_json(ByteSpan(capture.claude_json)));
  }
  PB_TRY(LoginSummary summary, summarise_login(capture.credentials_json, reduced));

  PB_TRY_STATUS(ensure_private_dir(m_opts.home / "entries", "vault entries directory"));
  // Protects: the set of entries and each entry's read-modify-write (names and
  // accounts stay unique; an older login never overwrites a newer one).
  PB_TRY(FileLock lock, lock_store(FileLock::Mode::exclusive));
  remove_stale_temps(m_opts);
  PB_TRY(Listing listing, list_locked());
  PB_TRY(const EntryMeta* existing, entry_replaced(listing, only_id, options, summary));

  CaptureOutcome outcome;
  const std::string fp = fingerprint(summary.secret);
  // A capture never replaces a login that expires later; a write-back (only_id)
  // was judged by its caller, who also refuses a stored expiry nobody could believe.
  if (!only_id && existing != nullptr && existing->expires_at && summary.expires_at &&
      *summary.expires_at < *existing->expires_at) {
    outcome.action = CaptureOutcome::Action::kept_stored;
    outcome.meta = *existing;
    PB_TRY_STATUS(m_log->append({.op = std::string(op),
                                 .credential = existing->id,
                                 .name = existing->name,
                                 .session = options.access.session,
                                 .image = options.access.image,
                                 .result = "kept-newer-stored",
                                 .fingerprint = fp,
                                 .detail = "the stored login expires later"}));
    return outcome;
  }

  EntryMeta meta;
  const std::int64_t now = m_opts.clock();
  if (existing != nullptr) {
    meta = *existing;
    outcome.action = CaptureOutcome::Action::replaced;
  } else {
    meta.id = random_hex(m_opts.random, k_entry_id_size / 2);
    meta.name = unused_name(listing, options.name ? *options.name : default_name(summary));
    meta.created = now;
    outcome.action = CaptureOutcome::Action::created;
  }
  std::vector<ArchiveFile> files;
  if (!capture.credentials_json.empty()) files.push_back({k_credentials_file, capture.credentials_json});
  if (!reduced.empty()) files.push_back({k_claude_json_file, std::move(reduced)});
  describe_login(meta, summary, capture, fp, files, now);
  meta.generation = existing != nullptr ? existing->generation + 1 : 1;

  if (existing != nullptr && existing->fingerprint != fp) {
    // Another login replaces this one: keep it beside the entry, so that a bad
    // write-back can be undone (`vault restore`). Written first: a kill before
    // the entry leaves a .prev the entry does not name, which restore refuses.
    PB_TRY(SecureBytes current, read_file(entry_path(meta.id), k_max_entry_file));
    PB_TRY_STATUS(write_file_atomic(previous_path(meta.id), ByteSpan(current)));
    meta.previous = EntryMeta::Previous{existing->fingerprint, existing->source, now};
  }
  PB_TRY(Bytes encoded, encode_entry(m_entry_key, meta, files, m_opts.random));
  PB_TRY_STATUS(write_file_atomic(entry_path(meta.id), encoded));
  PB_CRASH_POINT("vault.capture.entry_written");
  PB_TRY_STATUS(m_log->append(
      {.op = std::string(op),
       .credential = meta.id,
       .name = meta.name,
       .session = options.access.session,
       .image = options.access.image,
       .result = "ok",
       .fingerprint = fp,
       .detail =
           (outcome.action == CaptureOutcome::Action::created ? "created from " : "replaced from ") + capture.source,
       .generation = meta.generation}));
  outcome.meta = std::move(meta);
  return outcome;
}

Result<EntryMeta> Vault::touch(std::string_view name_or_id, const AccessInfo& access, std::string_view op) {
  // Protects: the entry's read-modify-write against concurrent captures and write-backs.
  PB_TRY(FileLock lock, lock_store(FileLock::Mode::exclusive));
  remove_stale_temps(m_opts);
  PB_TRY(DecodedEntry entry, read_locked(name_or_id));
  entry.meta.last_used = m_opts.clock();
  ++entry.meta.generation;
  PB_TRY(Bytes encoded, encode_entry(m_entry_key, entry.meta, entry.files, m_opts.random));
  PB_TRY_STATUS(write_file_atomic(entry_path(entry.meta.id), encoded));
  PB_CRASH_POINT("vault.touch.entry_written");
  PB_TRY_STATUS(m_log->append({std::string(op), entry.meta.id, entry.meta.name, access.session, access.image, "ok",
                               entry.meta.fingerprint, "", 0, entry.meta.generation}));
  return entry.meta;
}

Result<EntryMeta> Vault::remove(std::string_view name_or_id, const AccessInfo& access) {
  // Protects: the set of entries (a removal racing a capture of the same account).
  PB_TRY(FileLock lock, lock_store(FileLock::Mode::exclusive));
  remove_stale_temps(m_opts);
  EntryMeta meta;
  auto found = find_locked(name_or_id);
  if (found) {
    meta = std::move(*found);
  } else if (found.error().kind == ErrorKind::integrity && is_entry_id(name_or_id)) {
    meta.id = std::string(name_or_id);  // a damaged entry can still be removed by its id
  } else {
    return std::move(found).error();
  }
  const fs::path path = entry_path(meta.id);
  // The kept previous login goes first: a kill after it leaves the entry, never a login without its entry.
  if (::unlink(previous_path(meta.id).c_str()) != 0 && errno != ENOENT)
    return fail(ErrorKind::failure, "removing " + previous_path(meta.id).string() + " failed");
  if (::unlink(path.c_str()) != 0) return fail(ErrorKind::failure, "removing " + path.string() + " failed");
  PB_CRASH_POINT("vault.remove.unlinked");
  PB_TRY_STATUS(fsync_dir(path.parent_path()));
  PB_CRASH_POINT("vault.remove.synced");
  PB_TRY_STATUS(m_log->append({"rm", meta.id, meta.name, access.session, access.image, "ok", meta.fingerprint, "", 0}));
  return meta;
}

Result<EntryMeta> Vault::restore_previous(std::string_view name_or_id, const AccessInfo& access) {
  // Protects: the entry and its kept previous login, swapped as one step for other writers.
  PB_TRY(FileLock lock, lock_store(FileLock::Mode::exclusive));
  remove_stale_temps(m_opts);
  PB_TRY(DecodedEntry current, read_locked(name_or_id));
  const std::string& id = current.meta.id;
  if (!current.meta.previous)
    return fail(ErrorKind::not_found, "credential '" + current.meta.name + "' keeps no previous login to restore");
  auto kept = read_file(previous_path(id), k_max_entry_file);
  if (!kept) {
    if (kept.error().kind == ErrorKind::not_found)
      return fail(ErrorKind::not_found, "the previous login of credential '" + current.meta.name + "' is gone");
    return std::move(kept).error();
  }
  auto previous = decode_entry(m_entry_key, *kept, id);
  if (!previous || previous->meta.fingerprint != current.meta.previous->fingerprint)
    return fail(ErrorKind::integrity, "the previous login kept for credential '" + current.meta.name +
                                          "' is not the one it replaced; it was not restored");
  const std::int64_t now = m_opts.clock();
  EntryMeta meta = previous->meta;
  meta.name = current.meta.name;
  meta.created = current.meta.created;
  meta.last_used = current.meta.last_used;
  meta.updated = now;
  meta.previous = EntryMeta::Previous{current.meta.fingerprint, current.meta.source, now};
  meta.generation = current.meta.generation + 1;  // a write like any other: the log's latest
  PB_TRY(SecureBytes current_file, read_file(entry_path(id), k_max_entry_file));
  PB_TRY(Bytes encoded, encode_entry(m_entry_key, meta, previous->files, m_opts.random));
  PB_TRY_STATUS(write_file_atomic(previous_path(id), ByteSpan(current_file)));
  PB_TRY_STATUS(write_file_atomic(entry_path(id), encoded));
  PB_TRY_STATUS(m_log->append({"restore", id, meta.name, access.session, access.image, "ok", meta.fingerprint,
                               "put back the login replaced from " + current.meta.source, 0, meta.generation}));
  return meta;
}

Status Vault::rekey(Provider provider) {
  // Protects: the vault header and key file against a concurrent rekey or init.
  PB_TRY(FileLock lock, lock_store(FileLock::Mode::exclusive));
  remove_stale_temps(m_opts);
  PB_TRY(Header old, read_header(m_opts.home));
  Header h = old;
  h.provider = provider;
  h.salt.clear();
  SecureBytes kek;
  fs::path new_key = m_opts.key_file;
  new_key += ".new";
  if (provider == Provider::key_file) {
    kek.resize(k_key_size);
    m_opts.random(kek);
    ::unlink(new_key.c_str());
    PB_TRY_STATUS(write_key_file_exclusive(new_key, kek));
    PB_CRASH_POINT("vault.rekey.new_key_written");
  } else {
    h.scrypt = m_opts.scrypt;
    h.salt.resize(16);
    m_opts.random(h.salt);
    PB_TRY(kek, kek_from_passphrase(m_opts, h, true, "New vault passphrase"));
  }
  h.key_check = key_check_of(m_data_key, h.vault_id);  // a header of before key checks gets one
  PB_TRY(h.wrapped_key, seal(kek, m_data_key, as_bytes(header_aad(h)), m_opts.random));
  PB_TRY_STATUS(write_header(m_opts.home, h));
  PB_CRASH_POINT("vault.rekey.header_written");
  // Order matters: header first, then the key file; open() finishes a rekey
  // interrupted between the two by trying "<key file>.new".
  if (provider == Provider::key_file) {
    if (::rename(new_key.c_str(), m_opts.key_file.c_str()) != 0)
      return fail(ErrorKind::failure, "installing the new key file " + m_opts.key_file.string() + " failed");
    PB_TRY_STATUS(fsync_dir(m_opts.key_file.parent_path()));
    PB_CRASH_POINT("vault.rekey.key_installed");
  } else if (old.provider == Provider::key_file) {
    ::unlink(m_opts.key_file.c_str());  // it no longer unlocks anything
    PB_CRASH_POINT("vault.rekey.old_key_removed");
  }
  if (old.provider == Provider::passphrase) platform::key_cache().revoke(cache_description(old));
  if (provider == Provider::passphrase)
    platform::key_cache().store(cache_description(h), m_data_key, m_opts.key_cache_ttl);
  m_provider = provider;
  return m_log->append({"rekey", "", "", "", "", "ok", "",
                        std::string(provider_name(old.provider)) + " -> " + std::string(provider_name(provider)), 0});
}

Result<std::string> Vault::repair_log() {
  // Protects: the entries, read while their log records are rewritten.
  PB_TRY(FileLock lock, lock_store(FileLock::Mode::exclusive));
  remove_stale_temps(m_opts);
  PB_TRY(LogCheck check, m_log->verify());
  if (check.problems.empty()) return std::string("the access log is intact; nothing to repair");
  std::string what;
  for (const auto& p : check.problems) what += (what.empty() ? "" : "; ") + p;
  std::size_t accepted = 0;
  PB_TRY_STATUS(m_log->repair(what, [&](const EntryStates& kept) {
    std::vector<LogRecord> out;
    std::error_code ec;
    std::vector<fs::path> files;
    for (fs::directory_iterator it(m_opts.home / "entries", ec), end; !ec && it != end; it.increment(ec))
      files.push_back(it->path());
    std::sort(files.begin(), files.end());
    for (const auto& path : files) {
      const std::string fname = path.filename().string();
      if (fname.size() != k_entry_id_size + 4 || !fname.ends_with(".pbe")) continue;
      const std::string id = fname.substr(0, k_entry_id_size);
      auto bytes = read_file(path, k_max_entry_file);
      if (!bytes) continue;
      auto meta = decode_entry_meta(m_entry_key, *bytes, id);
      if (!meta) continue;
      auto why = stale_reason(*meta, kept);
      auto known = kept.find(id);
      if (!why || (known != kept.end() && known->second.removed)) continue;  // removed ones stay refused
      out.push_back({"repair-log", id, meta->name, "", "", "ok", meta->fingerprint,
                     "accepted as it is now, at generation " + std::to_string(meta->generation) + " (" + *why + ")", 0,
                     meta->generation});
      ++accepted;
    }
    return out;
  }));
  return "started the access log over from its intact records (" + what + "); " + std::to_string(accepted) + " entr" +
         (accepted == 1 ? "y" : "ies") + " accepted as they are now";
}

Status Vault::log(LogRecord record) {
  // Protects: the log key against a concurrent `vault rotate` (which holds it
  // exclusively while it re-keys the log): an append is under the header's key.
  PB_TRY(FileLock lock, lock_store(FileLock::Mode::shared));
  return m_log->append(std::move(record));
}

Result<VerifyReport> Vault::verify() const {
  // Protects: entries and log read as one state (see list()).
  PB_TRY(FileLock lock, lock_store(FileLock::Mode::shared));
  return verify_locked();
}

Result<VerifyReport> Vault::verify_locked() const {
  VerifyReport report;
  PB_TRY(LogCheck log, m_log->verify());
  const fs::path dir = m_opts.home / "entries";
  std::error_code ec;
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) files.push_back(it->path());
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    const std::string fname = path.filename().string();
    if (fname.starts_with(".")) continue;  // temp files of writes in progress
    if (fname.ends_with(".prev") && is_entry_id(fname.substr(0, fname.size() - 5))) {
      // A login an entry replaced, kept for `vault restore`: checked like an entry.
      const std::string of = fname.substr(0, fname.size() - 5);
      auto kept = read_file(path, k_max_entry_file);
      if (kept && !decode_entry(m_entry_key, *kept, of))
        report.problems.push_back({of, "", "the previous login kept for entry " + of + " is corrupt or tampered"});
      continue;
    }
    const std::string id = fname.size() > 4 ? fname.substr(0, fname.size() - 4) : fname;
    if (!fname.ends_with(".pbe") || !is_entry_id(id)) {
      report.problems.push_back({"", "", "unexpected file " + path.string() + " in the vault"});
      continue;
    }
    auto bytes = read_file(path, k_max_entry_file);
    if (!bytes) {
      if (bytes.error().kind == ErrorKind::not_found) continue;
      report.problems.push_back({id, "", "credential entry " + id + " cannot be read: " + bytes.error().message});
      continue;
    }
    auto meta = decode_entry_meta(m_entry_key, *bytes, id);
    auto entry = decode_entry(m_entry_key, *bytes, id);
    if (!entry) {
      std::string name = meta ? meta->name : std::string();
      report.problems.push_back(
          {id, name,
           (name.empty() ? "credential entry " + id : "credential '" + name + "' (entry " + id + ")") +
               " is corrupt or tampered: " + entry.error().message});
      continue;
    }
    if (auto why = stale_reason(entry->meta, log.entries)) {
      report.problems.push_back(
          {id, entry->meta.name, "credential '" + entry->meta.name + "' (entry " + id + ") is refused: " + *why});
      continue;
    }
    ++report.entries_ok;
  }
  report.log_records = log.records;
  for (auto& p : log.problems) report.problems.push_back({"", "", std::move(p)});
  return report;
}

Error integrity_failure(const VerifyReport& r) {
  if (r.problems.empty()) return fail(ErrorKind::integrity, "integrity check failed");
  return fail(ErrorKind::integrity,
              "integrity check failed: " + r.problems.front().message +
                  (r.problems.size() > 1 ? " (and " + std::to_string(r.problems.size() - 1) + " more)" : ""));
}

Result<FileLock> Vault::lock_store(FileLock::Mode mode) const {
  PB_TRY(FileLock lock, acquire_store(m_opts, mode));
  PB_TRY_STATUS(ensure_current());
  return lock;
}

Status Vault::ensure_current() const {
  auto h = read_header(m_opts.home);
  // No header (deleted under a running command), or one of before key checks
  // (never rotated: rotate writes one): the keys stay, the reads judge.
  if (!h || h->key_check.empty() || h->vault_id != m_vault_id) return {};
  if (equal_ct(as_bytes(h->key_check), as_bytes(m_key_check))) return {};
  // A `vault rotate` ran since this object unlocked the vault: continue under
  // the new key if it is at hand, never with the old one.
  std::optional<SecureBytes> next;
  if (h->provider == Provider::key_file) {
    if (auto k = data_key_from_key_file(m_opts, *h); k && *k) next = std::move(**k);
  } else if (m_opts.key_cache_ttl.count() > 0) {
    next = platform::key_cache().load(cache_description(*h), m_opts.key_cache_ttl);
  }
  if (!next || next->size() != k_key_size ||
      !equal_ct(as_bytes(key_check_of(*next, h->vault_id)), as_bytes(h->key_check)))
    return fail(ErrorKind::conflict,
                "the vault's data key was replaced ('para-broker vault rotate') while this command ran; nothing "
                "was changed by it: run it again");
  m_provider = h->provider;
  use_data_key(std::move(*next));
  return {};
}

namespace {

/// The fingerprint of the login in `files` under `fp_key`; nullopt when they hold none.
std::optional<std::string> fingerprint_under(const SecureBytes& fp_key, const std::vector<ArchiveFile>& files) {
  ByteSpan creds, claude;
  for (const auto& f : files) {
    if (f.name == k_credentials_file) creds = f.data;
    if (f.name == k_claude_json_file) claude = f.data;
  }
  auto summary = summarise_login(creds, claude);
  if (!summary) return std::nullopt;
  return to_hex(hmac_sha256(fp_key, summary->secret)).substr(0, 16);
}

Result<std::vector<fs::path>> sorted_entry_files(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) files.push_back(it->path());
  if (ec) return fail(ErrorKind::failure, "reading " + dir.string() + " failed: " + ec.message());
  std::sort(files.begin(), files.end());
  return files;
}

/// The keys an entry is read under and written again under, and where to.
struct Restage {
  const SecureBytes& old_entry_key;
  const SecureBytes& entry_key;
  const SecureBytes& fp_key;
  fs::path into;
  const RandomSource& random;
};

/// Every entry and kept previous login of `files`, re-encrypted into
/// `how.into`: kept previous logins first, so that an entry names its kept
/// login's new fingerprint. One log record per entry.
Status restage_entries(const std::vector<fs::path>& files, const Restage& how, const AccessInfo& access,
                       RotateOutcome& outcome, std::vector<LogRecord>& records) {
  std::map<std::string, std::pair<std::string, std::string>> prev_fps;  // id -> (old, new) fingerprint
  for (int pass_no = 0; pass_no < 2; ++pass_no) {
    const std::string_view ext = pass_no == 0 ? ".prev" : ".pbe";
    for (const auto& path : files) {
      const std::string fname = path.filename().string();
      if (fname.size() != k_entry_id_size + ext.size() || !fname.ends_with(ext)) continue;
      const std::string id = fname.substr(0, k_entry_id_size);
      if (!is_entry_id(id)) continue;
      PB_TRY(SecureBytes bytes, read_file(path, k_max_entry_file));
      auto entry = decode_entry(how.old_entry_key, bytes, id);
      if (!entry)
        return fail(ErrorKind::integrity,
                    "entry file " + path.string() + " is corrupt or tampered; nothing was changed");
      EntryMeta meta = entry->meta;
      const std::string old_fp = meta.fingerprint;
      if (auto fp = fingerprint_under(how.fp_key, entry->files)) meta.fingerprint = *fp;
      if (meta.generation == 0) meta.generation = 1;  // an entry of before generations becomes version 2
      if (pass_no == 0) {
        prev_fps[id] = {old_fp, meta.fingerprint};
        ++outcome.previous;
      } else {
        if (meta.previous) {
          auto kept = prev_fps.find(id);
          if (kept != prev_fps.end() && kept->second.first == meta.previous->fingerprint)
            meta.previous->fingerprint = kept->second.second;
        }
        records.push_back({"rotate", id, meta.name, access.session, access.image, "ok", meta.fingerprint,
                           "re-encrypted under the new data key", 0, meta.generation});
        ++outcome.entries;
      }
      PB_TRY(Bytes encoded, encode_entry(how.entry_key, meta, entry->files, how.random));
      PB_TRY_STATUS(write_file_atomic(how.into / fname, encoded));
    }
  }
  return {};
}

}  // namespace

namespace {

/// The log record that ends a rotation.
LogRecord rotated_record(const RotateOutcome& outcome, const AccessInfo& access) {
  return {"rotate",
          "",
          "",
          access.session,
          access.image,
          "ok",
          "",
          "re-encrypted " + std::to_string(outcome.entries) + " entries and " + std::to_string(outcome.previous) +
              " kept previous logins under a new data key; the access log is now under its new log key",
          0};
}

/// The new key file, beside the old one (`<key file>.new`), installed after the commit.
Status stage_key_file(const fs::path& key_file, const SecureBytes& kek) {
  fs::path new_key = key_file;
  new_key += ".new";
  ::unlink(new_key.c_str());
  return write_key_file_exclusive(new_key, kek);
}

}  // namespace

namespace {

/// The passphrase of a passphrase vault, asked for once; nullopt for a key-file vault.
Result<std::optional<SecureString>> rotation_passphrase(const Options& opts) {
  PB_TRY(Header h, read_header(opts.home));
  if (h.provider != Provider::passphrase) return std::optional<SecureString>();
  if (!opts.passphrase)
    return fail(ErrorKind::locked, "rotating a passphrase vault needs its passphrase; no source is available");
  PB_TRY(SecureString pass, opts.passphrase("Vault passphrase", false));
  return std::optional<SecureString>(std::move(pass));
}

/// Whether `pass` unwraps the data key in use: the same passphrase, checked
/// against the header, so that a mistyped one never locks the vault.
Result<bool> passphrase_unlocks(const Header& h, const SecureString& pass, const SecureBytes& data_key) {
  PB_TRY(SecureBytes kek, scrypt(std::string_view(pass.data(), pass.size()), h.salt, h.scrypt));
  auto current = vault::open(kek, h.wrapped_key, as_bytes(header_aad(h)));
  return current && equal_ct(*current, data_key);
}

/// A new key-encryption key: the passphrase under a fresh salt (and today's
/// scrypt parameters, set in `h`), or a new key file's key: the old one may be what was exposed.
Result<SecureBytes> new_key_encryption_key(Header& h, const std::optional<SecureString>& pass, const Options& opts) {
  SecureBytes kek;
  if (h.provider == Provider::passphrase) {
    h.scrypt = opts.scrypt;
    h.salt.assign(16, 0);
    opts.random(h.salt);
    PB_TRY(kek, scrypt(std::string_view(pass->data(), pass->size()), h.salt, h.scrypt));
    return kek;
  }
  kek.resize(k_key_size);
  opts.random(kek);
  return kek;
}

}  // namespace

Result<RotateOutcome> Vault::rotate(const AccessInfo& access) {
  // The passphrase is asked for before any lock is taken (as open() does).
  PB_TRY(std::optional<SecureString> pass, rotation_passphrase(m_opts));
  // Protects: every entry, the header and the key file, from staging to the
  // last rename; no reader or writer sees the vault half rotated.
  PB_TRY(FileLock lock, lock_store(FileLock::Mode::exclusive));
  remove_stale_temps(m_opts);
  PB_TRY(Header old, read_header(m_opts.home));
  // A vault that does not verify is not rotated: re-encrypting would launder
  // an entry put back from an older copy, or a log cut back.
  PB_TRY(VerifyReport report, verify_locked());
  if (!report.ok()) return integrity_failure(report);

  Header h = old;
  if (old.provider == Provider::passphrase) {
    if (!pass) return fail(ErrorKind::conflict, "the vault's key provider changed while rotate started; run it again");
    PB_TRY(bool unlocks, passphrase_unlocks(old, *pass, m_data_key));
    if (!unlocks) {
      // The vault is unlocked (a cached key): the attempt joins the chain.
      PB_TRY_STATUS(m_log->append({"rotate", "", "", access.session, access.image, "failed", "",
                                   "the passphrase given does not unlock the vault", 0}));
      return fail(ErrorKind::locked,
                  "the passphrase does not unlock the vault in " + m_opts.home.string() + "; nothing was changed");
    }
  }
  PB_TRY(SecureBytes kek, new_key_encryption_key(h, pass, m_opts));
  SecureBytes data_key(k_key_size);
  m_opts.random(data_key);
  h.key_check = key_check_of(data_key, h.vault_id);
  PB_TRY(h.wrapped_key, seal(kek, data_key, as_bytes(header_aad(h)), m_opts.random));
  PB_TRY(SecureBytes entry_key, hkdf_sha256(data_key, "para-broker entry key v1"));
  PB_TRY(SecureBytes fp_key, hkdf_sha256(data_key, "para-broker fingerprint key v1"));
  PB_TRY(SecureBytes log_key, hkdf_sha256(data_key, "para-broker log key v1"));

  // Under the old key: failed unlocks waiting in access.pending join the chain
  // (their marks are the old key's), and the log says a rotate began.
  PB_TRY_STATUS(m_log->append({"rotate", "", "", access.session, access.image, "started", "",
                               "re-encrypting every entry under a new data key", 0}));
  if (old.provider == Provider::passphrase) platform::key_cache().revoke(cache_description(old));
  // Protects: the log chain, re-keyed into rotate/ and installed after the commit.
  PB_TRY(FileLock log_lock, m_log->lock());

  const fs::path stage = m_opts.home / k_rotate_dir;
  // Whatever ends this function (an I/O error as well as success), what it
  // staged is settled before the locks go: discarded before the commit,
  // installed after it.
  struct Settle {
    const Options& opts;
    ~Settle() { (void)recover_rotation(opts); }
  } settle{m_opts};
  PB_TRY_STATUS(ensure_private_dir(stage / "entries", "vault rotate directory"));
  PB_TRY_STATUS(write_file_atomic(
      stage / "journal", as_bytes(json({{"vault_id", h.vault_id}, {"key_check", h.key_check}}).dump() + "\n")));
  PB_CRASH_POINT("vault.rotate.journal_written");

  RotateOutcome outcome;
  PB_TRY_STATUS(ensure_private_dir(m_opts.home / "entries", "vault entries directory"));
  PB_TRY(std::vector<fs::path> files, sorted_entry_files(m_opts.home / "entries"));
  std::vector<LogRecord> records;
  PB_TRY_STATUS(restage_entries(files, {m_entry_key, entry_key, fp_key, stage / "entries", m_opts.random}, access,
                                outcome, records));
  PB_CRASH_POINT("vault.rotate.entries_staged");

  records.push_back(rotated_record(outcome, access));
  const fs::path anchor = anchor_path(m_opts, m_vault_id);
  ::unlink(staged_anchor(anchor).c_str());
  PB_TRY(outcome.log_records, m_log->stage_rekeyed(log_key, stage / "access.log", stage / "access.head",
                                                   staged_anchor(anchor), std::move(records)));
  if (h.provider == Provider::key_file) PB_TRY_STATUS(stage_key_file(m_opts.key_file, kek));
  PB_CRASH_POINT("vault.rotate.staged");
  // The commit: from here on the vault opens with the new key only.
  PB_TRY_STATUS(write_header(m_opts.home, h));
  PB_CRASH_POINT("vault.rotate.committed");
  PB_TRY_STATUS(recover_rotation(m_opts));
  if (h.provider == Provider::passphrase)
    platform::key_cache().store(cache_description(h), data_key, m_opts.key_cache_ttl);
  use_data_key(std::move(data_key));
  return outcome;
}

Result<std::string> inspect_file(const fs::path& file) {
  PB_TRY(SecureBytes bytes, read_file(file, k_max_entry_file));
  if (bytes.size() >= 4 && std::equal(bytes.begin(), bytes.begin() + 4, "PBVE")) {
    PB_TRY(EntryFileHeader h, parse_entry_header(bytes));
    json j = {{"schema", 1},
              {"file", file.string()},
              {"type", "entry"},
              {"magic", "PBVE"},
              {"version", h.version},
              {"id", h.id},
              {"generation", h.generation},
              {"cipher", "AES-256-GCM"},
              {"meta_box_bytes", h.meta_box_size},
              {"payload_box_bytes", h.payload_box_size},
              {"file_bytes", bytes.size()}};
    return j.dump(2);
  }
  PB_TRY(Header h, parse_header(as_chars(bytes), file));
  json j = {{"schema", 1},
            {"file", file.string()},
            {"type", "vault-header"},
            {"version", k_header_version},
            {"vault_id", h.vault_id},
            {"provider", provider_name(h.provider)},
            {"wrap_cipher", "AES-256-GCM"},
            {"created", h.created},
            {"key_check", !h.key_check.empty()}};
  if (h.provider == Provider::passphrase)
    j["kdf"] = {
        {"name", "scrypt"}, {"n", h.scrypt.n}, {"r", h.scrypt.r}, {"p", h.scrypt.p}, {"salt_bytes", h.salt.size()}};
  return j.dump(2);
}

}  // namespace pb::vault
