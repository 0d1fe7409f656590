// TLS: a second dockerd on tcp://127.0.0.1:<free port> with --tlsverify and
// certificates made here with the openssl CLI. Its own data, exec and pid
// paths and its own bridge interface, so the main daemon is not disturbed
// (note: --bridge=none would make dockerd delete the host's docker0).

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "broker/docker/connect.hpp"
#include "broker/docker/docker_client.hpp"
#include "tests/support/test_env.hpp"

namespace fs = std::filesystem;

namespace pb {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

/// CA, server (IP SAN 127.0.0.1) and client certificates in `dir`, docker CLI names.
void make_certs(const fs::path& dir, const std::string& ca_name) {
  const std::string script =
      "set -e; cd '" + dir.string() +
      "'; "
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=" +
      ca_name +
      "; "
      "openssl req -newkey rsa:2048 -nodes -keyout server-key.pem -out server.csr -subj /CN=127.0.0.1; "
      "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > server.ext; "
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server-cert.pem -days 2 "
      "-extfile server.ext; "
      "openssl req -newkey rsa:2048 -nodes -keyout key.pem -out client.csr -subj /CN=client; "
      "printf 'extendedKeyUsage=clientAuth\\n' > client.ext; "
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -days 2 "
      "-extfile client.ext";
  auto r = test::run_process({"bash", "-c", script}, {}, "", 120);
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

class DockerTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    s_dir = fs::temp_directory_path() / ("pb-tls-" + std::to_string(::getpid()));
    fs::create_directories(s_dir / "certs");
    fs::create_directories(s_dir / "wrong");
    make_certs(s_dir / "certs", "pb-test-ca");
    make_certs(s_dir / "wrong", "pb-wrong-ca");
    // Right client certificate, wrong CA: the server must not be trusted.
    fs::copy_file(s_dir / "certs" / "cert.pem", s_dir / "wrong" / "cert.pem", fs::copy_options::overwrite_existing);
    fs::copy_file(s_dir / "certs" / "key.pem", s_dir / "wrong" / "key.pem", fs::copy_options::overwrite_existing);
    std::mt19937 rng{std::random_device{}()};
    s_bridge = "pbtls" + std::to_string(rng() % 100000);
    const std::string net = "10.213." + std::to_string(rng() % 250 + 1);
    auto br = test::run_process({"bash", "-c",
                                 "ip link add " + s_bridge + " type bridge && ip addr add " + net + ".1/24 dev " +
                                     s_bridge + " && ip link set " + s_bridge + " up"});
    ASSERT_EQ(br.exit_code, 0) << br.err;
    {
      std::FILE* f = std::fopen((s_dir / "daemon.json").c_str(), "w");
      ASSERT_NE(f, nullptr);
      std::fputs("{}\n", f);
      std::fclose(f);
    }
    s_port = free_port();
    const fs::path c = s_dir / "certs";
    std::vector<std::string> args = {"dockerd",
                                     "--config-file",
                                     (s_dir / "daemon.json").string(),
                                     "-H",
                                     "tcp://127.0.0.1:" + std::to_string(s_port),
                                     "--tlsverify",
                                     "--tlscacert",
                                     (c / "ca.pem").string(),
                                     "--tlscert",
                                     (c / "server-cert.pem").string(),
                                     "--tlskey",
                                     (c / "server-key.pem").string(),
                                     "--data-root",
                                     (s_dir / "data").string(),
                                     "--exec-root",
                                     (s_dir / "exec").string(),
                                     "--pidfile",
                                     (s_dir / "docker.pid").string(),
                                     "--bridge",
                                     s_bridge,
                                     "--iptables=false",
                                     "--ip-masq=false",
                                     "--storage-driver=vfs"};
    s_pid = ::fork();
    ASSERT_GE(s_pid, 0);
    if (s_pid == 0) {
      int log = ::open((s_dir / "dockerd.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(log, 1);
      ::dup2(log, 2);
      ::setpgid(0, 0);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp("dockerd", argv.data());
      ::_exit(127);
    }
    // Ready when it answers with the right certificates.
    auto client = connect_with(c);
    auto deadline = std::chrono::steady_clock::now() + 90s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (client && client->ping().ok()) return;
      int status = 0;
      if (::waitpid(s_pid, &status, WNOHANG) == s_pid) {
        s_pid = -1;
        break;
      }
      std::this_thread::sleep_for(250ms);
    }
    auto log = test::run_process({"tail", "-20", (s_dir / "dockerd.log").string()});
    FAIL() << "the TLS dockerd did not come up on port " << s_port << ":\n" << log.out;
  }

  static void TearDownTestSuite() {
    if (s_pid > 0) {
      ::kill(s_pid, SIGTERM);
      int status = 0;
      auto deadline = std::chrono::steady_clock::now() + 30s;
      while (::waitpid(s_pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          ::kill(-s_pid, SIGKILL);
          ::waitpid(s_pid, &status, 0);
          break;
        }
        std::this_thread::sleep_for(100ms);
      }
    }
    if (!s_bridge.empty()) test::run_process({"ip", "link", "del", s_bridge});
    std::error_code ec;
    fs::remove_all(s_dir, ec);
  }

  static std::shared_ptr<broker::DockerClient> connect_with(const fs::path& certs, bool verify = true) {
    broker::docker::EngineConfig config;
    config.host = "tcp://127.0.0.1:" + std::to_string(s_port);
    config.tls = true;
    config.tls_verify = verify;
    config.cert_path = certs;
    config.request_timeout = 20s;
    auto c = broker::docker::connect(config);
    return c.ok() ? *c : nullptr;
  }

  std::string host() const { return "tcp://127.0.0.1:" + std::to_string(s_port); }

  static inline fs::path s_dir;
  static inline std::string s_bridge;
  static inline int s_port = 0;
  static inline pid_t s_pid = -1;
};

TEST_F(DockerTlsTest, RightCertificatesWork) {
  auto client = connect_with(s_dir / "certs");
  ASSERT_TRUE(client);
  auto v = client->version();
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_FALSE(v->api_version.empty());
  EXPECT_EQ(client->endpoint(), host());

  // A few calls with bodies over TLS (volumes live only in this daemon).
  broker::Labels labels{{test::k_test_label, "tls"}};
  auto vol = client->volume_create("pb-tls-volume", labels);
  ASSERT_TRUE(vol.ok()) << vol.error().message;
  auto list = client->volume_list({std::string(test::k_test_label) + "=tls"});
  ASSERT_TRUE(list.ok()) << list.error().message;
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "pb-tls-volume");
  EXPECT_TRUE(client->volume_remove("pb-tls-volume", false).ok());
  auto missing = client->image_inspect("pb-no-such-image");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::not_found);

  // The CLI, configured the docker CLI's way.
  test::TestEnv env;
  env.set_env("DOCKER_HOST", host());
  env.set_env("DOCKER_TLS_VERIFY", "1");
  env.set_env("DOCKER_CERT_PATH", (s_dir / "certs").string());
  auto r = env.cli({"doctor"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr(host() + " answers: Docker "));
}

