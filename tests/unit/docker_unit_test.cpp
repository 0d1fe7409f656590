// broker/docker without a daemon: configuration from the environment, contexts,
// ssh endpoints, doctor against the recording fake (the wire formats are
// engine_wire_test.cpp's, the client over a scripted connection engine_client_test.cpp's).

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "broker/commands/command.hpp"
#include "broker/commands/run.hpp"
#include "broker/docker/connect.hpp"
#include "core/paths.hpp"
#include "tests/support/fake_docker.hpp"
#include "tests/support/test_env.hpp"
#include "vault/crypto.hpp"

namespace pb {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

/// Sets environment variables for one test and puts the old values back.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (auto [k, v] : vars) {
      const char* old = ::getenv(k);
      m_saved.emplace_back(k, old ? std::optional<std::string>(old) : std::nullopt);
      if (v != nullptr)
        ::setenv(k, v, 1);
      else
        ::unsetenv(k);
    }
  }
  ~ScopedEnv() {
    for (auto& [k, v] : m_saved) {
      if (v)
        ::setenv(k.c_str(), v->c_str(), 1);
      else
        ::unsetenv(k.c_str());
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> m_saved;
};

TEST(DockerConfig, DefaultsToTheUnixSocket) {
  ScopedEnv env{{"DOCKER_HOST", nullptr}, {"DOCKER_TLS_VERIFY", nullptr},          {"DOCKER_CERT_PATH", nullptr},
                {"DOCKER_TLS", nullptr},  {"PARA_BROKER_DOCKER_TIMEOUT", nullptr}, {"HOME", "/home/u"}};
  auto c = broker::docker::config_from_environment();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "unix:///var/run/docker.sock");
  EXPECT_FALSE(c->tls);
  EXPECT_EQ(c->cert_path, "/home/u/.docker");
  EXPECT_EQ(c->request_timeout, std::chrono::seconds(60));
}

TEST(DockerConfig, FollowsTheDockerCliConventions) {
  {
    ScopedEnv env{{"DOCKER_HOST", "tcp://10.0.0.1:2376"},
                  {"DOCKER_TLS_VERIFY", "1"},
                  {"DOCKER_CERT_PATH", "/certs"},
                  {"PARA_BROKER_DOCKER_TIMEOUT", "2.5"}};
    auto c = broker::docker::config_from_environment();
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->host, "tcp://10.0.0.1:2376");
    EXPECT_TRUE(c->tls);
    EXPECT_TRUE(c->tls_verify);
    EXPECT_EQ(c->cert_path, "/certs");
    EXPECT_EQ(c->request_timeout, std::chrono::milliseconds(2500));
    EXPECT_EQ(c->connect_timeout, std::chrono::milliseconds(2500));
  }
  {
    // A certificate directory alone means TLS without verifying the daemon (docker CLI behaviour).
    ScopedEnv env{{"DOCKER_HOST", "tcp://h:1"}, {"DOCKER_TLS_VERIFY", nullptr}, {"DOCKER_CERT_PATH", "/certs"}};
    auto c = broker::docker::config_from_environment();
    ASSERT_TRUE(c.ok());
    EXPECT_TRUE(c->tls);
    EXPECT_FALSE(c->tls_verify);
  }
  {
    ScopedEnv env{{"PARA_BROKER_DOCKER_TIMEOUT", "-3"}};
    auto c = broker::docker::config_from_environment();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().kind, ErrorKind::usage);
  }
}

