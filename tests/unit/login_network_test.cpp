// login's network and environment options: every value is checked before any
// Docker call, a refused one names the option and the variable but never the
// value, and what is accepted reaches the login container's create body as given.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "broker/capture/login_network.hpp"
#include "broker/commands/command.hpp"
#include "broker/commands/run.hpp"
#include "tests/support/fake_docker.hpp"
#include "tests/support/test_env.hpp"

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

namespace pb {
namespace {

using broker::capture::LoginNetworkRequest;
using broker::capture::resolve_login_network;
namespace detail = broker::capture::detail;

const std::string k_ca_pem = R"(-----BEGIN CERTIFICATE-----
MIIBkzCCATmgAwIBAgIUH5fqm4V+SirVf4bBNfsHxC/NID0wCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTcGFyYS1icm9rZXIgdGVzdCBDQTAgFw0yNjEyMDYwNzQxMzda
GA8yMTI2MTExMjA3NDEzN1owHjEcMBoGA1UEAwwTcGFyYS1icm9rZXIgdGVzdCBD
QTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABJLdmLDzKd6oXR6Kwesw51Zc2ckx
nJ9dTOtvVCixuB7lcQ29qjF1DBZWAa31XRaSEGeJscTeQ8G/uDQeDxtf1SyjUzBR
MB0GA1UdDgQWBBR6zHLQAxmFuUnz54JWon6TPJALrzAfBgNVHSMEGDAWgBR6zHLQ
AxmFuUnz54JWon6TPJALrzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gA
MEUCIEIfJX1jEqsqL3j0+eLWKWIS3LfLRBPWiA3weGZPaoLJAiEAuWB9gR79Ymcz
ZRW43I0GgGR35AAvwkxBt+I1ut9gblA=
-----END CERTIFICATE-----
)";

std::optional<std::string> no_env(const std::string&) {
  return std::nullopt;
}

TEST(LoginNetwork, NetworkNames) {
  for (const char* ok : {"host", "bridge", "none", "corp-net", "my_net.1", "a"})
    EXPECT_TRUE(detail::valid_network_name(ok)) << ok;
  for (const char* bad : {"", "container:abc", "-x", ".x", "a b", "net/1", "a\nb", "ä"})
    EXPECT_FALSE(detail::valid_network_name(bad)) << bad;
  EXPECT_FALSE(detail::valid_network_name(std::string(129, 'a')));
}

TEST(LoginNetwork, EnvNamesAndTheOnesRefused) {
  for (const char* ok : {"HTTPS_PROXY", "https_proxy", "NO_PROXY", "USE_LOCAL_OAUTH", "_X", "NODE_OPTIONS"}) {
    EXPECT_TRUE(detail::valid_env_name(ok)) << ok;
    EXPECT_FALSE(detail::refused_env_name(ok)) << ok;
  }
  for (const char* bad : {"", "1X", "A-B", "A B", "A=B", "Ä"}) EXPECT_FALSE(detail::valid_env_name(bad)) << bad;
  for (const char* refused :
       {"CLAUDE_CONFIG_DIR", "claude_config_dir", "CLAUDE_SECURESTORAGE_CONFIG_DIR", "HOME", "XDG_CONFIG_HOME",
        "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_CODE_USE_BEDROCK",
        "GITHUB_TOKEN", "proxy_password", "AWS_SECRET_ACCESS_KEY", "MY_APIKEY", "GOOGLE_APPLICATION_CREDENTIALS"})
    EXPECT_TRUE(detail::refused_env_name(refused)) << refused;
}

TEST(LoginNetwork, EnvValues) {
  EXPECT_TRUE(detail::valid_env_value(""));
  EXPECT_TRUE(detail::valid_env_value("http://user:p%40ss@proxy.corp:3128"));
  EXPECT_TRUE(detail::valid_env_value("localhost,127.0.0.1,.corp.example"));
  EXPECT_TRUE(detail::valid_env_value("grüße"));
  for (const char* bad : {"a\nb", "a\rb", "a\tb", "\x1b[31m", "a\x7f"}) EXPECT_FALSE(detail::valid_env_value(bad));
  EXPECT_FALSE(detail::valid_env_value(std::string("a\0b", 3)));
  EXPECT_FALSE(detail::valid_env_value("\xff\xfe"));
  EXPECT_FALSE(detail::valid_env_value(std::string(8193, 'a')));
}

TEST(LoginNetwork, ExtraHosts) {
  for (const char* ok : {"platform.claude.com:127.0.0.1", "api.anthropic.com:10.0.0.1", "proxy:::1",
                         "proxy.corp:fe80::1", "proxy:host-gateway", "a-b.c:1.2.3.4"})
    EXPECT_TRUE(detail::valid_extra_host(ok)) << ok;
  for (const char* bad :
       {"", "host", ":1.2.3.4", "host:", "host:1.2.3", "host:1.2.3.4.5", "-a:1.2.3.4", "a..b:1.2.3.4", "a_b:1.2.3.4",
        "host:1.2.3.4,extra", "host:1.2.3.4\n", "h st:1.2.3.4", "host=1.2.3.4", "host:localhost"})
    EXPECT_FALSE(detail::valid_extra_host(bad)) << bad;
}

TEST(LoginNetwork, CaFileKeepsOnlyCertificates) {
  auto ok = detail::certificates_only("comment before\n" + k_ca_pem + "trailing text\n" + k_ca_pem, "ca");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(*ok, k_ca_pem + k_ca_pem) << "re-encoded, text around the blocks dropped";
  auto key =
      detail::certificates_only(k_ca_pem + "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n", "ca");
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(key.error().message, HasSubstr("private key"));
  EXPECT_FALSE(detail::certificates_only("", "ca").ok());
  EXPECT_FALSE(detail::certificates_only("not pem at all", "ca").ok());
  EXPECT_FALSE(detail::certificates_only("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "ca").ok());
  EXPECT_FALSE(
      detail::certificates_only("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n" + k_ca_pem, "ca").ok());
}

TEST(LoginNetwork, ResolvesWhatAUserBehindAProxyGives) {
  test::TestEnv env;
  const fs::path ca = env.root() / "corp-ca.pem";
  fs::create_directories(ca.parent_path());
  std::ofstream(ca) << k_ca_pem;
  LoginNetworkRequest req;
  req.network = "host";
  req.env = {"HTTPS_PROXY", "NO_PROXY=localhost,127.0.0.1", "http_proxy", "EMPTY="};
  req.add_hosts = {"platform.claude.com:127.0.0.1"};
  req.ca_file = ca.string();
  std::map<std::string, std::string> caller{{"HTTPS_PROXY", "http://proxy.corp:3128"}};
  auto lookup = [&](const std::string& n) -> std::optional<std::string> {
    auto it = caller.find(n);
    return it == caller.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  auto r = resolve_login_network(req, lookup);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->network_mode, "host");
  EXPECT_THAT(r->env, ElementsAre("HTTPS_PROXY=http://proxy.corp:3128", "NO_PROXY=localhost,127.0.0.1",
                                  "EMPTY=", std::string("NODE_EXTRA_CA_CERTS=") + broker::capture::k_login_ca_path));
  EXPECT_THAT(r->unset, ElementsAre("http_proxy"));
  EXPECT_THAT(r->extra_hosts, ElementsAre("platform.claude.com:127.0.0.1"));
  EXPECT_EQ(r->ca_pem, k_ca_pem);

  auto empty = resolve_login_network({}, no_env);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->network_mode, "");
  EXPECT_THAT(empty->env, IsEmpty()) << "nothing of the caller's environment by default";
}

TEST(LoginNetwork, RefusalsNameTheVariableNeverTheValue) {
  const std::string secret = "CANARY-test-proxy-password";
  struct Case {
    LoginNetworkRequest req;
    const char* says;
  };
  LoginNetworkRequest twice;
  twice.env = {"HTTPS_PROXY=http://a:" + secret + "@p:1", "HTTPS_PROXY=x"};
  LoginNetworkRequest bad_value;
  bad_value.env = {"HTTPS_PROXY=http://a:" + secret + "@p:1\nX=1"};
  LoginNetworkRequest key;
  key.env = {"ANTHROPIC_API_KEY=sk-ant-api03-" + secret};
  LoginNetworkRequest ca_twice;
  ca_twice.env = {"NODE_EXTRA_CA_CERTS=/etc/x.pem"};
  ca_twice.ca_file = "/nonexistent/ca.pem";
  LoginNetworkRequest missing_ca;
  missing_ca.ca_file = "/nonexistent/ca.pem";
  LoginNetworkRequest bad_name;
  bad_name.env = {"A B=" + secret};
  for (const auto& [req, says] : std::vector<Case>{{twice, "--env HTTPS_PROXY is given twice"},
                                                   {bad_value, "--env HTTPS_PROXY: the value must be printable"},
                                                   {key, "--env ANTHROPIC_API_KEY: refused"},
                                                   {ca_twice, "--env NODE_EXTRA_CA_CERTS: refused with --ca-file"},
                                                   {missing_ca, "--ca-file /nonexistent/ca.pem"},
                                                   {bad_name, "--env takes NAME=VALUE or NAME"}}) {
    auto r = resolve_login_network(req, no_env);
    ASSERT_FALSE(r.ok()) << says;
    EXPECT_EQ(r.error().kind, ErrorKind::usage);
    EXPECT_THAT(r.error().message, HasSubstr(says));
    EXPECT_THAT(r.error().message, Not(HasSubstr(secret)));
  }
}

TEST(LoginNetwork, TheDockerCliProxiesSettingAsTheCliAppliesIt) {
  auto config = nlohmann::json::parse(R"({"proxies":{
      "default":{"httpProxy":"http://proxy.corp:3128","httpsProxy":"http://proxy.corp:3129","noProxy":"localhost",
                 "ftpProxy":""},
      "tcp://other:2376":{"httpsProxy":"http://other-proxy:1"}}})");
  auto r = broker::capture::docker_cli_proxy_env(config, "unix:///var/run/docker.sock", {"https_proxy=mine"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_THAT(*r, ElementsAre("HTTP_PROXY=http://proxy.corp:3128", "http_proxy=http://proxy.corp:3128",
                              "HTTPS_PROXY=http://proxy.corp:3129", "NO_PROXY=localhost", "no_proxy=localhost"))
      << "--env wins for its name; an empty setting adds nothing";
  auto other = broker::capture::docker_cli_proxy_env(config, "tcp://other:2376", {});
  ASSERT_TRUE(other.ok());
  EXPECT_THAT(*other, ElementsAre("HTTPS_PROXY=http://other-proxy:1", "https_proxy=http://other-proxy:1"))
      << "the entry of the endpoint replaces the default";
  for (const char* none : {R"({})", R"({"proxies":[]})", R"({"proxies":{"tcp://x:1":{"httpProxy":"h"}}})", "[]"}) {
    auto n = broker::capture::docker_cli_proxy_env(nlohmann::json::parse(none), "unix:///s", {});
    ASSERT_TRUE(n.ok()) << none;
    EXPECT_THAT(*n, IsEmpty()) << none;
  }
  auto bad = broker::capture::docker_cli_proxy_env(
      nlohmann::json::parse(R"({"proxies":{"default":{"httpProxy":"http://u:CANARY-test-pw@p:1\r\n"}}})"), "unix:///s",
      {});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("'httpProxy'"));
  EXPECT_THAT(bad.error().message, Not(HasSubstr("CANARY")));
}

struct Captured {
  int rc;
  std::string out;
  std::string err;
};

Captured run_cli(const std::shared_ptr<test::FakeDocker>& fake, const std::vector<std::string>& command,
                 const test::TestEnv& env) {
  std::ostringstream out, err;
  Paths paths{env.vault_home(), env.key_file(), env.cache_dir()};
  broker::Context ctx{paths, out, err, fake->factory(), false};
  std::vector<std::string> args{"para-broker"};
  args.insert(args.end(), command.begin(), command.end());
  int rc = broker::run(args, ctx);
  return {rc, out.str(), err.str()};
}

TEST(LoginNetwork, TheCommandRefusesBeforeTouchingDocker) {
  test::TestEnv env;
  auto fake = std::make_shared<test::FakeDocker>();
  const std::string secret = "CANARY-test-in-argv";
  for (const std::vector<std::string>& extra : {std::vector<std::string>{"--network", "container:abc"},
                                                {"--env", "CLAUDE_CODE_OAUTH_TOKEN=" + secret},
                                                {"--env", "X=" + secret + "\x1b[2J"},
                                                {"--add-host", "evil\n:1.2.3.4"},
                                                {"--ca-file", "/nonexistent"}}) {
    std::vector<std::string> cmd{"login", "--image", "app:1"};
    cmd.insert(cmd.end(), extra.begin(), extra.end());
    auto r = run_cli(fake, cmd, env);
    EXPECT_EQ(r.rc, 2) << extra[0] << ": " << r.err;
    EXPECT_THAT(r.err, Not(HasSubstr(secret)));
  }
  EXPECT_THAT(fake->calls, IsEmpty());
}

}  // namespace
}  // namespace pb