TEST_F(DockerTlsTest, WrongCaIsRefusedWithAClearError) {
  auto client = connect_with(s_dir / "wrong");
  ASSERT_TRUE(client);
  auto v = client->version();
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().kind, ErrorKind::unreachable);
  EXPECT_THAT(v.error().message, HasSubstr("TLS handshake with Docker at " + host() + " failed"));
  EXPECT_THAT(v.error().message, HasSubstr("certificate"));
  EXPECT_THAT(v.error().message, HasSubstr("DOCKER_CERT_PATH"));

  test::TestEnv env;
  env.set_env("DOCKER_HOST", host());
  env.set_env("DOCKER_TLS_VERIFY", "1");
  env.set_env("DOCKER_CERT_PATH", (s_dir / "wrong").string());
  auto r = env.cli({"doctor"});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_THAT(r.err, HasSubstr("TLS handshake"));
}

TEST_F(DockerTlsTest, MissingClientCertificateIsRefusedByTheDaemon) {
  fs::path only_ca = s_dir / "only-ca";
  fs::create_directories(only_ca);
  fs::copy_file(s_dir / "certs" / "ca.pem", only_ca / "ca.pem", fs::copy_options::overwrite_existing);
  auto client = connect_with(only_ca);
  ASSERT_TRUE(client);
  auto v = client->version();
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().kind, ErrorKind::unreachable);
}

TEST_F(DockerTlsTest, PlainHttpToATlsPortFails) {
  broker::docker::EngineConfig config;
  config.host = host();
  config.request_timeout = 5s;
  auto c = broker::docker::connect(config);
  ASSERT_TRUE(c.ok());
  auto v = (*c)->version();
  EXPECT_FALSE(v.ok());
}

}  // namespace
}  // namespace pb
