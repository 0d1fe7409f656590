// Hostile login state in containers and images: each case is refused with
// exit 7 and one sentence, nothing is stored, the vault is unchanged and no
// helper container is left. The crafted files are put into containers of the
// stand-in image with `docker cp -` of a tar made here (tar-level shapes that
// Docker cannot produce, such as `..` names or hard links, are unit-tested on
// the policy function in tests/unit/capture_test.cpp).

#include <archive.h>
#include <archive_entry.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include <filesystem>
#include <fstream>

#include "tests/e2e/capture_support.hpp"
#include "tests/images/test_images.hpp"
#include "tests/support/tar_builder.hpp"
#include "vault/entry.hpp"

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

namespace pb::test {
namespace {

using Item = TarEntry;

const std::string k_creds =
    R"({"claudeAiOauth":{"accessToken":"sk-ant-oat01-CANARY-test-hostile","refreshToken":"sk-ant-ort01-CANARY-test-hostile","expiresAt":1790000000000,"scopes":["user:inference"],"subscriptionType":"max"}})";
const std::string k_claude_json =
    R"({"hasCompletedOnboarding":true,"oauthAccount":{"emailAddress":"canary-test@example.com"}})";

class Hostile : public ::testing::Test {
 protected:
  void SetUp() override {
    PB_REQUIRE_DOCKER();
    // A good login in the vault first, so "unchanged" means something.
    fs::path home = t.env.root() / "good";
    fs::create_directories(home / ".claude");
    std::ofstream(home / ".claude" / ".credentials.json") << k_creds;
    std::ofstream(home / ".claude.json") << k_claude_json;
    auto r = t.env.cli({"import", "--from-dir", home.string(), "--name", "good"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    before = t.snapshot();
  }

  /// A (never started) stand-in container whose /root received `items`.
  std::string container_with(const std::vector<Item>& items) {
    auto c = docker_cli({"create", "--entrypoint", "/bin/sh", "--label", std::string(k_test_label) + "=" + t.label,
                         test_image(k_standin_login_image)});
    EXPECT_EQ(c.exit_code, 0) << c.err;
    std::string id = c.out.substr(0, c.out.find('\n'));
    auto cp = run_process({"docker", "cp", "-", id + ":/root"}, {}, make_tar(items));
    EXPECT_EQ(cp.exit_code, 0) << cp.err;
    return id;
  }

  void expect_refused(const std::vector<std::string>& args, const std::string& why) {
    auto r = t.env.cli(args);
    EXPECT_EQ(r.exit_code, 7) << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr(why));
    EXPECT_THAT(r.err, HasSubstr("para-broker: "));
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;  // one sentence
    EXPECT_THAT(r.out + r.err, Not(HasSubstr("CANARY")));
    EXPECT_EQ(t.snapshot(), before) << "the vault changed";
    EXPECT_THAT(t.leftovers(), IsEmpty());
  }

  void expect_container_refused(const std::vector<Item>& items, const std::string& why) {
    std::string id = container_with(items);
    expect_refused({"import", "--from-container", id}, why);
  }

  LabelledEnv t;
  std::map<std::string, std::string> before;
};

TEST_F(Hostile, SymlinkCredentials) {
  expect_container_refused({{".claude", "", AE_IFDIR}, {".claude/.credentials.json", "", AE_IFLNK, "/etc/passwd"}},
                           "symbolic link");
}

TEST_F(Hostile, SymlinkClaudeJson) {
  expect_container_refused({{".claude.json", "", AE_IFLNK, "/etc/shadow"}}, "symbolic link");
}

TEST_F(Hostile, FifoCredentials) {
  expect_container_refused({{".claude", "", AE_IFDIR}, {".claude/.credentials.json", "", AE_IFIFO}}, "FIFO");
}

TEST_F(Hostile, DeviceCredentials) {
  expect_container_refused({{".claude", "", AE_IFDIR}, {".claude/.credentials.json", "", AE_IFCHR}},
                           "character device");
}

TEST_F(Hostile, DirectoryOfManyEntriesInsteadOfAFile) {
  std::vector<Item> items{{".claude", "", AE_IFDIR}, {".claude/.credentials.json", "", AE_IFDIR}};
  for (int i = 0; i < 2000; ++i) items.push_back({".claude/.credentials.json/f" + std::to_string(i), "x"});
  expect_container_refused(items, "directory");
}

TEST_F(Hostile, OversizedCredentials) {
  expect_container_refused(
      {{".claude", "", AE_IFDIR}, {".claude/.credentials.json", std::string(2u << 20, ' ') + k_creds}},
      "larger than 1048576 bytes");
}

TEST_F(Hostile, MalformedClaudeJson) {
  expect_container_refused({{".claude.json", "{\"hasCompletedOnboarding\":true,\"oauthAccount\":{"}},
                           ".claude.json was refused");
}

TEST_F(Hostile, MalformedCredentials) {
  expect_container_refused({{".claude", "", AE_IFDIR}, {".claude/.credentials.json", "{\"claudeAiOauth\":[}"}},
                           ".credentials.json");
}

TEST_F(Hostile, DeeplyNestedClaudeJson) {
  expect_container_refused({{".claude.json", "{\"projects\":" + std::string(200000, '[')}}, ".claude.json was refused");
}

TEST_F(Hostile, HugeLoginValueInClaudeJson) {
  expect_container_refused(
      {{".claude.json", "{\"oauthAccount\":{\"emailAddress\":\"" + std::string(3u << 20, 'a') + "\"}}"}},
      ".claude.json was refused");
}

TEST_F(Hostile, BakedSymlinkInAnImage) {
  std::string id =
      container_with({{".claude", "", AE_IFDIR}, {".claude/.credentials.json", "", AE_IFLNK, "/etc/passwd"}});
  std::string image = "pb-test/hostile-symlink:" + t.label;
  auto c = docker_cli({"commit", "--change", "LABEL " + std::string(k_test_label) + "=" + t.label, id, image});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  expect_refused({"import", "--from-image", image}, "symbolic link");
}

// Not hostile but large: 50 MB of history around the login keys is reduced
// while streaming, and the process stays small.
TEST_F(Hostile, FiftyMegabyteClaudeJsonIsReducedInBoundedMemory) {
  std::string big = "{\"hasCompletedOnboarding\":true,\"projects\":{";
  for (int i = 0; big.size() < 50'000'000; ++i)
    big += "\"/p/" + std::to_string(i) + "\":{\"history\":[\"" + std::string(400, 'h') + "\"]},";
  big += "\"/last\":{}},\"oauthAccount\":{\"emailAddress\":\"canary-test@example.com\"}}";
  std::string id =
      container_with({{".claude", "", AE_IFDIR}, {".claude/.credentials.json", k_creds}, {".claude.json", big}});
  std::map<std::string, std::string> env = t.env.env();
  auto r = run_process(
      {"/usr/bin/time", "-f", "maxrss_kb=%M", PB_BINARY, "import", "--from-container", id, "--name", "big"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto pos = r.err.find("maxrss_kb=");
  ASSERT_NE(pos, std::string::npos) << r.err;
  long kb = std::stol(r.err.substr(pos + 10));
  std::cout << "[ measure ] import --from-container of a 50 MB .claude.json: peak RSS " << kb << " KiB\n";
  EXPECT_LT(kb, 40 * 1024) << "the 50 MB file was buffered";
  auto decoded = t.decoded();
  ASSERT_EQ(decoded.count("big"), 1u);
  EXPECT_LT(decoded["big"][vault::k_claude_json_file].size(), 200u);
}

}  // namespace
}  // namespace pb::test
