// `vault rotate` (issue 17, finding 3): a new data key for every entry, kept
// login and log record; the old key decrypts nothing stored and writes no
// record that verifies; a vault that does not verify is not rotated; what a
// local attacker puts back after a rotate is caught. Kills at every rotate
// crash point are in crash_points_test.cpp.

#include <gtest/gtest.h>
#include <keyutils.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "core/files.hpp"
#include "tests/support/test_env.hpp"
#include "vault/crypto.hpp"
#include "vault/entry.hpp"
#include "vault/vault.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace pb::vault {
namespace {

constexpr const char* k_canary_access = "sk-ant-oat01-CANARY-rotate-5e4d3c2b1a";
constexpr const char* k_canary_refresh = "sk-ant-ort01-CANARY-rotate-0f9e8d7c6b";
constexpr const char* k_pass = "correct horse battery";

struct Deterministic {
  std::shared_ptr<std::mt19937_64> rng = std::make_shared<std::mt19937_64>(7);
  std::shared_ptr<std::int64_t> now = std::make_shared<std::int64_t>(1'700'000'000'000);
  RandomSource random() const {
    return [r = rng](std::span<std::uint8_t> out) {
      for (auto& b : out) b = static_cast<std::uint8_t>((*r)());
    };
  }
  Clock clock() const {
    return [n = now] { return (*n)++; };
  }
};

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/pb-rotate-test-XXXXXX";
    m_path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(m_path, ec);
  }
  const fs::path& path() const { return m_path; }

 private:
  fs::path m_path;
};

Options test_options(const TempDir& t, const Deterministic& d) {
  Options o;
  o.home = t.path() / "vault";
  o.key_file = t.path() / "config" / "vault.key";
  o.clock = d.clock();
  o.random = d.random();
  o.key_cache_ttl = std::chrono::seconds(0);
  o.scrypt.n = std::uint64_t{1} << 15;  // the lowest accepted: these tests pay it many times
  o.passphrase = [](std::string_view, bool) -> Result<SecureString> { return SecureString(k_pass); };
  return o;
}

SecureBytes sb(std::string_view s) {
  return SecureBytes(s.begin(), s.end());
}

Capture oauth_capture(const std::string& email, std::int64_t expires, const std::string& token = k_canary_access) {
  Capture c;
  c.credentials_json = sb(R"({"claudeAiOauth":{"accessToken":")" + token + R"(","refreshToken":")" + k_canary_refresh +
                          R"(","expiresAt":)" + std::to_string(expires) + R"(,"subscriptionType":"max"}})");
  c.claude_json = sb(R"({"hasCompletedOnboarding":true,"oauthAccount":{"emailAddress":")" + email +
                     R"(","accountUuid":"uuid-)" + email + R"("}})");
  c.source = "dir:/test";
  return c;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

void put(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  ASSERT_TRUE(write_file_atomic(p, as_bytes(bytes)).ok()) << p;
}

/// The data key as an attacker holding the key file (or passphrase) of that moment unwraps it from vault.json.
SecureBytes data_key_of(const Options& opts, const std::string& header_text, const std::string& key_file_text = "") {
  auto h = json::parse(header_text);
  const std::string id = h.at("vault_id");
  std::string aad = "para-broker-vault/1|" + id + "|" + h.at("provider").get<std::string>();
  SecureBytes kek;
  if (h.at("provider") == "passphrase") {
    const auto& k = h.at("kdf");
    aad += "|scrypt|" + std::to_string(k.at("n").get<std::uint64_t>()) + "|" + std::to_string(k.at("r").get<int>()) +
           "|" + std::to_string(k.at("p").get<int>()) + "|" + k.at("salt").get<std::string>();
    ScryptParams p;
    p.n = k.at("n").get<std::uint64_t>();
    p.r = k.at("r").get<std::uint32_t>();
    p.p = k.at("p").get<std::uint32_t>();
    kek = scrypt(k_pass, from_hex(k.at("salt").get<std::string>()).value(), p).value();
  } else {
    const std::string text = key_file_text.empty() ? slurp(opts.key_file) : key_file_text;
    auto raw = from_hex(text.substr(0, 64)).value();
    kek = SecureBytes(raw.begin(), raw.end());
  }
  if (h.contains("key_check")) aad += "|check|" + h.at("key_check").get<std::string>();
  return open(kek, from_hex(h.at("wrapped_key").get<std::string>()).value(), as_bytes(aad)).value();
}