/// A docker CLI context store under a test's own DOCKER_CONFIG, as `docker context create` writes it.
class ContextStore {
 public:
  ContextStore() : m_dir(m_env.root() / "docker-config") { std::filesystem::create_directories(m_dir); }
  const std::filesystem::path& dir() const { return m_dir; }
  /// Adds context `name` whose Docker endpoint is `host`; with TLS material when `tls`.
  void add(const std::string& name, const std::string& host, bool tls = false, bool skip_verify = false) {
    const std::string id = vault::to_hex(vault::sha256(as_bytes(name)));
    const auto meta = m_dir / "contexts" / "meta" / id;
    std::filesystem::create_directories(meta);
    std::ofstream(meta / "meta.json") << nlohmann::json{
        {"Name", name},
        {"Metadata", nlohmann::json::object()},
        {"Endpoints", {{"docker", {{"Host", host}, {"SkipTLSVerify", skip_verify}}}}}};
    if (tls) {
      const auto t = m_dir / "contexts" / "tls" / id / "docker";
      std::filesystem::create_directories(t);
      for (const char* f : {"ca.pem", "cert.pem", "key.pem"}) std::ofstream(t / f) << "not a real certificate\n";
    }
  }
  void use(const std::string& name) {
    std::ofstream(m_dir / "config.json") << R"({"currentContext":")" + name + R"("})";
  }

 private:
  test::TestEnv m_env;
  std::filesystem::path m_dir;
};

TEST(DockerContext, TheCurrentContextOfTheConfigFileIsUsedWhenNothingElseSaysSo) {
  ContextStore store;
  store.add("colima", "unix:///home/u/.colima/default/docker.sock");
  store.use("colima");
  ScopedEnv env{{"DOCKER_HOST", nullptr}, {"DOCKER_CONTEXT", nullptr}, {"DOCKER_CONFIG", store.dir().c_str()}};
  auto c = broker::docker::config_from_environment();
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->host, "unix:///home/u/.colima/default/docker.sock");
  EXPECT_THAT(c->origin, HasSubstr("context 'colima' (currentContext of "));
  EXPECT_FALSE(c->tls);
}

TEST(DockerContext, DockerContextBeatsTheConfigFileAndDockerHostBeatsBoth) {
  ContextStore store;
  store.add("colima", "unix:///colima.sock");
  store.add("remote", "tcp://127.0.0.1:2376", true);
  store.use("colima");
  {
    ScopedEnv env{{"DOCKER_HOST", nullptr}, {"DOCKER_CONTEXT", "remote"}, {"DOCKER_CONFIG", store.dir().c_str()}};
    auto c = broker::docker::config_from_environment();
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->host, "tcp://127.0.0.1:2376");
    EXPECT_EQ(c->origin, "context 'remote' (DOCKER_CONTEXT)");
    EXPECT_TRUE(c->tls) << "the context has TLS material";
    EXPECT_TRUE(c->tls_verify);
    EXPECT_EQ(c->cert_path.filename(), "docker");
    EXPECT_TRUE(std::filesystem::exists(c->cert_path / "ca.pem"));
    EXPECT_FALSE(c->insecure_reason());
  }
  {
    ScopedEnv env{
        {"DOCKER_HOST", "unix:///from-env.sock"}, {"DOCKER_CONTEXT", "remote"}, {"DOCKER_CONFIG", store.dir().c_str()}};
    auto c = broker::docker::config_from_environment();
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->host, "unix:///from-env.sock");
    EXPECT_EQ(c->origin, "DOCKER_HOST");
  }
  {
    ScopedEnv env{{"DOCKER_HOST", nullptr}, {"DOCKER_CONTEXT", "default"}, {"DOCKER_CONFIG", store.dir().c_str()}};
    auto c = broker::docker::config_from_environment();
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->host, "unix:///var/run/docker.sock") << "'default' is the default socket";
  }
}

TEST(DockerContext, ATlsContextThatSkipsVerificationCarriesNoLogin) {
  ContextStore store;
  store.add("loose", "tcp://127.0.0.1:2376", true, true);
  ScopedEnv env{{"DOCKER_HOST", nullptr}, {"DOCKER_CONTEXT", "loose"}, {"DOCKER_CONFIG", store.dir().c_str()}};
  auto c = broker::docker::config_from_environment();
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->tls);
  EXPECT_FALSE(c->tls_verify);
  EXPECT_THAT(c->insecure_reason().value_or(""), HasSubstr("does not verify"));
}

