#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/paths.hpp"
#include "core/text.hpp"
#include "tests/support/test_env.hpp"

namespace fs = std::filesystem;

namespace pb {
namespace {

Result<int> half(int x) {
  if (x % 2 != 0) return fail(ErrorKind::usage, "odd");
  return x / 2;
}

Result<int> quarter(int x) {
  PB_TRY(int h, half(x));
  PB_TRY(int q, half(h));
  return q;
}

TEST(Result, PropagatesErrorsAndValues) {
  auto ok = quarter(8);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 2);
  auto bad = quarter(6);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::usage);
  EXPECT_EQ(exit_code(bad.error().kind), 2);
}

TEST(Text, DecimalsAreReadWholeAndWhateverTheLocale) {
  EXPECT_EQ(parse_decimal("2.5"), 2.5);
  EXPECT_EQ(parse_decimal("1e3"), 1000.0);
  EXPECT_EQ(parse_decimal("-3"), -3.0);
  EXPECT_EQ(parse_decimal(".5"), 0.5);
  for (const char* bad : {"", "soon", "2.5s", " 2", "+2", "2 ", "1,5", "0x10"}) EXPECT_FALSE(parse_decimal(bad)) << bad;
}

TEST(ExitCodes, MatchTheSpec) {
  EXPECT_EQ(exit_code(ErrorKind::not_found), 3);
  EXPECT_EQ(exit_code(ErrorKind::locked), 4);
  EXPECT_EQ(exit_code(ErrorKind::unreachable), 5);
  EXPECT_EQ(exit_code(ErrorKind::timeout), 5);
  EXPECT_EQ(exit_code(ErrorKind::integrity), 6);
  EXPECT_EQ(exit_code(ErrorKind::unsafe_input), 7);
  EXPECT_EQ(exit_code(ErrorKind::attention), 10);
}

TEST(AtomicFile, CommitReplacesAndDiscardLeavesNothing) {
  test::TestEnv env;
  const fs::path target = env.root() / "f";
  ASSERT_TRUE(write_file_atomic(target, as_bytes("one")).ok());
  {
    auto f = AtomicFile::create(target);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f->write(std::string_view("two")).ok());
    // not committed: destructor discards
  }
  auto content = read_file(target, 100);
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(std::string(content->begin(), content->end()), "one");
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(env.root())) ++files;
  EXPECT_EQ(files, 2u);  // home/ and f, no temp file left
  struct stat st {};
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(ReadFile, RefusesOversizedAndNonRegularFiles) {
  test::TestEnv env;
  const fs::path big = env.root() / "big";
  std::ofstream(big) << std::string(1000, 'x');
  auto r = read_file(big, 999);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::unsafe_input);
  fs::create_symlink(big, env.root() / "link");
  EXPECT_FALSE(read_file(env.root() / "link", 5000).ok());
  auto missing = read_file(env.root() / "missing", 10);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
}

TEST(PrivateDir, CreatesWith0700AndRefusesWorldWritable) {
  test::TestEnv env;
  const fs::path dir = env.root() / "a" / "vault";
  ASSERT_TRUE(ensure_private_dir(dir, "vault directory").ok());
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ::chmod(dir.c_str(), 0777);
  auto s = ensure_private_dir(dir, "vault directory");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::unsafe_input);
  EXPECT_NE(s.error().message.find("chmod 700"), std::string::npos);
}

TEST(FileLock, ExclusiveLockIsHeldUntilDestroyed) {
  test::TestEnv env;
  const fs::path lock = env.root() / "lock";
  auto a = FileLock::acquire(lock, FileLock::Mode::exclusive);
  ASSERT_TRUE(a.ok());
  // A second process must not get the lock while we hold it.
  auto r = test::run_process({"flock", "-n", lock.string(), "true"});
  EXPECT_NE(r.exit_code, 0);
  { auto moved = std::move(*a); }
  r = test::run_process({"flock", "-n", lock.string(), "true"});
  EXPECT_EQ(r.exit_code, 0);
}

TEST(Utf8, DecodesWellFormedAndRefusesTheRest) {
  EXPECT_EQ(pb::decode_utf8("a\xc3\xa9\xe5\x90\x8d\xf0\x9f\x98\x80"), std::u32string(U"a\u00e9\u540d\U0001F600"));
  EXPECT_EQ(pb::decode_utf8(""), std::u32string());
  for (const char* bad : {"\xff", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "a\x80"})
    EXPECT_FALSE(pb::decode_utf8(bad)) << bad;
}

TEST(Paths, HonourOverridesAndXdg) {
  ::setenv("PARA_BROKER_HOME", "/x/vault", 1);
  ::unsetenv("PARA_BROKER_KEY_FILE");
  ::setenv("XDG_CONFIG_HOME", "/x/config", 1);
  ::unsetenv("PARA_BROKER_CACHE");
  ::unsetenv("XDG_CACHE_HOME");
  ::setenv("HOME", "/x/home", 1);
  Paths p = Paths::from_environment();
  EXPECT_EQ(p.vault_home, "/x/vault");
  EXPECT_EQ(p.key_file, "/x/config/para-broker/vault.key");
  EXPECT_EQ(p.cache_dir, "/x/home/.cache/para-broker");
}

}  // namespace
}  // namespace pb