/// Every entries/ file (.pbe and .prev), name -> bytes.
std::map<std::string, std::string> entry_files(const Options& opts) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(opts.home / "entries"))
    out[e.path().filename().string()] = slurp(e.path());
  return out;
}

bool decrypts_under(ByteSpan data_key, const std::string& fname, const std::string& bytes) {
  const SecureBytes entry_key = hkdf_sha256(data_key, "para-broker entry key v1").value();
  return decode_entry(entry_key, as_bytes(bytes), fname.substr(0, k_entry_id_size)).ok();
}

/// A record appended after the log's last one, MACed under `log key` as an old-key holder would.
std::string forged_record(ByteSpan log_key, const std::string& log_text) {
  std::vector<std::string> lines;
  std::istringstream in(log_text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  auto last = json::parse(lines.back());
  json r = last;
  r.erase("mac");
  r["seq"] = last.at("seq").get<std::uint64_t>() + 1;
  r["prev"] = last.at("mac");
  r["op"] = "mount";
  r["detail"] = "forged";
  r["mac"] = to_hex(hmac_sha256(log_key, as_bytes(r.dump())));
  return r.dump() + "\n";
}

/// A vault with two credentials, one of which keeps the login a newer one replaced (.prev).
struct Filled {
  TempDir t;
  Deterministic d;
  Options opts;
  std::string work_id;
  explicit Filled(bool passphrase = false) : opts(test_options(t, d)) {
    Vault v = passphrase ? Vault::init(opts, Provider::passphrase).value() : Vault::open_or_create(opts).value();
    work_id = v.capture(oauth_capture("w@example.com", 1000, "sk-ant-oat01-CANARY-old"), {"work", {}}).value().meta.id;
    EXPECT_TRUE(v.capture(oauth_capture("w@example.com", 2000), {"work", {}}).ok());
    EXPECT_TRUE(v.capture(oauth_capture("o@example.com", 3000), {"other", {}}).ok());
    EXPECT_TRUE(fs::exists(opts.home / "entries" / (work_id + ".prev")));
  }
};

TEST(VaultRotate, EveryEntryAndKeptLoginIsReencryptedAndTheOldKeyDecryptsNone) {
  Filled f;
  const std::string old_header = slurp(f.opts.home / "vault.json");
  const std::string old_key_file = slurp(f.opts.key_file);
  const SecureBytes old_key = data_key_of(f.opts, old_header);
  const auto before = entry_files(f.opts);
  ASSERT_EQ(before.size(), 3u);
  for (const auto& [name, bytes] : before) ASSERT_TRUE(decrypts_under(old_key, name, bytes)) << name;

  Vault v = Vault::open(f.opts).value();
  const auto gens_before = v.list().value();
  RotateOutcome o = v.rotate().value();
  EXPECT_EQ(o.entries, 2u);
  EXPECT_EQ(o.previous, 1u);
  EXPECT_GE(o.log_records, 6u);
  EXPECT_FALSE(fs::exists(f.opts.home / "rotate"));

  // The key file was replaced; the old one unlocks nothing.
  EXPECT_NE(slurp(f.opts.key_file), old_key_file);
  auto old_opts = f.opts;
  old_opts.key_file = f.t.path() / "old" / "vault.key";
  put(old_opts.key_file, old_key_file);
  fs::permissions(old_opts.key_file, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  EXPECT_EQ(Vault::open(old_opts).error().kind, ErrorKind::locked);

  // No entry, no kept login decrypts under the old data key; all do under the new one.
  const SecureBytes new_key = data_key_of(f.opts, slurp(f.opts.home / "vault.json"));
  const auto after = entry_files(f.opts);
  ASSERT_EQ(after.size(), 3u);
  for (const auto& [name, bytes] : after) {
    EXPECT_FALSE(decrypts_under(old_key, name, bytes)) << name << " still opens under the old key";
    EXPECT_TRUE(decrypts_under(new_key, name, bytes)) << name;
  }
  EXPECT_FALSE(old_key == new_key);

  // list, verify, the mount path (read, touch, log), restore, a new capture: all work in a fresh process.
  Vault fresh = Vault::open(f.opts).value();
  auto l = fresh.list().value();
  ASSERT_EQ(l.entries.size(), 2u);
  EXPECT_TRUE(l.damaged.empty());
  for (std::size_t i = 0; i < l.entries.size(); ++i)
    EXPECT_EQ(l.entries[i].generation, gens_before.entries[i].generation) << "generations stay";
  auto r = fresh.verify().value();
  EXPECT_TRUE(r.ok()) << (r.problems.empty() ? "" : r.problems.front().message);
  auto work = fresh.read("work").value();
  EXPECT_NE(as_chars(work.files[0].data).find(k_canary_access), std::string_view::npos);
  ASSERT_TRUE(fresh.touch("work", {"s1", "img"}).ok());
  ASSERT_TRUE(fresh.log({"release", work.meta.id, "work", "s1", "img", "ok", "", "", 0}).ok());
  auto restored = fresh.restore_previous("work");
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_EQ(restored->expires_at, 1000);
  // The same login captured again is recognised as the same (fingerprints follow the new key).
  auto again = fresh.capture(oauth_capture("o@example.com", 3000), {"other", {}}).value();
  EXPECT_FALSE(again.meta.previous.has_value()) << "the same login was taken for another";
  EXPECT_TRUE(fresh.verify().value().ok());
  const std::string log = slurp(f.opts.home / "access.log");
  EXPECT_NE(log.find(R"("op":"rotate")"), std::string::npos);
  EXPECT_NE(log.find("re-encrypted 2 entries and 1 kept previous logins"), std::string::npos) << log;
  EXPECT_EQ(log.find("CANARY"), std::string::npos);
}

TEST(VaultRotate, TheOldLogKeyWritesNoRecordThatVerifies) {
  Filled f;
  const SecureBytes old_key = data_key_of(f.opts, slurp(f.opts.home / "vault.json"));
  const SecureBytes old_log_key = hkdf_sha256(old_key, "para-broker log key v1").value();
  Vault v = Vault::open(f.opts).value();
  ASSERT_TRUE(v.rotate().ok());
  const fs::path log = f.opts.home / "access.log";
  const std::string text = slurp(log);
  // The forgery is well-formed: under the new log key the same record is accepted (one past the head).
  const SecureBytes new_log_key =
      hkdf_sha256(data_key_of(f.opts, slurp(f.opts.home / "vault.json")), "para-broker log key v1").value();
  put(log, text + forged_record(new_log_key, text));
  EXPECT_TRUE(v.verify().value().ok());
  // Under the old key it is not, nor is any record of the chain the old key's.
  put(log, text + forged_record(old_log_key, text));
  auto r = v.verify().value();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(v.log({"mount", "", "", "s", "", "ok", "", "", 0}).error().kind, ErrorKind::integrity);
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    auto j = json::parse(line);
    const std::string mac = j.at("mac");
    j.erase("mac");
    EXPECT_NE(to_hex(hmac_sha256(old_log_key, as_bytes(j.dump()))), mac) << "a record still under the old key";
  }
}

TEST(VaultRotate, PassphraseVaultKeepsItsPassphraseWithAFreshSalt) {
  Filled f(true);
  const std::string old_header = slurp(f.opts.home / "vault.json");
  const SecureBytes old_key = data_key_of(f.opts, old_header);
  Vault v = Vault::open(f.opts).value();
  ASSERT_TRUE(v.rotate().ok());
  const std::string new_header = slurp(f.opts.home / "vault.json");
  const auto oh = json::parse(old_header), nh = json::parse(new_header);
  EXPECT_NE(oh["kdf"]["salt"], nh["kdf"]["salt"]);
  EXPECT_NE(oh["key_check"], nh["key_check"]);
  EXPECT_EQ(nh["provider"], "passphrase");
  EXPECT_FALSE(fs::exists(f.opts.key_file)) << "a passphrase vault got a key file";
  // The same passphrase opens it; entries are under the new key only.
  Vault fresh = Vault::open(f.opts).value();
  EXPECT_TRUE(fresh.verify().value().ok());
  EXPECT_EQ(fresh.list().value().entries.size(), 2u);
  for (const auto& [name, bytes] : entry_files(f.opts)) EXPECT_FALSE(decrypts_under(old_key, name, bytes)) << name;
  // The old vault.json put back opens with the same passphrase (to the old data key), and nothing verifies.
  put(f.opts.home / "vault.json", old_header);
  auto rolled = Vault::open(f.opts);
  ASSERT_TRUE(rolled.ok());
  auto r = rolled->verify();
  EXPECT_TRUE(!r.ok() || !r->ok());
  EXPECT_FALSE(rolled->list().ok() && rolled->list()->damaged.empty());
  put(f.opts.home / "vault.json", new_header);
  EXPECT_TRUE(Vault::open(f.opts).value().verify().value().ok());
}

TEST(VaultRotate, AMistypedPassphraseRotatesNothing) {
  Filled f(true);
  const std::string header = slurp(f.opts.home / "vault.json");
  const auto files = entry_files(f.opts);
  auto pass = std::make_shared<std::string>(k_pass);
  auto opts = f.opts;
  opts.passphrase = [pass](std::string_view, bool) -> Result<SecureString> { return SecureString(pass->c_str()); };
  Vault v = Vault::open(opts).value();
  *pass = "correct horse battery!";
  auto r = v.rotate();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::locked) << r.error().message;
  EXPECT_EQ(slurp(f.opts.home / "vault.json"), header);
  EXPECT_EQ(entry_files(f.opts), files);
  EXPECT_FALSE(fs::exists(f.opts.home / "rotate"));
  EXPECT_NE(slurp(f.opts.home / "access.log").find("the passphrase given does not unlock the vault"),
            std::string::npos);
  *pass = k_pass;
  EXPECT_TRUE(v.verify().value().ok());
}