TEST(DockerContext, AnUnknownContextIsExit5WithItsName) {
  ContextStore store;
  store.use("gone");
  ScopedEnv env{{"DOCKER_HOST", nullptr}, {"DOCKER_CONTEXT", nullptr}, {"DOCKER_CONFIG", store.dir().c_str()}};
  auto c = broker::docker::config_from_environment();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, ErrorKind::unreachable);
  EXPECT_EQ(exit_code(c.error().kind), 5);
  EXPECT_THAT(c.error().message, HasSubstr("Docker context 'gone'"));
  ScopedEnv named{{"DOCKER_CONTEXT", "also-gone"}};
  auto d = broker::docker::config_from_environment();
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.error().message, HasSubstr("'also-gone' (DOCKER_CONTEXT) does not exist"));
}

TEST(DockerConfig, ConnectValidatesTheHost) {
  broker::docker::EngineConfig c;
  c.host = "unix://";
  EXPECT_FALSE(broker::docker::connect(c).ok());
  c.host = "npipe:////./pipe/docker_engine";
  auto r = broker::docker::connect(c);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("is not supported"));
  c.host = "tcp://127.0.0.1:2375/";
  auto ok = broker::docker::connect(c);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)->endpoint(), "tcp://127.0.0.1:2375");
  c.host = "unix:///run/x.sock";
  EXPECT_EQ((*broker::docker::connect(c))->endpoint(), "unix:///run/x.sock");
}

struct Captured {
  int rc;
  std::string out, err;
};

Captured run_doctor(const std::shared_ptr<test::FakeDocker>& fake, std::vector<std::string> extra = {}) {
  test::TestEnv env;
  std::ostringstream out, err;
  Paths paths{env.vault_home(), env.key_file(), env.cache_dir()};
  broker::Context ctx{paths, out, err, fake->factory(), false};
  std::vector<std::string> args{"para-broker", "doctor"};
  args.insert(args.end(), extra.begin(), extra.end());
  int rc = broker::run(args, ctx);
  return {rc, out.str(), err.str()};
}

TEST(DoctorWithFake, ReportsEndpointAndVersions) {
  auto fake = std::make_shared<test::FakeDocker>();
  auto r = run_doctor(fake);
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("ok    docker: unix:///fake/docker.sock answers: Docker 24.0.7, API 1.43"));
  EXPECT_THAT(fake->calls, ElementsAre("version"));

  auto j = run_doctor(fake, {"--json"});
  EXPECT_THAT(j.out, HasSubstr("\"api_version\": \"1.43\""));
  EXPECT_THAT(j.out, HasSubstr("\"endpoint\": \"unix:///fake/docker.sock\""));
}

TEST(DoctorWithFake, UnreachableIsExit5WithTheSentence) {
  auto fake = std::make_shared<test::FakeDocker>();
  fake->failures["version"] = fail(ErrorKind::unreachable,
                                   "Docker did not answer at unix:///fake/docker.sock: No such file or directory; "
                                   "start dockerd or set DOCKER_HOST");
  auto r = run_doctor(fake);
  EXPECT_EQ(r.rc, 5);
  EXPECT_THAT(r.out, HasSubstr("FIX   docker: Docker did not answer"));
  EXPECT_EQ(r.err,
            "para-broker: Docker did not answer at unix:///fake/docker.sock: No such file or directory; "
            "start dockerd or set DOCKER_HOST\n");

  fake->failures["version"] = fail(ErrorKind::timeout, "Docker at unix:///fake/docker.sock did not answer within 1s");
  EXPECT_EQ(run_doctor(fake).rc, 5);
}

TEST(DockerTransport, PlainTcpAndUnverifiedTlsCarryNoLogin) {
  broker::docker::EngineConfig c;
  c.host = "unix:///var/run/docker.sock";
  EXPECT_FALSE(c.insecure_reason());
  c.tls = true;  // ignored on a unix socket, as the docker CLI does
  EXPECT_FALSE(c.insecure_reason());
  c = {};
  c.host = "tcp://127.0.0.1:2375";
  EXPECT_THAT(c.insecure_reason().value_or(""), HasSubstr("plain tcp://"));
  c.tls = true;
  EXPECT_THAT(c.insecure_reason().value_or(""), HasSubstr("does not verify"));
  c.tls_verify = true;
  EXPECT_FALSE(c.insecure_reason());
}

