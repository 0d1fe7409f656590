// Vault library: known answers, round trips, tamper detection, key handling.

#include <gtest/gtest.h>

#include <archive.h>
#include <archive_entry.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "core/files.hpp"
#include "core/platform.hpp"
#include "vault/archive.hpp"
#include "vault/capture.hpp"
#include "vault/crypto.hpp"
#include "vault/entry.hpp"
#include "vault/vault.hpp"

namespace fs = std::filesystem;

namespace pb::vault {
namespace {

Bytes hex(std::string_view h) {
  return from_hex(h).value();
}

/// Deterministic randomness and clock for reproducible vault tests.
struct Deterministic {
  std::shared_ptr<std::mt19937_64> rng = std::make_shared<std::mt19937_64>(42);
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
    char tmpl[] = "/tmp/pb-vault-test-XXXXXX";
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

/// Overwrites a file in place without fsync (tamper tests write thousands of variants).
void overwrite(const fs::path& p, ByteSpan data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

Options test_options(const TempDir& t, const Deterministic& d) {
  Options o;
  o.home = t.path() / "vault";
  o.key_file = t.path() / "config" / "vault.key";
  o.clock = d.clock();
  o.random = d.random();
  o.key_cache_ttl = std::chrono::seconds(0);
  o.passphrase = [](std::string_view, bool) -> Result<SecureString> { return SecureString("correct horse"); };
  return o;
}

SecureBytes sb(std::string_view s) {
  return SecureBytes(s.begin(), s.end());
}

Capture oauth_capture(const std::string& email, std::int64_t expires,
                      const std::string& token = "sk-ant-oat01-CANARY-test-x") {
  Capture c;
  c.credentials_json = sb(R"({"claudeAiOauth":{"accessToken":")" + token +
                          R"(","refreshToken":"sk-ant-ort01-CANARY-test-r","expiresAt":)" + std::to_string(expires) +
                          R"(,"subscriptionType":"max"}})");
  c.claude_json = sb(R"({"hasCompletedOnboarding":true,"oauthAccount":{"emailAddress":")" + email +
                     R"(","accountUuid":"uuid-)" + email + R"("},"projects":{"/p":{"history":["x"]}}})");
  c.source = "dir:/test";
  return c;
}

// ---- crypto known answers (NIST GCM spec test cases 13, 14, 16; RFC 5869; RFC 7914)

TEST(VaultCrypto, AesGcmKnownAnswerEmpty) {
  Bytes key(32, 0), nonce(12, 0);
  auto box = seal_with_nonce(key, nonce, {}, {}).value();
  EXPECT_EQ(to_hex(ByteSpan(box).subspan(12)), "530f8afbc74536b9a963b4f1c4cb738b");
}

TEST(VaultCrypto, AesGcmKnownAnswerOneBlock) {
  Bytes key(32, 0), nonce(12, 0), pt(16, 0);
  auto box = seal_with_nonce(key, nonce, pt, {}).value();
  EXPECT_EQ(to_hex(ByteSpan(box).subspan(12)), "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
}

TEST(VaultCrypto, AesGcmKnownAnswerWithAad) {
  auto key = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
  auto nonce = hex("cafebabefacedbaddecaf888");
  auto pt =
      hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0d"
          "e657ba637b39");
  auto aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  auto box = seal_with_nonce(key, nonce, pt, aad).value();
  EXPECT_EQ(to_hex(ByteSpan(box).subspan(12)),
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393"
            "ba7a0abcc9f662"
            "76fc6ece0f4e1768cddf8853bb2d551b");
  auto back = open(key, box, aad).value();
  EXPECT_TRUE(equal_ct(back, pt));
}