TEST(VaultRotate, AFailureWhileStagingLeavesTheOldVaultWholeAndNothingStaged) {
  Filled f;
  Vault v = Vault::open(f.opts).value();
  const std::string id = json::parse(slurp(f.opts.home / "vault.json"))["vault_id"];
  // The staged anchor cannot be written: a directory is in its place.
  const fs::path in_the_way = f.opts.key_file.parent_path() / ("vault-" + id + ".anchor.rotate");
  fs::create_directories(in_the_way / "x");
  const std::string header = slurp(f.opts.home / "vault.json");
  const auto files = entry_files(f.opts);
  auto r = v.rotate();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(slurp(f.opts.home / "vault.json"), header);
  EXPECT_EQ(entry_files(f.opts), files);
  EXPECT_FALSE(fs::exists(f.opts.home / "rotate")) << "the staged files were left";
  fs::path new_key = f.opts.key_file;
  new_key += ".new";
  EXPECT_FALSE(fs::exists(new_key));
  EXPECT_TRUE(v.verify().value().ok());
  EXPECT_TRUE(Vault::open(f.opts).value().verify().value().ok());
  fs::remove_all(in_the_way);
  ASSERT_TRUE(v.rotate().ok());
  EXPECT_TRUE(Vault::open(f.opts).value().verify().value().ok());
}