TEST(DockerSsh, UrlsAreReadAsTheDockerCliReadsThem) {
  using broker::docker::parse_ssh_url;
  auto t = parse_ssh_url("ssh://root@example.com:2222/run/user/1000/docker.sock", "DOCKER_HOST");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->user, "root");
  EXPECT_EQ(t->host, "example.com");
  EXPECT_EQ(t->port, "2222");
  EXPECT_EQ(t->path, "/run/user/1000/docker.sock");
  t = parse_ssh_url("ssh://build-box", "DOCKER_HOST");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->user, "");
  EXPECT_EQ(t->host, "build-box");
  EXPECT_EQ(t->port, "");
  EXPECT_EQ(t->path, "");
  t = parse_ssh_url("ssh://me@[::1]:22/", "DOCKER_HOST");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->host, "::1");
  EXPECT_EQ(t->port, "22");
  EXPECT_EQ(t->path, "") << "a lone / names no socket";
}

TEST(DockerSsh, TheSchemeIsReadInAnyCaseAsGoReadsIt) {
  broker::docker::EngineConfig c;
  c.origin = "DOCKER_HOST";
  for (const char* host : {"SSH://root@example.com:2222", "Ssh://root@example.com:2222"}) {
    c.host = host;
    auto client = broker::docker::connect(c);
    ASSERT_TRUE(client.ok()) << host << ": " << client.error().message;
    EXPECT_EQ((*client)->endpoint(), "ssh://root@example.com:2222");
  }
  c.host = "SSHX://example.com";
  EXPECT_FALSE(broker::docker::connect(c).ok());
}

TEST(DockerSsh, UrlsSshCouldMisreadAreUsageErrorsNamingWhereTheyCameFrom) {
  using broker::docker::parse_ssh_url;
  for (const char* url :
       {"ssh://", "ssh://user:secret@host", "ssh://host?x=1", "ssh://host#frag", "ssh://-oProxyCommand=sh@host",
        "ssh://user@-oProxyCommand=sh", "ssh://host:port", "ssh://host:0", "ssh://host:70000",
        "ssh://host/run/docker.sock;reboot", "ssh://host/$(id)", "ssh://ho st", "ssh://[::1"}) {
    auto t = parse_ssh_url(url, "context 'remote' (DOCKER_CONTEXT)");
    ASSERT_FALSE(t.ok()) << url;
    EXPECT_EQ(t.error().kind, ErrorKind::usage) << url;
    EXPECT_THAT(t.error().message, HasSubstr("context 'remote' (DOCKER_CONTEXT)")) << url;
  }
  EXPECT_THAT(parse_ssh_url("ssh://user:secret@host", "DOCKER_HOST").error().message, HasSubstr("password"));
}

TEST(DockerSsh, TheCommandIsTheDockerClisInBatchModeWithMultiplexingAsAsked) {
  using broker::docker::ssh_arguments;
  broker::docker::SshTarget t{"root", "example.com", "2222", "/run/docker.sock"};
  EXPECT_THAT(ssh_arguments(t),
              ElementsAre("-o", "ConnectTimeout=30", "-T", "-o", "BatchMode=yes", "-o", "ServerAliveInterval=15", "-o",
                          "ServerAliveCountMax=2", "-l", "root", "-p", "2222", "--", "example.com", "docker",
                          "--host=unix:///run/docker.sock", "system", "dial-stdio"));
  EXPECT_THAT(ssh_arguments({"", "h", "", ""}, "/c/ssh"),
              ElementsAre("-o", "ConnectTimeout=30", "-T", "-o", "BatchMode=yes", "-o", "ServerAliveInterval=15", "-o",
                          "ServerAliveCountMax=2", "-o", "ControlMaster=auto", "-o", "ControlPath=/c/ssh/%C", "-o",
                          "ControlPersist=60", "--", "h", "docker", "system", "dial-stdio"));
}

