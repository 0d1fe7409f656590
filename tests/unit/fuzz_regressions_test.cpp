// Regressions the fuzz targets (fuzz/, docs/fuzzing.md) found: each test is
// the smallest form of an input that crashed a target or broke its checks.
// The inputs themselves are kept as seeds in fuzz/corpus/<target>/.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "broker/dispatch/volume_tar.hpp"
#include "broker/docker/engine_client.hpp"
#include "broker/probe/probe_runner.hpp"
#include "core/json.hpp"
#include "core/text.hpp"
#include "fuzz/support/fake_daemon.hpp"
#include "probes/report.hpp"
#include "tests/support/fake_docker.hpp"
#include "tests/support/test_env.hpp"
#include "vault/capture.hpp"
#include "vault/entry.hpp"

namespace pb {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

bool printable_ascii(const std::string& s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
  return true;
}

// ---------------------------------------------------------------- core/text

TEST(FuzzRegressions, PrintableKeepsAsciiAndBounds) {
  EXPECT_EQ(printable("a\x1b[31mb\xff\n"), "a?[31mb??");
  EXPECT_EQ(printable(std::string(10, 'x'), 4), "xxxx...");
  EXPECT_EQ(escape_controls("a\x1b"
                            "b\xc3\xa9"),
            "a\\x1bb\xc3\xa9");
}

// ---------------------------------------------------------------- vault numbers

TEST(FuzzRegressions, WholeNumbersRefuseFloatsAndOverflow) {
  using nlohmann::json;
  EXPECT_EQ(whole_number<std::int64_t>(json::parse("1700000000000")), 1700000000000);
  EXPECT_EQ(whole_number<std::int64_t>(json::parse("-5")), -5);
  EXPECT_EQ(whole_number<std::int64_t>(json::parse("1e300")), std::nullopt);
  EXPECT_EQ(whole_number<std::int64_t>(json::parse("3.0")), std::nullopt);
  EXPECT_EQ(whole_number<std::int64_t>(json::parse("9223372036854775808")), std::nullopt);
  EXPECT_EQ(whole_number<std::uint32_t>(json::parse("-1")), std::nullopt);
  EXPECT_EQ(whole_number<std::uint32_t>(json::parse("4294967296")), std::nullopt);
  EXPECT_EQ(whole_number<std::uint32_t>(json::parse("4294967295")), 4294967295u);
  EXPECT_EQ(whole_number<int>(json::parse("\"1\"")), std::nullopt);
}

// fuzz/corpus/entry/float-created: meta.json with "created":1e300 was cast (undefined behaviour).
TEST(FuzzRegressions, EntryMetaRefusesNumbersThatAreNotWhole) {
  const std::string base =
      R"({"schema":1,"id":"0123456789abcdef","name":"w","kind":"oauth","account":"","account_uuid":"",)"
      R"("identity":"","plan":"","expires_at":null,"source":"","fingerprint":"","updated":1,"last_used":null,)"
      R"("files":[],"created":)";
  EXPECT_TRUE(vault::EntryMeta::from_json_text(base + "1}").ok());
  for (const char* bad : {"1e300}", "1.5}", "18446744073709551615}", "\"1\"}"}) {
    auto m = vault::EntryMeta::from_json_text(base + bad);
    ASSERT_FALSE(m.ok()) << bad;
    EXPECT_EQ(m.error().kind, ErrorKind::integrity);
  }
  auto schema = vault::EntryMeta::from_json_text(R"({"schema":1e300})");
  EXPECT_FALSE(schema.ok());
}

// fuzz/corpus/claude_json/expires-huge: expiresAt above INT64_MAX wrapped to a negative expiry.
TEST(FuzzRegressions, CredentialsExpiryBeyondInt64IsRefused) {
  const std::string creds =
      R"({"claudeAiOauth":{"accessToken":"sk-ant-oat01-fake-test","refreshToken":"r","expiresAt":9223372036854775808}})";
  auto s = vault::summarise_login(as_bytes(creds), {});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("expiresAt"));
  const std::string ok =
      R"({"claudeAiOauth":{"accessToken":"sk-ant-oat01-fake-test","refreshToken":"r","expiresAt":1767225600000}})";
  auto good = vault::summarise_login(as_bytes(ok), {});
  ASSERT_TRUE(good.ok()) << good.error().message;
  EXPECT_EQ(good->expires_at, 1767225600000);
}