TEST(VaultRotate, AVaultThatDoesNotVerifyIsNotRotated) {
  Filled f;
  Vault v = Vault::open(f.opts).value();
  // An older copy of an entry put back (the rollback a rotate must not launder).
  const fs::path other = f.opts.home / "entries";
  std::string other_id;
  const Listing listing = v.list().value();
  for (const auto& m : listing.entries)
    if (m.name == "other") other_id = m.id;
  const fs::path file = other / (other_id + ".pbe");
  const std::string older = slurp(file);
  ASSERT_TRUE(v.touch("other", {}).ok());
  put(file, older);
  const std::string header = slurp(f.opts.home / "vault.json");
  const auto files = entry_files(f.opts);
  const std::string log = slurp(f.opts.home / "access.log");
  auto report = v.verify().value();
  ASSERT_FALSE(report.ok());
  auto r = v.rotate();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::integrity);
  EXPECT_EQ(r.error().message, integrity_failure(report).message) << "not the error verify gives";
  EXPECT_EQ(slurp(f.opts.home / "vault.json"), header);
  EXPECT_EQ(entry_files(f.opts), files);
  EXPECT_EQ(slurp(f.opts.home / "access.log"), log) << "a refused rotate wrote to the log";
  EXPECT_FALSE(fs::exists(f.opts.home / "rotate"));
}

