// broker/capture: the tar entry policy on crafted in-memory archives (every
// hostile shape), and reading a login out of a (fake) container.

#include <archive.h>
#include <archive_entry.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include <memory>
#include <string>
#include <vector>

#include "broker/capture/sources.hpp"
#include "broker/capture/tar_policy.hpp"
#include "core/names.hpp"
#include "tests/support/fake_docker.hpp"
#include "tests/support/tar_builder.hpp"

namespace pb::broker::capture {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using test::make_tar;
using Entry = test::TarEntry;

const std::string k_creds =
    R"({"claudeAiOauth":{"accessToken":"sk-ant-oat01-CANARY-test-unit","refreshToken":"sk-ant-ort01-CANARY-test-unit","expiresAt":1790000000000,"scopes":["user:inference"],"subscriptionType":"max"}})";
const std::string k_claude_json =
    R"({"numStartups":3,"projects":{"/w":{"history":["secret project text"]}},"hasCompletedOnboarding":true,"oauthAccount":{"emailAddress":"canary-test@example.com","accountUuid":"00000000-0000-4000-8000-000000000001"}})";

TarPolicy creds_policy() {
  return {{{".credentials.json", WantedFile::Mode::whole, 1u << 20}}, 1};
}
TarPolicy claude_policy(std::uint64_t max = 256u << 20) {
  return {{{".claude.json", WantedFile::Mode::claude_json, max}}, 1};
}

Result<TarFiles> read(const std::string& tar, const TarPolicy& policy) {
  return read_tar(as_bytes(tar), policy, "the test archive");
}

void expect_refused(const Result<TarFiles>& r, const std::string& why) {
  ASSERT_FALSE(r.ok()) << "accepted an archive that should be refused (" << why << ")";
  EXPECT_EQ(r.error().kind, ErrorKind::unsafe_input) << r.error().message;
  EXPECT_THAT(r.error().message, HasSubstr(why));
  EXPECT_THAT(r.error().message, Not(HasSubstr("CANARY")));
  EXPECT_EQ(exit_code(r.error().kind), 7);
}

std::string text(const SecureBytes& b) {
  return std::string(b.begin(), b.end());
}

TEST(TarPolicy, ReadsAWantedRegularFileWhole) {
  auto r = read(make_tar({{".credentials.json", k_creds}}), creds_policy());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(text(r->at(".credentials.json")), k_creds);
}

TEST(TarPolicy, ToleratesADotSlashPrefix) {
  auto r = read(make_tar({{"./.credentials.json", k_creds}}), creds_policy());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->count(".credentials.json"), 1u);
}

TEST(TarPolicy, EmptyArchiveHoldsNoFiles) {
  auto r = read(make_tar({}), creds_policy());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->empty());
}

TEST(TarPolicy, ReducesClaudeJsonToTheLoginKeys) {
  auto r = read(make_tar({{".claude.json", k_claude_json}}), claude_policy());
  ASSERT_TRUE(r.ok()) << r.error().message;
  std::string reduced = text(r->at(".claude.json"));
  EXPECT_THAT(reduced, HasSubstr("hasCompletedOnboarding"));
  EXPECT_THAT(reduced, HasSubstr("oauthAccount"));
  EXPECT_THAT(reduced, Not(HasSubstr("projects")));
  EXPECT_THAT(reduced, Not(HasSubstr("secret project text")));
  EXPECT_THAT(reduced, Not(HasSubstr("numStartups")));
}

TEST(TarPolicy, StreamsAFiftyMegabyteClaudeJsonInSmallPieces) {
  // 50 MB of project history around the login keys, pulled 4 KiB at a time
  // from a generator: the tar is never in memory whole, and neither is the file.
  const std::string head = R"({"hasCompletedOnboarding":true,"projects":{)";
  const std::string tail = R"(},"oauthAccount":{"emailAddress":"canary-test@example.com"}})";
  const std::string project =
      R"("/p/0000000000":{"history":["lorem ipsum dolor sit amet, consectetur adipiscing elit"]},)";
  const std::size_t count = 50'000'000 / project.size();
  const std::string last = R"("/p/last":{})";
  std::uint64_t body_size = head.size() + count * project.size() + last.size() + tail.size();
  std::string header_tar = make_tar({{".claude.json", "", AE_IFREG, "", "", static_cast<std::int64_t>(body_size)}});
  // make_tar padded the missing data with zeros: keep the one ustar header block.
  std::string header = header_tar.substr(0, 512);
  std::uint64_t pos = 0, total = header.size() + body_size + (512 - body_size % 512) % 512 + 1024;
  std::uint64_t max_chunk = 0;
  TarSource source = [&](std::span<std::byte> out) -> Result<std::size_t> {
    std::size_t n = 0;
    std::size_t want = std::min<std::size_t>(out.size(), 4096);
    max_chunk = std::max<std::uint64_t>(max_chunk, want);
    auto* dst = reinterpret_cast<char*>(out.data());
    while (n < want && pos < total) {
      char c = 0;
      std::uint64_t p = pos;
      if (p < header.size()) {
        c = header[p];
      } else if ((p -= header.size()) < body_size) {
        if (p < head.size())
          c = head[p];
        else if ((p -= head.size()) < count * project.size())
          c = project[p % project.size()];
        else if ((p -= count * project.size()) < last.size())
          c = last[p];
        else
          c = tail[p - last.size()];
      }
      dst[n++] = c;
      ++pos;
    }
    return n;
  };
  auto r = read_tar(source, claude_policy(), "the generated archive");
  ASSERT_TRUE(r.ok()) << r.error().message;
  std::string reduced = text(r->at(".claude.json"));
  EXPECT_LT(reduced.size(), 200u);
  EXPECT_THAT(reduced, HasSubstr("canary-test@example.com"));
  EXPECT_EQ(pos, total);
}