// ---------------------------------------------------------------- probe cache

// fuzz/corpus/probe_cache/float-uid: "uid":1000.5 became 1000, "uid":-1 became 4294967295.
TEST(FuzzRegressions, ProbeCacheRefusesUidsThatAreNotWholeNumbers) {
  auto report_with_uid = [](const std::string& uid) {
    return R"({"schema":1,"image":"app:1","image_id":"sha256:00","claude":{"found":false,"kind":"unknown"},)"
           R"("user":{"name":null,"uid":)" +
           uid +
           R"(,"gid":0,"home":"/"},"env":{},"locations":{},"honors_claude_config_dir":true,"method":"probe",)"
           R"("rule":null,"knowledge_version":"1","login_keys":{}})";
  };
  auto good = probes::report_from_json(report_with_uid("1000"));
  ASSERT_TRUE(good.ok()) << good.error().message;
  EXPECT_EQ(good->user.uid, 1000u);
  // fuzz/corpus/probe_cache/minus-zero-uid: -0 is 0, not a negative number.
  auto zero = probes::report_from_json(report_with_uid("-0"));
  ASSERT_TRUE(zero.ok()) << zero.error().message;
  EXPECT_EQ(zero->user.uid, 0u);
  for (const char* bad : {"1000.5", "-1", "1e300", "4294967296", "\"1000\""})
    EXPECT_FALSE(probes::report_from_json(report_with_uid(bad)).ok()) << bad;
}

// ---------------------------------------------------------------- dispatch

// fuzz/corpus/volume_tar/non-ascii-name: a name libarchive could not convert
// failed the header write, and the error path freed the buffer before the
// writer flushed its last blocks into it (use after free).
TEST(FuzzRegressions, RenderTreeKeepsNamesThatAreNotAscii) {
  using namespace broker::dispatch;
  struct Reader final : broker::ByteReader {
    explicit Reader(const SecureBytes& b) : bytes(b) {}
    Result<std::size_t> read(std::span<std::byte> out) override {
      std::size_t n = std::min(out.size(), bytes.size() - pos);
      std::memcpy(out.data(), bytes.data() + pos, n);
      pos += n;
      return n;
    }
    const SecureBytes& bytes;
    std::size_t pos = 0;
  };
  std::vector<TreeEntry> tree;
  tree.push_back({"projects", true, {}, {}});
  tree.push_back({"projects/-home-j\xc3\xb6rg", true, {}, {}});
  auto tar = render_tree(".claude", tree, 1000, 1000);
  ASSERT_TRUE(tar.ok()) << tar.error().message;
  Reader reader(*tar);
  auto back = read_tree(reader, TreeLimits{}, "the rendered tree");
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->size(), 3u);
  EXPECT_EQ((*back)[2].name, ".claude/projects/-home-j\xc3\xb6rg");

  // A name that is not UTF-8 still renders (the writer's buffer outlives it),
  // and reading it back refuses the archive as every tar reader does (core/names).
  tree.push_back({"bad\xff\xfe", false, SecureBytes{'x'}, {}});
  tar = render_tree(".claude", tree, 1000, 1000);
  ASSERT_TRUE(tar.ok()) << tar.error().message;
  Reader again(*tar);
  auto refused = read_tree(again, TreeLimits{}, "the rendered tree");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::unsafe_input);
}

// ---------------------------------------------------------------- probe without a shell

