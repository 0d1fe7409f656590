// `import --from-host` through the macOS Keychain, run here with a stand-in
// `security` (a script that records its arguments and prints a canned item),
// so the path macOS takes is tested on Linux: the item, no item (exit 44),
// garbage, endless output, a hang; a canary token never leaves the vault.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "broker/capture/host.hpp"
#include "tests/support/test_env.hpp"

namespace pb {
namespace {

namespace fs = std::filesystem;
using broker::capture::HostSource;

constexpr const char* k_canary = "sk-ant-oat01-KEYCHAIN-CANARY-5f1e3c9a";

/// One login for the whole run (its expiry is fixed once).
const std::string& credentials_json() {
  static const std::string json = std::string(R"({"claudeAiOauth":{"accessToken":")") + k_canary +
                                  R"(","refreshToken":"sk-ant-ort01-KEYCHAIN-CANARY-refresh","expiresAt":)" +
                                  std::to_string(test::expiry_from_now(1)) +
                                  R"(,"scopes":["user:inference"],"subscriptionType":"max"}})";
  return json;
}

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string bytes_text(const SecureBytes& b) {
  return std::string(b.begin(), b.end());
}

class KeychainImport : public ::testing::Test {
 protected:
  void SetUp() override {
    write(home() / ".claude.json", R"({"hasCompletedOnboarding":true,"projects":{"/x":{}},)"
                                   R"("oauthAccount":{"emailAddress":"mac@example.com","accountUuid":"uuid-mac"}})");
  }

  fs::path home() const { return env.root() / "home"; }
  fs::path bin() const { return env.root() / "bin"; }
  fs::path args_file() const { return env.root() / "security-args"; }

  /// A stand-in `security` on bin/: records its argv, then runs `body`.
  void stand_in(const std::string& body) {
    write(bin() / "security", "#!/bin/sh\nprintf '%s\\n' \"$@\" > '" + args_file().string() + "'\n" + body + "\n");
    fs::permissions(bin() / "security", fs::perms::owner_all);
  }
  /// The stand-in prints `item` (as `security -w` does, with a newline) and exits `code`.
  void item(const std::string& item, int code = 0) {
    write(env.root() / "item", item + "\n");
    stand_in("cat '" + (env.root() / "item").string() + "'\nexit " + std::to_string(code));
  }

  HostSource source() const {
    HostSource s;
    s.home = home();
    s.keychain = true;
    s.security = (bin() / "security").string();
    return s;
  }

  test::TestEnv env;
};

TEST_F(KeychainImport, TheItemIsReadThroughAPipeWithNoSecretInArgv) {
  item(credentials_json());
  auto c = broker::capture::capture_host(source());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(bytes_text(c->credentials_json), credentials_json());
  // .claude.json beside it, reduced as for a file.
  EXPECT_NE(bytes_text(c->claude_json).find("mac@example.com"), std::string::npos);
  EXPECT_EQ(bytes_text(c->claude_json).find("projects"), std::string::npos);
  EXPECT_EQ(slurp(args_file()), "find-generic-password\n-s\nClaude Code-credentials\n-w\n");
}

TEST_F(KeychainImport, TheKeychainWinsOverACredentialsFileAsForClaudeCode) {
  write(home() / ".claude" / ".credentials.json", R"({"claudeAiOauth":{"accessToken":"file-token"}})");
  item(credentials_json());
  auto c = broker::capture::capture_host(source());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(bytes_text(c->credentials_json), credentials_json());
}

TEST_F(KeychainImport, SecurityPrintsHexForDataThatIsNotTextAndItIsDecoded) {
  std::string hex;
  for (unsigned char ch : credentials_json()) {
    static const char* digits = "0123456789abcdef";
    hex += digits[ch >> 4];
    hex += digits[ch & 15];
  }
  item(hex);
  auto c = broker::capture::read_keychain_credentials(source());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(bytes_text(*c), credentials_json());
}

TEST_F(KeychainImport, NoItemFallsBackToTheFilesAndOtherwiseSaysWhereItLooked) {
  stand_in(
      "echo 'security: SecKeychainSearchCopyNext: The specified item could not be found in the keychain.' >&2\n"
      "exit 44");
  auto none = broker::capture::read_keychain_credentials(source());
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().kind, ErrorKind::not_found);