TEST(VaultCrypto, RoundTripAndEveryFlipFails) {
  Deterministic d;
  Bytes key(32);
  d.random()(key);
  const std::string msg = "the quick brown fox";
  auto box = seal(key, as_bytes(msg), as_bytes("aad"), d.random()).value();
  EXPECT_EQ(as_chars(open(key, box, as_bytes("aad")).value()), msg);
  EXPECT_EQ(open(key, box, as_bytes("other")).error().kind, ErrorKind::integrity);
  for (std::size_t i = 0; i < box.size(); ++i) {
    Bytes bad = box;
    bad[i] ^= 0x01;
    EXPECT_FALSE(open(key, bad, as_bytes("aad")).ok()) << "flip at " << i;
  }
  EXPECT_FALSE(open(key, ByteSpan(box).first(box.size() - 1), as_bytes("aad")).ok());
  // Fresh nonce per seal: the same message never encrypts twice alike.
  auto box2 = seal(key, as_bytes(msg), as_bytes("aad"), d.random()).value();
  EXPECT_NE(box, box2);
}

TEST(VaultCrypto, HkdfAndScryptKnownAnswers) {
  Bytes ikm(22, 0x0b);
  auto okm = hkdf_sha256(ikm, "", 42).value();
  EXPECT_EQ(to_hex(okm), "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
  auto k = scrypt("password", as_bytes("NaCl"), ScryptParams{1024, 8, 16}).value();
  EXPECT_EQ(to_hex(k), "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162");
}

// ---- archive

TEST(VaultArchive, RoundTrip) {
  std::vector<ArchiveFile> files{{".claude/.credentials.json", sb("{\"a\":1}")}, {"meta.json", sb("")}};
  auto tar = write_tar(files).value();
  auto back = read_tar(tar).value();
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].name, ".claude/.credentials.json");
  EXPECT_EQ(as_chars(back[0].data), "{\"a\":1}");
  EXPECT_TRUE(back[1].data.empty());
}

SecureBytes hostile_tar(const std::function<void(archive_entry*)>& shape, std::string_view body = "x") {
  SecureBytes buf(1 << 16);
  std::size_t used = 0;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_per_block(a, 0);
  archive_write_open_memory(a, buf.data(), buf.size(), &used);
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, "ok");
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0600);
  archive_entry_set_size(e, static_cast<la_int64_t>(body.size()));
  shape(e);
  archive_write_header(a, e);
  if (archive_entry_filetype(e) == AE_IFREG) archive_write_data(a, body.data(), body.size());
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  buf.resize(used);
  return buf;
}

TEST(VaultArchive, RefusesHostileArchives) {
  auto refused = [](const SecureBytes& t) {
    auto r = read_tar(t);
    if (r.ok()) ADD_FAILURE() << "accepted an entry named " << r->at(0).name;
    return !r.ok() && r.error().kind == ErrorKind::unsafe_input;
  };
  EXPECT_TRUE(read_tar(hostile_tar([](archive_entry*) {})).ok());
  EXPECT_TRUE(refused(hostile_tar([](archive_entry* e) { archive_entry_set_pathname(e, "../evil"); })));
  EXPECT_TRUE(refused(hostile_tar([](archive_entry* e) { archive_entry_set_pathname(e, "/etc/passwd"); })));
  EXPECT_TRUE(refused(hostile_tar([](archive_entry* e) { archive_entry_set_pathname(e, "a/./b"); })));
  EXPECT_TRUE(refused(hostile_tar([](archive_entry* e) { archive_entry_set_pathname(e, "bad\xff"); })));
  EXPECT_TRUE(refused(hostile_tar([](archive_entry* e) {
    archive_entry_set_filetype(e, AE_IFLNK);
    archive_entry_set_symlink(e, "/etc/shadow");
    archive_entry_set_size(e, 0);
  })));
  EXPECT_TRUE(refused(hostile_tar([](archive_entry* e) {
    archive_entry_set_filetype(e, AE_IFIFO);
    archive_entry_set_size(e, 0);
  })));
  EXPECT_TRUE(refused(hostile_tar([](archive_entry* e) {
    archive_entry_set_filetype(e, AE_IFCHR);
    archive_entry_set_size(e, 0);
  })));
  ArchiveLimits small;
  small.max_file_size = 4;
  EXPECT_FALSE(read_tar(hostile_tar([](archive_entry*) {}, "0123456789"), small).ok());
  auto t = hostile_tar([](archive_entry*) {}, "0123456789");
  EXPECT_FALSE(read_tar(ByteSpan(t).first(300)).ok()) << "cut in header";
  EXPECT_FALSE(read_tar(ByteSpan(t).first(700)).ok()) << "cut in data";
  EXPECT_FALSE(read_tar(as_bytes("not a tar at all, clearly")).ok()) << "text";
}