TEST(VaultRotate, WhatALocalAttackerPutsBackAfterARotateIsCaught) {
  Filled f;
  const fs::path home = f.opts.home;
  const auto old_files = entry_files(f.opts);
  const std::string old_header = slurp(home / "vault.json");
  const std::string old_log = slurp(home / "access.log"), old_head = slurp(home / "access.head");
  ASSERT_TRUE(Vault::open(f.opts).value().rotate().ok());
  const auto new_files = entry_files(f.opts);
  const std::string new_header = slurp(home / "vault.json");
  const std::string new_log = slurp(home / "access.log"), new_head = slurp(home / "access.head");
  auto verifies = [&] {
    auto v = Vault::open(f.opts);
    if (!v) return false;
    auto r = v->verify();
    return r && r->ok();
  };
  auto restore_all = [&] {
    for (const auto& [name, bytes] : new_files) put(home / "entries" / name, bytes);
    put(home / "vault.json", new_header);
    put(home / "access.log", new_log);
    put(home / "access.head", new_head);
    ASSERT_TRUE(verifies());
  };
  ASSERT_TRUE(verifies());
  // Each pre-rotate entry file, and each kept login, swapped in alone.
  for (const auto& [name, bytes] : old_files) {
    put(home / "entries" / name, bytes);
    EXPECT_FALSE(verifies()) << "an old " << name << " put back verifies";
    restore_all();
  }
  // The pre-rotate log and head.
  put(home / "access.log", old_log);
  put(home / "access.head", old_head);
  EXPECT_FALSE(verifies()) << "the old log put back verifies";
  {
    auto v = Vault::open(f.opts).value();
    EXPECT_EQ(v.list().error().kind, ErrorKind::integrity);
  }
  restore_all();
  // The old header: the new key file does not unwrap it.
  put(home / "vault.json", old_header);
  EXPECT_EQ(Vault::open(f.opts).error().kind, ErrorKind::locked);
  // The whole vault directory of before (header, entries, log): still locked, never accepted.
  for (const auto& [name, bytes] : old_files) put(home / "entries" / name, bytes);
  put(home / "access.log", old_log);
  put(home / "access.head", old_head);
  EXPECT_EQ(Vault::open(f.opts).error().kind, ErrorKind::locked);
  restore_all();
  // The new header deleted: there is no vault to open, nothing verifies.
  fs::remove(home / "vault.json");
  EXPECT_FALSE(verifies());
  restore_all();
  // A staged rotate planted with the old entries and a journal naming the current key check: the
  // next command installs it as a finished rotate would, and verify catches every file.
  fs::create_directories(home / "rotate" / "entries");
  const auto header = json::parse(new_header);
  put(home / "rotate" / "journal", json({{"vault_id", header["vault_id"]}, {"key_check", header["key_check"]}}).dump());
  for (const auto& [name, bytes] : old_files) put(home / "rotate" / "entries" / name, bytes);
  {
    auto v = Vault::open(f.opts).value();
    auto r = v.verify().value();
    EXPECT_EQ(r.problems.size(), old_files.size()) << "every planted file is caught";
  }
  EXPECT_FALSE(fs::exists(home / "rotate"));
  restore_all();
  // A planted journal that does not match is discarded: nothing of it is used.
  fs::create_directories(home / "rotate" / "entries");
  put(home / "rotate" / "journal", json({{"vault_id", header["vault_id"]}, {"key_check", "00"}}).dump());
  for (const auto& [name, bytes] : old_files) put(home / "rotate" / "entries" / name, bytes);
  EXPECT_TRUE(verifies());
  EXPECT_FALSE(fs::exists(home / "rotate"));
  EXPECT_EQ(entry_files(f.opts), new_files);
}