  fs::remove(home() / ".claude.json");
  auto c = broker::capture::capture_host(source());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, ErrorKind::not_found);
  EXPECT_NE(c.error().message.find("Keychain holds no item 'Claude Code-credentials'"), std::string::npos)
      << c.error().message;

  write(home() / ".claude" / ".credentials.json", credentials_json());
  auto f = broker::capture::capture_host(source());
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(bytes_text(f->credentials_json), credentials_json());
}

TEST_F(KeychainImport, GarbageIsRefusedWithoutRepeatingIt) {
  for (const std::string& garbage :
       {std::string("not json ") + k_canary, std::string("{\"claudeAiOauth\": \"") + k_canary + "\"}",
        std::string("{\"claudeAiOauth\":{\"accessToken\":\"") + k_canary + "\"", std::string("[1,2,3]"),
        std::string("")}) {
    item(garbage);
    auto c = broker::capture::read_keychain_credentials(source());
    ASSERT_FALSE(c.ok()) << garbage;
    EXPECT_EQ(c.error().kind, ErrorKind::unsafe_input) << garbage << ": " << c.error().message;
    EXPECT_EQ(c.error().message.find("KEYCHAIN-CANARY"), std::string::npos) << c.error().message;
    EXPECT_NE(c.error().message.find("Keychain item 'Claude Code-credentials'"), std::string::npos)
        << c.error().message;
  }
}

TEST_F(KeychainImport, EndlessOutputIsCutAtTheBoundAndTheChildStopped) {
  stand_in("exec yes '{\"claudeAiOauth\":{}}'");
  const auto start = std::chrono::steady_clock::now();
  auto c = broker::capture::read_keychain_credentials(source());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, ErrorKind::unsafe_input);
  EXPECT_NE(c.error().message.find("larger than"), std::string::npos) << c.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST_F(KeychainImport, AHangIsStoppedAndAFailureNamesTheFix) {
  stand_in("exec sleep 60");
  HostSource s = source();
  s.limits.timeout = std::chrono::milliseconds(300);
  const auto start = std::chrono::steady_clock::now();
  auto c = broker::capture::read_keychain_credentials(s);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, ErrorKind::failure);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));

  stand_in("exit 51");  // the user denied the access
  auto denied = broker::capture::read_keychain_credentials(source());
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().kind, ErrorKind::failure);
  EXPECT_NE(denied.error().message.find("unlock the login Keychain"), std::string::npos) << denied.error().message;

  HostSource missing = source();
  missing.security = (env.root() / "no-such-security").string();
  auto absent = broker::capture::read_keychain_credentials(missing);
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.error().kind, ErrorKind::not_found);
}

/// The whole command, as macOS runs it, with the stand-in found on PATH.
TEST_F(KeychainImport, TheCommandStoresTheItemAndPrintsNoToken) {
  item(credentials_json());
  const char* path = std::getenv("PATH");
  env.set_env("PATH", bin().string() + ":" + (path != nullptr ? path : "/usr/bin:/bin"));
  env.set_env("PARA_BROKER_KEYCHAIN", "1");
  auto r = env.cli({"import", "--from-host", "--name", "mac"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("credential 'mac'"), std::string::npos) << r.out;
  auto l = env.cli({"list", "--json"});
  EXPECT_EQ(l.exit_code, 0) << l.err;
  EXPECT_NE(l.out.find("\"mac\""), std::string::npos) << l.out;
  for (const auto& out : {r.out, r.err, l.out, l.err, slurp(args_file())})
    EXPECT_EQ(out.find("KEYCHAIN-CANARY"), std::string::npos) << out;

  item(std::string("garbage ") + k_canary);
  auto bad = env.cli({"import", "--from-host", "--name", "mac"});
  EXPECT_EQ(bad.exit_code, 7) << bad.err;
  EXPECT_EQ(bad.out.find("KEYCHAIN-CANARY") + bad.err.find("KEYCHAIN-CANARY"), 2 * std::string::npos);

  stand_in("exit 44");
  fs::remove(home() / ".claude.json");
  auto none = env.cli({"import", "--from-host"});
  EXPECT_EQ(none.exit_code, 3) << none.err;

  env.set_env("PARA_BROKER_KEYCHAIN", "maybe");
  EXPECT_EQ(env.cli({"import", "--from-host"}).exit_code, 2);
}

}  // namespace
}  // namespace pb