TEST(VaultArchive, RefusesTooManyEntries) {
  std::vector<ArchiveFile> files;
  for (int i = 0; i < 70; ++i) files.push_back({"f" + std::to_string(i), sb("x")});
  auto tar = write_tar(files).value();
  EXPECT_EQ(read_tar(tar).error().kind, ErrorKind::unsafe_input);
}

// ---- .claude.json reduction

TEST(VaultCapture, KeepsOnlyLoginKeys) {
  auto r = reduce_claude_json(as_bytes(
      R"({"numStartups":4,"projects":{"/a":{"history":["do not keep"],"allowedTools":[]}},"hasCompletedOnboarding":true,)"
      R"("oauthAccount":{"emailAddress":"a@b.c","nested":[1,{"x":[2]}]},"primaryApiKey":"sk-ant-api03-k","customApiKeyResponses":{"approved":["k"]},"userID":"u"})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(
      as_chars(*r),
      R"({"customApiKeyResponses":{"approved":["k"]},"hasCompletedOnboarding":true,"oauthAccount":{"emailAddress":"a@b.c","nested":[1,{"x":[2]}]},"primaryApiKey":"sk-ant-api03-k"})");
}

TEST(VaultCapture, RefusesMalformedAndHostileJson) {
  for (std::string_view bad : {"", "[]", "{", "{\"a\":}", "\"str\"", "{} {}",
                               "{\"hasCompletedOnboarding\":true,\"hasCompletedOnboarding\":false}"})
    EXPECT_EQ(reduce_claude_json(as_bytes(bad)).error().kind, ErrorKind::unsafe_input) << bad;
  std::string deep = "{\"projects\":" + std::string(1000, '[') + std::string(1000, ']') + "}";
  EXPECT_EQ(reduce_claude_json(as_bytes(deep)).error().kind, ErrorKind::unsafe_input);
  std::string big_value = "{\"oauthAccount\":\"" + std::string(2 << 20, 'a') + "\"}";
  EXPECT_EQ(reduce_claude_json(as_bytes(big_value)).error().kind, ErrorKind::unsafe_input);
  EXPECT_EQ(reduce_claude_json(as_bytes("{\"a\":1}"), 3).error().kind, ErrorKind::unsafe_input);
}

TEST(VaultCapture, LargeHistoryIsStreamedAway) {
  // ~40 MB of project history: reduced without holding it (the stream is never buffered whole).
  std::ostringstream os;
  os << R"({"hasCompletedOnboarding":true,"projects":{)";
  for (int i = 0; i < 40000; ++i) {
    if (i) os << ',';
    os << "\"/p" << i << "\":{\"history\":[\"" << std::string(1000, 'h') << "\"]}";
  }
  os << R"(},"oauthAccount":{"emailAddress":"big@example.com"}})";
  std::istringstream in(os.str());
  auto r = reduce_claude_json(in);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(as_chars(*r), R"({"hasCompletedOnboarding":true,"oauthAccount":{"emailAddress":"big@example.com"}})");
}

TEST(VaultCapture, SummarisesLogins) {
  auto c = oauth_capture("z@example.com", 123);
  auto reduced = reduce_claude_json(ByteSpan(c.claude_json)).value();
  auto s = summarise_login(c.credentials_json, reduced).value();
  EXPECT_EQ(s.kind, "oauth");
  EXPECT_EQ(s.account, "z@example.com");
  EXPECT_EQ(s.plan, "max");
  EXPECT_EQ(*s.expires_at, 123);
  EXPECT_EQ(s.identity, "uuid:uuid-z@example.com");
  auto api = summarise_login({}, as_bytes(R"({"primaryApiKey":"sk-ant-api03-x"})")).value();
  EXPECT_EQ(api.kind, "api-key");
  EXPECT_EQ(summarise_login({}, as_bytes(R"({"hasCompletedOnboarding":true})")).error().kind, ErrorKind::not_found);
  EXPECT_EQ(summarise_login(as_bytes(R"({"claudeAiOauth":[]})"), {}).error().kind, ErrorKind::unsafe_input);
}

// ---- the vault

TEST(VaultStore, CaptureListReadRoundTrip) {
  TempDir t;
  Deterministic d;
  auto opts = test_options(t, d);
  auto v = Vault::open_or_create(opts).value();
  auto o = v.capture(oauth_capture("a@example.com", 1000), {}).value();
  EXPECT_EQ(o.action, CaptureOutcome::Action::created);
  EXPECT_EQ(o.meta.name, "a");
  auto l = v.list().value();
  ASSERT_EQ(l.entries.size(), 1u);
  EXPECT_EQ(l.entries[0].account, "a@example.com");
  auto e = v.read("a").value();
  ASSERT_EQ(e.files.size(), 2u);
  EXPECT_EQ(e.files[0].name, k_credentials_file);
  EXPECT_NE(as_chars(e.files[0].data).find("CANARY"), std::string_view::npos);
  EXPECT_EQ(as_chars(e.files[1].data).find("history"), std::string_view::npos);  // history never stored
  // A second vault object (another process) opens it with the key file.
  auto v2 = Vault::open(opts).value();
  EXPECT_EQ(v2.read(o.meta.id).value().meta.name, "a");
  EXPECT_TRUE(v2.verify().value().ok());
}

TEST(VaultStore, NewerExpiryWins) {
  TempDir t;
  Deterministic d;
  auto v = Vault::open_or_create(test_options(t, d)).value();
  auto first = v.capture(oauth_capture("a@example.com", 2000, "sk-ant-oat01-CANARY-test-new"), {}).value();
  auto older = v.capture(oauth_capture("a@example.com", 1000, "sk-ant-oat01-CANARY-test-old"), {}).value();
  EXPECT_EQ(older.action, CaptureOutcome::Action::kept_stored);
  auto e = v.read("a").value();
  EXPECT_NE(as_chars(e.files[0].data).find("test-new"), std::string_view::npos);
  auto newer = v.update(first.meta.id, oauth_capture("a@example.com", 3000, "sk-ant-oat01-CANARY-test-newest"),
                        {"s1", "img"}, "release")
                   .value();
  EXPECT_EQ(newer.action, CaptureOutcome::Action::replaced);
  EXPECT_EQ(v.list().value().entries.size(), 1u);
  EXPECT_EQ(*v.read(first.meta.id).value().meta.expires_at, 3000);
  // Another account never overwrites this one by name.
  CaptureOptions named;
  named.name = "a";
  EXPECT_EQ(v.capture(oauth_capture("b@example.com", 5000), named).error().kind, ErrorKind::conflict);
  auto touched = v.touch("a", {"s2", "para-claude:latest"}).value();
  EXPECT_TRUE(touched.last_used.has_value());
  EXPECT_TRUE(v.verify().value().ok());
}

TEST(VaultStore, AReplacedLoginIsKeptAndCanBePutBack) {
  TempDir t;
  Deterministic d;
  auto opts = test_options(t, d);
  auto v = Vault::open_or_create(opts).value();
  auto first = v.capture(oauth_capture("a@example.com", 2000, "sk-ant-oat01-CANARY-test-good"), {}).value();
  EXPECT_FALSE(first.meta.previous) << "nothing replaced yet";
  const std::string id = first.meta.id;
  // A write-back that turns out bad (a token that no longer works, say).
  auto bad =
      v.update(id, oauth_capture("a@example.com", 3000, "sk-ant-oat01-CANARY-test-bad"), {"s1", "img"}, "writeback")
          .value();
  ASSERT_TRUE(bad.meta.previous);
  EXPECT_EQ(bad.meta.previous->fingerprint, first.meta.fingerprint);
  EXPECT_EQ(bad.meta.previous->source, "dir:/test");
  EXPECT_TRUE(fs::exists(opts.home / "entries" / (id + ".prev")));
  EXPECT_TRUE(v.list().value().entries[0].previous) << "list can say the login was replaced";
  EXPECT_TRUE(v.verify().value().ok()) << "the kept login is no stray file";

  auto restored = v.restore_previous("a", {"", ""}).value();
  EXPECT_EQ(restored.fingerprint, first.meta.fingerprint);
  EXPECT_EQ(*restored.expires_at, 2000);
  ASSERT_TRUE(restored.previous);
  EXPECT_EQ(restored.previous->fingerprint, bad.meta.fingerprint) << "the bad one is kept in turn";
  EXPECT_NE(as_chars(v.read("a").value().files[0].data).find("test-good"), std::string_view::npos);
  EXPECT_TRUE(v.verify().value().ok());
  bool logged = false;
  std::ifstream log(opts.home / "access.log");
  for (std::string line; std::getline(log, line);)
    logged = logged || line.find("\"op\":\"restore\"") != std::string::npos;
  EXPECT_TRUE(logged);

  // A kept file that is not the one the entry names is refused, not put back.
  const auto kept = read_file(opts.home / "entries" / (id + ".prev"), 1 << 20).value();
  auto other = v.capture(oauth_capture("b@example.com", 2000), {}).value();
  fs::copy_file(opts.home / "entries" / (other.meta.id + ".pbe"), opts.home / "entries" / (id + ".prev"),
                fs::copy_options::overwrite_existing);
  auto swapped = v.restore_previous("a", {"", ""});
  ASSERT_FALSE(swapped.ok());
  EXPECT_EQ(swapped.error().kind, ErrorKind::integrity);
  EXPECT_FALSE(v.verify().value().ok()) << "verify sees it too";
  overwrite(opts.home / "entries" / (id + ".prev"), ByteSpan(kept));

  // rm takes the kept login with the entry.
  ASSERT_TRUE(v.remove("a").ok());
  EXPECT_FALSE(fs::exists(opts.home / "entries" / (id + ".prev")));
  EXPECT_EQ(v.restore_previous("b", {"", ""}).error().kind, ErrorKind::not_found) << "b never replaced anything";
}

TEST(VaultStore, EveryByteFlipOfAnEntryIsDetectedAndOthersStayUsable) {
  TempDir t;
  Deterministic d;
  auto v = Vault::open_or_create(test_options(t, d)).value();
  auto victim = v.capture(oauth_capture("victim@example.com", 1000), {}).value().meta;
  auto other = v.capture(oauth_capture("other@example.com", 1000), {}).value().meta;
  const fs::path path = t.path() / "vault" / "entries" / (victim.id + ".pbe");
  const SecureBytes original = read_file(path, 1 << 24).value();
  for (std::size_t i = 0; i < original.size(); ++i) {
    SecureBytes bad = original;
    bad[i] ^= static_cast<std::uint8_t>(1u << (i % 8));
    overwrite(path, bad);
    auto r = v.read(victim.id);
    ASSERT_FALSE(r.ok()) << "flip at byte " << i << " went unnoticed";
    EXPECT_EQ(r.error().kind, ErrorKind::integrity) << "byte " << i << ": " << r.error().message;
    EXPECT_NE(r.error().message.find(victim.id), std::string::npos) << r.error().message;
    if (i % 64 == 0) {
      EXPECT_TRUE(v.read(other.name).ok());
      auto rep = v.verify().value();
      ASSERT_EQ(rep.problems.size(), 1u);
      EXPECT_EQ(rep.problems[0].id, victim.id);
      EXPECT_EQ(rep.entries_ok, 1u);
    }
  }
  for (std::size_t len : {std::size_t{0}, std::size_t{3}, std::size_t{30}, original.size() / 2, original.size() - 1}) {
    overwrite(path, ByteSpan(original).first(len));
    EXPECT_EQ(v.read(victim.id).error().kind, ErrorKind::integrity) << "truncated to " << len;
    EXPECT_TRUE(v.read(other.name).ok());
  }
  // A damaged entry can still be removed by id.
  EXPECT_TRUE(v.remove(victim.id).ok());
  EXPECT_TRUE(v.verify().value().ok());
}

TEST(VaultStore, EntryFilesCannotBeSwappedBetweenIds) {
  TempDir t;
  Deterministic d;
  auto v = Vault::open_or_create(test_options(t, d)).value();
  auto a = v.capture(oauth_capture("a@example.com", 1), {}).value().meta;
  auto b = v.capture(oauth_capture("b@example.com", 1), {}).value().meta;
  const fs::path dir = t.path() / "vault" / "entries";
  fs::copy_file(dir / (a.id + ".pbe"), dir / (b.id + ".pbe"), fs::copy_options::overwrite_existing);
  EXPECT_EQ(v.read(b.id).error().kind, ErrorKind::integrity);
}

TEST(VaultKeys, WrongKeyFileIsLockedLoggedAndChangesNothing) {
  TempDir t;
  Deterministic d;
  auto opts = test_options(t, d);
  {
    auto v = Vault::open_or_create(opts).value();
    ASSERT_TRUE(v.capture(oauth_capture("a@example.com", 1), {}).ok());
  }
  const auto header_before = read_file(opts.home / "vault.json", 1 << 16).value();
  const SecureBytes good_key = read_file(opts.key_file, 256).value();
  ASSERT_TRUE(write_file_atomic(opts.key_file, as_bytes(std::string(64, 'a') + "\n")).ok());
  auto r = Vault::open(opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::locked);
  EXPECT_EQ(read_file(opts.home / "vault.json", 1 << 16).value(), header_before);
  ASSERT_TRUE(write_file_atomic(opts.key_file, good_key).ok());
  auto v = Vault::open(opts).value();
  ASSERT_TRUE(v.log({"audit", "", "", "", "", "ok", "", "", 0}).ok());
  const auto log = read_file(opts.home / "access.log", 1 << 20).value();
  EXPECT_NE(as_chars(log).find("\"op\":\"unlock\""), std::string_view::npos);
  EXPECT_NE(as_chars(log).find("wrong key file"), std::string_view::npos);
  EXPECT_TRUE(v.verify().value().ok());
}

TEST(VaultKeys, PassphraseProviderAndRekey) {
  TempDir t;
  Deterministic d;
  auto opts = test_options(t, d);
  auto pass = std::make_shared<std::string>("correct horse");
  opts.passphrase = [pass](std::string_view, bool) -> Result<SecureString> { return SecureString(pass->c_str()); };
  opts.scrypt.n = std::uint64_t{1} << 15;  // a vault made before the stronger default keeps opening
  auto v = Vault::init(opts, Provider::passphrase).value();
  EXPECT_NE(inspect_file(opts.home / "vault.json").value().find("\"n\": 32768"), std::string::npos);
  opts.scrypt = ScryptParams{};
  EXPECT_FALSE(fs::exists(opts.key_file));
  ASSERT_TRUE(v.capture(oauth_capture("p@example.com", 1), {}).ok());
  *pass = "wrong";
  EXPECT_EQ(Vault::open(opts).error().kind, ErrorKind::locked);
  *pass = "correct horse";
  auto again = Vault::open(opts).value();
  *pass = "battery staple";  // the new passphrase rekey asks for
  ASSERT_TRUE(again.rekey(Provider::passphrase).ok());
  EXPECT_EQ(Vault::open(opts).value().list().value().entries.size(), 1u);
  *pass = "correct horse";
  EXPECT_EQ(Vault::open(opts).error().kind, ErrorKind::locked);
  auto text = inspect_file(opts.home / "vault.json").value();
  EXPECT_NE(text.find("\"n\": 131072"), std::string::npos) << "rekey upgrades the KDF: " << text;
  EXPECT_EQ(text.find("wrapped"), std::string::npos);
}

TEST(VaultKeys, RekeyWithManyEntries) {
  TempDir t;
  Deterministic d;
  auto opts = test_options(t, d);
  auto v = Vault::open_or_create(opts).value();
  for (int i = 0; i < 100; ++i)
    ASSERT_TRUE(v.capture(oauth_capture("u" + std::to_string(i) + "@example.com", i), {}).ok());
  const SecureBytes old_key = read_file(opts.key_file, 256).value();
  ASSERT_TRUE(v.rekey(Provider::key_file).ok());
  auto fresh = Vault::open(opts).value();
  auto l = fresh.list().value();
  ASSERT_EQ(l.entries.size(), 100u);
  for (const auto& m : l.entries) ASSERT_TRUE(fresh.read(m.id).ok()) << m.name;
  EXPECT_TRUE(fresh.verify().value().ok());
  auto old_opts = opts;
  old_opts.key_file = t.path() / "old.key";
  ASSERT_TRUE(write_file_atomic(old_opts.key_file, old_key).ok());
  EXPECT_EQ(Vault::open(old_opts).error().kind, ErrorKind::locked);
  // And on to a passphrase: the key file no longer opens it.
  ASSERT_TRUE(fresh.rekey(Provider::passphrase).ok());
  auto by_pass = Vault::open(opts).value();
  EXPECT_EQ(by_pass.provider(), Provider::passphrase);
  EXPECT_EQ(by_pass.list().value().entries.size(), 100u);
  auto bad = opts;
  bad.passphrase = [](std::string_view, bool) -> Result<SecureString> { return SecureString("nope"); };
  EXPECT_EQ(Vault::open(bad).error().kind, ErrorKind::locked);
}

TEST(VaultKeys, DerivedKeysArePerPurposeAndPerDataKey) {
  TempDir t;
  Deterministic d;
  auto opts = test_options(t, d);
  auto v = Vault::open_or_create(opts).value();
  const SecureBytes a = v.derive_key("image seed cache").value();
  EXPECT_EQ(a.size(), k_key_size);
  EXPECT_NE(v.derive_key("something else").value(), a);
  EXPECT_EQ(Vault::open(opts).value().derive_key("image seed cache").value(), a) << "stable across opens";
  ASSERT_TRUE(v.rekey(Provider::key_file).ok());
  EXPECT_EQ(Vault::open(opts).value().derive_key("image seed cache").value(), a) << "rekey keeps the data key";

  // Another vault (another data key) derives another key for the same purpose.
  TempDir t2;
  Deterministic d2;
  d2.rng->seed(43);
  auto other = Vault::open_or_create(test_options(t2, d2)).value();
  EXPECT_NE(other.derive_key("image seed cache").value(), a);

  // A rotated data key too.
  ASSERT_TRUE(v.rotate().ok());
  EXPECT_NE(v.derive_key("image seed cache").value(), a);
  EXPECT_NE(Vault::open(opts).value().derive_key("image seed cache").value(), a);
}

TEST(VaultKeys, RefusesAVaultDirectoryOthersCanWrite) {
  TempDir t;
  Deterministic d;
  auto opts = test_options(t, d);
  { auto v = Vault::open_or_create(opts).value(); }
  fs::permissions(opts.home, fs::perms::others_write, fs::perm_options::add);
  EXPECT_EQ(Vault::open(opts).error().kind, ErrorKind::unsafe_input);
}

// ---- access log

TEST(VaultLog, DetectsEditsDeletionsReorderingAndTruncation) {
  TempDir t;
  Deterministic d;
  auto opts = test_options(t, d);
  auto v = Vault::open_or_create(opts).value();
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(v.log({"mount", "", "n", "s" + std::to_string(i), "img", "ok", "", "", 0}).ok());
  ASSERT_TRUE(v.verify().value().ok());
  const fs::path log = opts.home / "access.log";
  const std::string original(as_chars(read_file(log, 1 << 20).value()));
  std::vector<std::string> lines;
  std::istringstream in(original);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 6u);
  auto join = [](const std::vector<std::string>& ls) {
    std::string s;
    for (const auto& l : ls) s += l + "\n";
    return s;
  };
  auto check_broken = [&](const std::string& text, const char* what) {
    ASSERT_TRUE(write_file_atomic(log, as_bytes(text)).ok());
    auto r = v.verify().value();
    EXPECT_FALSE(r.ok()) << what;
  };
  auto edited = lines;
  edited[2].replace(edited[2].find("\"s1\""), 4, "\"sX\"");
  check_broken(join(edited), "edit");
  auto deleted = lines;
  deleted.erase(deleted.begin() + 3);
  check_broken(join(deleted), "delete");
  auto reordered = lines;
  std::swap(reordered[2], reordered[3]);
  check_broken(join(reordered), "reorder");
  auto truncated = lines;
  truncated.pop_back();
  check_broken(join(truncated), "truncate tail");
  check_broken("", "empty");
  check_broken(original.substr(0, original.size() - 10), "cut mid-line");
  ASSERT_TRUE(write_file_atomic(log, as_bytes(original)).ok());
  EXPECT_TRUE(v.verify().value().ok());
  fs::remove(opts.home / "access.head");
  EXPECT_FALSE(v.verify().value().ok());
}