TEST(VaultRotate, AVaultObjectOpenedBeforeARotateGoesOnUnderTheNewKey) {
  Filled f;
  Vault before = Vault::open(f.opts).value();
  ASSERT_TRUE(Vault::open(f.opts).value().rotate().ok());
  // As a mount that unlocked before the rotate and records its access after it.
  auto l = before.list();
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->entries.size(), 2u);
  ASSERT_TRUE(before.read("work").ok());
  ASSERT_TRUE(before.touch("work", {"s", "img"}).ok());
  ASSERT_TRUE(before.log({"release", "", "work", "s", "img", "ok", "", "", 0}).ok());
  EXPECT_TRUE(Vault::open(f.opts).value().verify().value().ok());
}

TEST(VaultRotate, WithoutTheNewKeyAtHandAnOlderVaultObjectWritesNothing) {
  Filled f(true);  // passphrase, no key cache: the new key cannot be had without asking
  Vault before = Vault::open(f.opts).value();
  ASSERT_TRUE(Vault::open(f.opts).value().rotate().ok());
  const std::string log = slurp(f.opts.home / "access.log");
  const auto files = entry_files(f.opts);
  auto t = before.touch("work", {"s", "img"});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().kind, ErrorKind::conflict);
  EXPECT_NE(t.error().message.find("vault rotate"), std::string::npos) << t.error().message;
  EXPECT_EQ(before.log({"release", "", "", "s", "", "ok", "", "", 0}).error().kind, ErrorKind::conflict);
  EXPECT_EQ(before.list().error().kind, ErrorKind::conflict);
  EXPECT_EQ(slurp(f.opts.home / "access.log"), log);
  EXPECT_EQ(entry_files(f.opts), files);
  EXPECT_TRUE(Vault::open(f.opts).value().verify().value().ok());
}

TEST(VaultRotate, ManyEntries) {
  TempDir t;
  Deterministic d;
  auto opts = test_options(t, d);
  auto v = Vault::open_or_create(opts).value();
  constexpr int k_entries = 200;
  for (int i = 0; i < k_entries; ++i)
    ASSERT_TRUE(v.capture(oauth_capture("u" + std::to_string(i) + "@example.com", i), {}).ok());
  const auto start = std::chrono::steady_clock::now();
  auto o = v.rotate();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->entries, static_cast<std::size_t>(k_entries));
  RecordProperty("rotate_ms", static_cast<int>(ms));
  std::cout << "[ rotate   ] " << k_entries << " entries in " << ms << " ms\n";
  auto fresh = Vault::open(opts).value();
  EXPECT_EQ(fresh.list().value().entries.size(), static_cast<std::size_t>(k_entries));
  EXPECT_TRUE(fresh.verify().value().ok());
}

// ---- through the command line

std::vector<std::vector<std::string>> cached_keys(const std::string& vault_id) {
  std::vector<std::vector<std::string>> out;
  std::ifstream keys("/proc/keys");
  for (std::string line; std::getline(keys, line);) {
    if (line.find("para-broker:v1:" + vault_id) == std::string::npos) continue;
    std::istringstream in(line);
    std::vector<std::string> f;
    for (std::string w; in >> w;) f.push_back(w);
    out.push_back(f);
  }
  return out;
}

fs::path login_dir(const test::TestEnv& env) {
  const fs::path home = env.root() / "login";
  fs::create_directories(home / ".claude");
  std::ofstream(home / ".claude" / ".credentials.json")
      << R"({"claudeAiOauth":{"accessToken":")" << k_canary_access << R"(","refreshToken":")" << k_canary_refresh
      << R"(","expiresAt":1790000000000,"subscriptionType":"pro"}})";
  std::ofstream(home / ".claude.json")
      << R"({"hasCompletedOnboarding":true,"oauthAccount":{"emailAddress":"alice@example.com","accountUuid":"u-1"}})";
  return home;
}