TEST(TarPolicy, RefusesDotDotNames) {
  expect_refused(read(make_tar({{"../.credentials.json", k_creds}}), creds_policy()), "unsafe name");
  expect_refused(read(make_tar({{"a/../../.credentials.json", k_creds}}), creds_policy()), "unsafe name");
  expect_refused(read(make_tar({{"..", k_creds}}), creds_policy()), "unsafe name");
}

TEST(TarPolicy, RefusesAbsoluteNames) {
  expect_refused(read(make_tar({{"/root/.credentials.json", k_creds}}), creds_policy()), "unsafe name");
}

TEST(TarPolicy, RefusesControlCharactersAndInvalidUtf8InNames) {
  expect_refused(read(make_tar({{".credentials\n.json", k_creds}}), creds_policy()), "unsafe name");
  expect_refused(read(make_tar({{".cred\xff\xfe.json", k_creds}}), creds_policy()), "unsafe name");
  expect_refused(read(make_tar({{"\xc0\xae\xc0\xae/x", k_creds}}), creds_policy()), "unsafe name");  // overlong ".."
}

TEST(TarPolicy, RefusesSymlinks) {
  expect_refused(read(make_tar({{".credentials.json", "", AE_IFLNK, "/etc/shadow"}}), creds_policy()), "symbolic link");
}

TEST(TarPolicy, RefusesHardlinks) {
  expect_refused(read(make_tar({{".credentials.json", "", AE_IFREG, "", "/etc/shadow"}}), creds_policy()), "hard link");
}

TEST(TarPolicy, RefusesCharacterDevices) {
  expect_refused(read(make_tar({{".credentials.json", "", AE_IFCHR}}), creds_policy()), "character device");
}

TEST(TarPolicy, RefusesBlockDevices) {
  expect_refused(read(make_tar({{".credentials.json", "", AE_IFBLK}}), creds_policy()), "block device");
}

TEST(TarPolicy, RefusesFifos) {
  expect_refused(read(make_tar({{".credentials.json", "", AE_IFIFO}}), creds_policy()), "FIFO");
}

TEST(TarPolicy, RefusesDirectories) {
  expect_refused(read(make_tar({{".credentials.json", "", AE_IFDIR}}), creds_policy()), "directory");
}

TEST(TarPolicy, RefusesTooManyEntries) {
  TarPolicy p{
      {{"a", WantedFile::Mode::whole, 10}, {"b", WantedFile::Mode::whole, 10}, {"c", WantedFile::Mode::whole, 10}}, 2};
  expect_refused(read(make_tar({{"a", "1"}, {"b", "2"}, {"c", "3"}}), p), "more than 2 entries");
  std::vector<Entry> many;
  for (int i = 0; i < 10000; ++i) many.push_back({".credentials.json", "x"});
  expect_refused(read(make_tar(many), creds_policy()), "more than 1 entries");
}

TEST(TarPolicy, RefusesUnexpectedAndDuplicateEntries) {
  expect_refused(read(make_tar({{"id_rsa", "x"}}), creds_policy()), "unexpected entry");
  TarPolicy p = creds_policy();
  p.max_entries = 4;
  expect_refused(read(make_tar({{".credentials.json", k_creds}, {".credentials.json", k_creds}}), p), "twice");
}

TEST(TarPolicy, RefusesAFileOverItsBoundByHeader) {
  std::string big(2u << 20, 'x');
  expect_refused(read(make_tar({{".credentials.json", big}}), creds_policy()), "larger than 1048576 bytes");
}

TEST(TarPolicy, RefusesAClaudeJsonOverItsBoundWhileStreaming) {
  std::string big = R"({"projects":")" + std::string(300000, 'a') + R"("})";
  expect_refused(read(make_tar({{".claude.json", big}}), claude_policy(100000)), "larger than 100000 bytes");
}