TEST(VaultLog, AnAppendKilledMidWriteIsNotTamperingAndTheNextAppendRemovesIt) {
  TempDir t;
  Deterministic d;
  auto opts = test_options(t, d);
  auto v = Vault::open_or_create(opts).value();
  ASSERT_TRUE(v.log({"mount", "", "n", "s1", "img", "ok", "", "", 0}).ok());
  const fs::path log = opts.home / "access.log";
  const std::string before(as_chars(read_file(log, 1 << 20).value()));
  {
    std::ofstream out(log, std::ios::app);
    out << R"({"credential":"","detail":"","fingerprint":"","image":"img","mac":"0a1b)";  // no newline
  }
  auto r = v.verify().value();
  EXPECT_TRUE(r.ok()) << (r.problems.empty() ? "" : r.problems.front().message);
  EXPECT_EQ(r.log_records, 2u);
  ASSERT_TRUE(v.log({"mount", "", "n", "s2", "img", "ok", "", "", 0}).ok());
  const std::string after(as_chars(read_file(log, 1 << 20).value()));
  ASSERT_EQ(after.compare(0, before.size(), before), 0) << "complete records were changed";
  EXPECT_EQ(after.find("0a1b"), std::string::npos) << "the fragment is still there";
  EXPECT_NE(after.find("an incomplete record at the end of the log"), std::string::npos);
  EXPECT_TRUE(v.verify().value().ok());
  // A fragment after a cut record is still a cut log.
  ASSERT_TRUE(write_file_atomic(log, as_bytes(before + "{\"seq\":")).ok());
  EXPECT_FALSE(v.verify().value().ok());
}