TEST(DockerSsh, MessagesNeverPrintTheUserAndPasswordOfAnEndpoint) {
  using broker::docker::redact_endpoint;
  EXPECT_EQ(redact_endpoint("ssh://user:hunter2@host:22/sock"), "ssh://***@host:22/sock");
  EXPECT_EQ(redact_endpoint("tcp://a:b@host:2376"), "tcp://***@host:2376");
  EXPECT_EQ(redact_endpoint("ssh://host/p@th"), "ssh://host/p@th");
  EXPECT_EQ(redact_endpoint("unix:///var/run/docker.sock"), "unix:///var/run/docker.sock");
  auto t = broker::docker::parse_ssh_url("ssh://user:hunter2@host", "DOCKER_HOST");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.error().message, Not(HasSubstr("hunter2")));
  EXPECT_TRUE(broker::docker::parse_ssh_url("ssh://@host", "DOCKER_HOST").ok()) << "an empty user is ssh's choice";
}

TEST(DockerSsh, SshCarriesLoginsAndMultiplexingFollowsTheCacheAndItsSwitch) {
  broker::docker::EngineConfig c;
  c.host = "ssh://root@example.com";
  EXPECT_FALSE(c.insecure_reason()) << "ssh encrypts and checks the host key";
  test::TestEnv env;
  const std::optional<std::string> before = env_var("PARA_BROKER_CACHE");
  ::setenv("PARA_BROKER_CACHE", env.cache_dir().c_str(), 1);
  EXPECT_EQ(broker::docker::ssh_control_dir(), env.cache_dir() / "ssh");
  EXPECT_EQ(std::filesystem::status(env.cache_dir() / "ssh").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_all);
  ::setenv("PARA_BROKER_SSH_MULTIPLEX", "0", 1);
  EXPECT_EQ(broker::docker::ssh_control_dir(), std::filesystem::path());
  ::unsetenv("PARA_BROKER_SSH_MULTIPLEX");
  ::setenv("PARA_BROKER_CACHE", (env.root() / std::string(80, 'x')).c_str(), 1);
  EXPECT_EQ(broker::docker::ssh_control_dir(), std::filesystem::path()) << "too long for a socket name";
  ::setenv("PARA_BROKER_CACHE", (env.root() / "with blank").c_str(), 1);
  EXPECT_EQ(broker::docker::ssh_control_dir(), std::filesystem::path()) << "ssh would split ControlPath";
  ::setenv("PARA_BROKER_CACHE", (env.root() / "p%hx").c_str(), 1);
  EXPECT_EQ(broker::docker::ssh_control_dir(), std::filesystem::path()) << "ssh would expand %h";
  // A cache under a directory others may write: a socket planted there
  // would receive every API call, so no multiplexing.
  const auto open_dir = env.root() / "open";
  std::filesystem::create_directories(open_dir);
  std::filesystem::permissions(open_dir, std::filesystem::perms::all);
  ::setenv("PARA_BROKER_CACHE", (open_dir / "cache").c_str(), 1);
  EXPECT_EQ(broker::docker::ssh_control_dir(), std::filesystem::path());
  if (before)
    ::setenv("PARA_BROKER_CACHE", before->c_str(), 1);
  else
    ::unsetenv("PARA_BROKER_CACHE");
}

Captured run_cli(const std::shared_ptr<test::FakeDocker>& fake, const std::vector<std::string>& command,
                 const test::TestEnv& env = test::TestEnv()) {
  std::ostringstream out, err;
  Paths paths{env.vault_home(), env.key_file(), env.cache_dir()};
  broker::Context ctx{paths, out, err, fake->factory(), false};
  std::vector<std::string> args{"para-broker"};
  args.insert(args.end(), command.begin(), command.end());
  int rc = broker::run(args, ctx);
  return {rc, out.str(), err.str()};
}