// fuzz/corpus/probe_image/escape-user: the image's USER went into the error message as it was.
TEST(FuzzRegressions, ProbeWithoutShellMessagesArePrintable) {
  test::TestEnv env;
  test::FakeDocker docker;
  broker::ImageInfo info;
  info.id = "sha256:00000000000000000000000000000000000000000000000000000000000000bb";
  info.user = "\x1b]0;owned\x07user";
  docker.images["app:1"] = info;
  docker.images[info.id] = info;
  const Paths paths{env.vault_home(), env.key_file(), env.cache_dir()};
  auto r = broker::probe_image(docker, paths, "app:1", {.refresh = true});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(printable_ascii(r.error().message)) << r.error().message;
  EXPECT_THAT(r.error().message, HasSubstr("runs as user '?]0;owned?user'"));
}

// ---------------------------------------------------------------- Docker answers

class DockerAnswers : public ::testing::Test {
 protected:
  std::shared_ptr<broker::DockerClient> client() {
    broker::docker::EngineConfig c;
    c.host = fuzz::daemon().endpoint();
    c.request_timeout = std::chrono::milliseconds(5000);
    return broker::docker::make_engine_client(c);
  }
  /// Answers /_ping with `api` and everything else with 200 and `body`.
  void answer(const std::string& api, const std::string& body) {
    fuzz::daemon().set_handler([api, body](const fuzz::SeenRequest& req) {
      if (req.target == "/_ping") return fuzz::http_answer(200, "Api-Version: " + api + "\r\n", "OK");
      return fuzz::http_answer(200, "Content-Type: application/json\r\n", body);
    });
  }
  void TearDown() override { fuzz::daemon().set_handler(nullptr); }
};

// fuzz/corpus/docker_json/size-1e300: "Size":1e300 was cast to int64 (undefined behaviour).
TEST_F(DockerAnswers, NumbersThatAreNotWholeReadAsMissing) {
  answer("1.43", R"({"Id":"sha256:aa","Size":1e300,"Config":{}})");
  auto i = client()->image_inspect("app:1");
  ASSERT_TRUE(i.ok()) << i.error().message;
  EXPECT_EQ(i->size, 0);
  answer("1.43", R"({"StatusCode":18446744073709551615})");
  auto w = client()->container_wait("c1", std::chrono::seconds(5));
  ASSERT_TRUE(w.ok()) << w.error().message;
  EXPECT_EQ(w->exit_code, 0);
}

// fuzz/corpus/docker_json/api-overlong: a 30-digit API version overflowed the compare.
TEST_F(DockerAnswers, OverlongOrStrangeApiVersionsAreRefusedPrintably) {
  EXPECT_GT(broker::docker::compare_api_versions("1.999999999999999999999999999999", "1.43"), 0);
  EXPECT_LT(broker::docker::compare_api_versions("1.43", "99999999999999999999999.0"), 0);
  answer("1.999999999999999999999999999999", "[]");
  auto l = client()->volume_list({});
  ASSERT_FALSE(l.ok());
  EXPECT_THAT(l.error().message, HasSubstr("not one"));
  answer("1.2\x1b[31m", "[]");
  auto m = client()->volume_list({});
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(printable_ascii(m.error().message)) << m.error().message;
}

// fuzz/corpus/docker_json/retired-unprintable: the "no longer accepts API" sentence echoed the daemon's version.
TEST_F(DockerAnswers, RetiredApiMessageIsPrintable) {
  auto version_answer = [](const std::string& api, const std::string& min) {
    fuzz::daemon().set_handler([=](const fuzz::SeenRequest& req) {
      if (req.target == "/version")
        return fuzz::http_answer(
            200, "", R"({"Version":"99.0","ApiVersion":")" + api + R"(","MinAPIVersion":")" + min + R"("})");
      return fuzz::http_answer(200, "", "OK");
    });
  };
  version_answer("1.30", "1.40");
  auto v = client()->version();
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(v.error().message, HasSubstr("no longer accepts API 1.30 (oldest 1.40)"));
  version_answer("1.30\\u0007", "1.40");
  auto w = client()->version();
  ASSERT_FALSE(w.ok());
  EXPECT_TRUE(printable_ascii(w.error().message)) << w.error().message;
}

}  // namespace
}  // namespace pb