// ---- secrets do not outlive their use (issue 17, finding 5)

TEST(VaultSecrets, ShortSecureStringsAreWipedWhenDestroyed) {
  // 15 characters or fewer live inside the string object itself (small-string buffer).
  for (const char* secret : {"hunter2-secret!", "pw", "a-longer-passphrase-on-the-heap"}) {
    alignas(SecureString) unsigned char storage[sizeof(SecureString)];
    auto* s = new (storage) SecureString(secret);
    SecureString moved(std::move(*s));  // a move leaves the source's buffer behind too
    s->~SecureString();
    const std::string_view raw(reinterpret_cast<const char*>(storage), sizeof storage);
    EXPECT_EQ(raw.find(std::string_view(secret).substr(0, 2)), std::string_view::npos) << secret;
  }
}

TEST(VaultKeyCache, ProcTimeoutsAreRead) {
  EXPECT_EQ(platform::detail::parse_proc_timeout("59s"), 59u);
  EXPECT_EQ(platform::detail::parse_proc_timeout("4m"), 240u);
  EXPECT_EQ(platform::detail::parse_proc_timeout("2h"), 7200u);
  EXPECT_EQ(platform::detail::parse_proc_timeout("3d"), 3u * 86400);
  EXPECT_FALSE(platform::detail::parse_proc_timeout("perm"));
  EXPECT_FALSE(platform::detail::parse_proc_timeout("expd"));
  EXPECT_FALSE(platform::detail::parse_proc_timeout("s"));
}

}  // namespace
}  // namespace pb::vault