TEST(DockerTransport, CommandsThatMoveALoginRefuseAnInsecureEndpoint) {
  ScopedEnv env{{"PARA_BROKER_ALLOW_INSECURE_DOCKER", nullptr}};
  auto fake = std::make_shared<test::FakeDocker>();
  fake->endpoint_value = "tcp://127.0.0.1:2375";
  fake->insecure_value = "plain tcp:// without TLS";
  const std::vector<std::vector<std::string>> moving = {
      {"mount", "--image", "app:1", "--session", "s1"},
      {"release", "--session", "s1"},
      {"sync"},
      {"gc"},
      {"import", "--from-container", "c1"},
      {"import", "--from-image", "app:1"},
      {"audit", "--images"},
  };
  test::TestEnv home;  // with a vault: mount says "no credentials stored" first on a fresh machine
  ASSERT_EQ(run_cli(fake, {"vault", "init"}, home).rc, 0);
  for (const auto& c : moving) {
    auto r = run_cli(fake, c, home);
    EXPECT_EQ(r.rc, 7) << c[0] << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("PARA_BROKER_ALLOW_INSECURE_DOCKER=1")) << c[0];
    EXPECT_THAT(r.err, HasSubstr("plain tcp://")) << c[0];
  }
  EXPECT_TRUE(fake->calls_starting("archive").empty()) << "nothing was read or written";
  EXPECT_TRUE(fake->calls_starting("volume_create").empty());
  // What moves no login still works: a probe, a release that writes nothing back.
  EXPECT_NE(run_cli(fake, {"probe", "app:1"}).rc, 7);
  EXPECT_NE(run_cli(fake, {"release", "--session", "s1", "--no-sync"}).rc, 7);
  auto doctor = run_doctor(fake);
  EXPECT_EQ(doctor.rc, 7) << doctor.out;
  EXPECT_THAT(doctor.out, HasSubstr("FIX   transport:"));

  ScopedEnv allowed{{"PARA_BROKER_ALLOW_INSECURE_DOCKER", "1"}};
  EXPECT_NE(run_cli(fake, {"mount", "--image", "app:1", "--session", "s1"}, home).rc, 7) << "the named override";
  auto warned = run_doctor(fake);
  EXPECT_EQ(warned.rc, 0) << warned.out;
  EXPECT_THAT(warned.out, HasSubstr("warning: logins travel over plain tcp://"));
}

TEST(FakeDocker, RecordsCallsAndKeepsState) {
  auto fake = std::make_shared<test::FakeDocker>();
  fake->images["app:1"].id = "sha256:abc";
  broker::ContainerSpec spec;
  spec.image = "app:1";
  spec.cmd = {"sleep", "1"};
  spec.labels = {{"k", "v"}};
  spec.mounts = {{broker::MountSpec::Type::volume, "vol", "/data", true, false, {}}};
  auto id = fake->container_create(spec);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(fake->container_start(*id).ok());
  fake->on_exec = [](const std::string&, const broker::ExecSpec& e, const broker::ExecOptions& o) {
    return broker::ExecResult{0, e.cmd[0] + ":" + o.input, "", false};
  };
  broker::ExecSpec e;
  e.cmd = {"cat"};
  broker::ExecOptions o;
  o.input = "in";
  auto r = fake->exec_run(*id, e, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "cat:in");

  auto w = fake->archive_put(*id, "/data");
  ASSERT_TRUE(w.ok());
  std::string tar = "tarbytes";
  ASSERT_TRUE((*w)->write(std::as_bytes(std::span(tar))).ok());
  ASSERT_TRUE((*w)->finish().ok());
  EXPECT_EQ(fake->containers[*id].uploads.at(0).second, "tarbytes");

  auto listed = fake->container_list({"k=v"});
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 1u);
  EXPECT_TRUE(fake->container_list({"k=other"})->empty());

  fake->failures["container_remove"] = fail(ErrorKind::conflict, "busy");
  auto rm = fake->container_remove(*id, true, true);
  ASSERT_FALSE(rm.ok());
  EXPECT_EQ(rm.error().kind, ErrorKind::conflict);

  EXPECT_THAT(fake->calls_starting("container_create"),
              ElementsAre("container_create app:1 cmd=sleep,1 network= user= tty=0 mount=vol:/data:ro"));
  EXPECT_EQ(fake->calls.back(), "container_remove " + *id + " force volumes");
  auto missing = fake->image_inspect("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
}

}  // namespace
}  // namespace pb