TEST(TarPolicy, RefusesMalformedJson) {
  expect_refused(read(make_tar({{".claude.json", "{\"hasCompletedOnboarding\": tru"}}), claude_policy()),
                 ".claude.json");
  expect_refused(read(make_tar({{".claude.json", "[1,2,3]"}}), claude_policy()), ".claude.json");
  std::string deep(100000, '[');
  expect_refused(read(make_tar({{".claude.json", "{\"a\":" + deep}}), claude_policy()), ".claude.json");
}

TEST(TarPolicy, RefusesTruncatedArchives) {
  std::string tar = make_tar({{".credentials.json", k_creds}});
  expect_refused(read(tar.substr(0, 700), creds_policy()), "the test archive was refused");
}

TEST(TarPolicy, RefusesWhatIsNotATar) {
  expect_refused(read(std::string(4096, 'z'), creds_policy()), "the test archive was refused");
}

TEST(TarPolicy, PassesTheSourcesOwnErrorThrough) {
  TarSource broken = [](std::span<std::byte>) -> Result<std::size_t> {
    return fail(ErrorKind::unreachable, "Docker went away");
  };
  auto r = read_tar(broken, creds_policy(), "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::unreachable);
}

TEST(TarPolicy, RefusesAnEndlessStream) {
  // A header claiming a small file followed by an endless stream of zeros
  // past the end of the archive is bounded by the policy's total.
  std::string tar = make_tar({{".credentials.json", k_creds}});
  std::size_t pos = 0;
  std::uint64_t served = 0;
  TarSource endless = [&](std::span<std::byte> out) -> Result<std::size_t> {
    for (auto& b : out) b = pos < tar.size() - 1024 ? std::byte(tar[pos++]) : std::byte{'A'};
    served += out.size();
    return out.size();
  };
  auto r = read_tar(endless, creds_policy(), "x");
  // Either way it ends: refused as garbage, or accepted having stopped at the bound.
  if (!r.ok()) {
    EXPECT_EQ(r.error().kind, ErrorKind::unsafe_input) << r.error().message;
  }
  EXPECT_LT(served, 8u << 20);
}

TEST(TarPolicy, SafeNames) {
  EXPECT_TRUE(is_safe_entry_name(".claude.json"));
  EXPECT_TRUE(is_safe_entry_name("./a/b"));
  EXPECT_TRUE(is_safe_entry_name("a/..b"));
  EXPECT_FALSE(is_safe_entry_name(""));
  EXPECT_FALSE(is_safe_entry_name("/a"));
  EXPECT_FALSE(is_safe_entry_name("a/.."));
  EXPECT_FALSE(is_safe_entry_name("a\tb"));
}

// ---------------------------------------------------------------- read_login via the fake

TEST(ReadLogin, ReadsBothFilesFromTheContainer) {
  auto docker = std::make_shared<test::FakeDocker>();
  auto& c = docker->containers["c1"];
  c.archives["/root/.claude/.credentials.json"] = make_tar({{".credentials.json", k_creds}});
  c.archives["/root/.claude.json"] = make_tar({{".claude.json", k_claude_json}});
  c.stats["/root/.claude/.credentials.json"] = PathStat{".credentials.json", 0, 0600, "", ""};
  c.stats["/root/.claude.json"] = PathStat{".claude.json", 0, 0644, "", ""};
  auto r = read_login(*docker, "c1", {"/root/.claude/.credentials.json", "/root/.claude.json"}, "container:c1",
                      "container c1");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(text(r->credentials_json), k_creds);
  EXPECT_THAT(text(r->claude_json), Not(HasSubstr("projects")));
  EXPECT_EQ(r->source, "container:c1");
}

TEST(ReadLogin, AbsentFilesAreNotFound) {
  auto docker = std::make_shared<test::FakeDocker>();
  docker->containers["c1"];
  auto r = read_login(*docker, "c1", {"/root/.claude/.credentials.json", "/root/.claude.json"}, "container:c1",
                      "container c1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::not_found);
  EXPECT_THAT(r.error().message, HasSubstr("/root/.claude.json"));
}

TEST(ReadLogin, RefusesAPathThatIsASymlink) {
  auto docker = std::make_shared<test::FakeDocker>();
  auto& c = docker->containers["c1"];
  c.archives["/root/.claude/.credentials.json"] = make_tar({{".credentials.json", "", AE_IFLNK, "/etc/shadow"}});
  c.stats["/root/.claude/.credentials.json"] = PathStat{".credentials.json", 11, 0x08000000u | 0777, "", "/etc/shadow"};
  auto r = read_login(*docker, "c1", {"/root/.claude/.credentials.json", std::nullopt}, "container:c1", "container c1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::unsafe_input);
}

}  // namespace
}  // namespace pb::broker::capture