TEST(VaultRotateCli, SaysHowManyInOneLineAndNoTokenAppears) {
  test::TestEnv env;
  ASSERT_EQ(env.cli({"import", "--from-dir", login_dir(env).string(), "--name", "work"}).exit_code, 0);
  auto r = env.cli({"vault", "rotate"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_NE(r.out.find("re-encrypted 1 entry and 0 kept previous logins"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("key file"), std::string::npos) << r.out;
  auto j = env.cli({"vault", "rotate", "--json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto parsed = json::parse(j.out);
  EXPECT_EQ(parsed["schema"], 1);
  EXPECT_EQ(parsed["entries"], 1);
  EXPECT_EQ(parsed["provider"], "key-file");
  auto v = env.cli({"vault", "verify"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  auto l = env.cli({"list"});
  EXPECT_EQ(l.exit_code, 0) << l.err;
  EXPECT_NE(l.out.find("work"), std::string::npos);
  for (const auto* out : {&r.out, &r.err, &j.out, &j.err, &v.out, &l.out})
    EXPECT_EQ(out->find("CANARY"), std::string::npos) << *out;
  for (const auto& e : fs::recursive_directory_iterator(env.root())) {
    if (!e.is_regular_file() || e.path().string().find((env.root() / "login").string()) == 0) continue;
    EXPECT_EQ(slurp(e.path()).find("CANARY"), std::string::npos) << e.path();
  }
}

TEST(VaultRotateCli, ATamperedVaultIsRefusedWithVerifysError) {
  test::TestEnv env;
  ASSERT_EQ(env.cli({"import", "--from-dir", login_dir(env).string(), "--name", "work"}).exit_code, 0);
  fs::path entry;
  for (const auto& e : fs::directory_iterator(env.vault_home() / "entries")) entry = e.path();
  std::string bytes = slurp(entry);
  bytes[bytes.size() - 3] ^= 1;
  put(entry, bytes);
  auto v = env.cli({"vault", "verify"});
  auto r = env.cli({"vault", "rotate"});
  EXPECT_EQ(v.exit_code, 6);
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_EQ(r.err, v.err);
  EXPECT_EQ(r.out, "");
}

TEST(VaultRotateCli, TheCachedKeyIsReplaced) {
  test::TestEnv env;
  env.set_env("PARA_BROKER_PASSPHRASE", "correct horse battery test");
  env.set_env("PARA_BROKER_KEY_CACHE_TTL", "60");
  ASSERT_EQ(env.cli({"vault", "init", "--passphrase"}).exit_code, 0);
  ASSERT_EQ(env.cli({"import", "--from-dir", login_dir(env).string(), "--name", "work"}).exit_code, 0);
  const std::string id = json::parse(slurp(env.vault_home() / "vault.json"))["vault_id"];
  auto before = cached_keys(id);
  ASSERT_EQ(before.size(), 1u) << "the kernel keyring holds no cached key";
  std::string old_description = before[0][8];
  old_description.pop_back();
  auto r = env.cli({"vault", "rotate"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LT(keyctl_search(KEY_SPEC_USER_KEYRING, "user", old_description.c_str(), 0), 0)
      << "the old cached key is still there";
  auto after = cached_keys(id);
  bool new_one = false;
  for (const auto& k : after) new_one = new_one || (k[8] != before[0][8] && k[1].find('R') == std::string::npos);
  EXPECT_TRUE(new_one) << "no new cached key";
  // Without the passphrase, the cached new key unlocks the rotated vault.
  env.set_env("PARA_BROKER_PASSPHRASE", "");
  auto l = env.cli({"list"});
  EXPECT_EQ(l.exit_code, 0) << l.err;
  EXPECT_NE(l.out.find("work"), std::string::npos);
}

}  // namespace
}  // namespace pb::vault
