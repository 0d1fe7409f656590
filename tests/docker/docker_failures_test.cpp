// Failure paths of the Docker client, each with its own exit code and
// sentence: no socket, a daemon answering 500, a daemon too slow, an image
// that does not exist. Plus chunked answers and configuration errors.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>

#include "broker/docker/connect.hpp"
#include "broker/docker/docker_client.hpp"
#include "tests/docker/fake_daemon.hpp"
#include "tests/support/test_env.hpp"

namespace pb {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::shared_ptr<broker::DockerClient> client_for(const std::string& host, std::chrono::milliseconds timeout) {
  broker::docker::EngineConfig config;
  config.host = host;
  config.request_timeout = timeout;
  config.connect_timeout = timeout;
  auto c = broker::docker::connect(config);
  EXPECT_TRUE(c.ok());
  return c.ok() ? *c : nullptr;
}

TEST(DockerFailures, SocketAbsentIsExit5WithAFix) {
  test::TestEnv env;
  const std::string host = "unix://" + (env.root() / "no-docker.sock").string();
  env.set_env("DOCKER_HOST", host);
  auto r = env.cli({"doctor"});
  EXPECT_EQ(r.exit_code, 5) << r.out << r.err;
  EXPECT_THAT(r.err, StartsWith("para-broker: Docker did not answer at " + host +
                                ": No such file or directory; start dockerd or set DOCKER_HOST"));
  EXPECT_THAT(r.out, HasSubstr("FIX   docker"));

  auto json = env.cli({"doctor", "--json"});
  EXPECT_EQ(json.exit_code, 5);
  EXPECT_THAT(json.out, HasSubstr("\"reachable\": false"));
  EXPECT_THAT(json.out, HasSubstr("\"schema\": 1"));

  auto client = client_for(host, std::chrono::seconds(2));
  ASSERT_TRUE(client);
  auto ping = client->ping();
  ASSERT_FALSE(ping.ok());
  EXPECT_EQ(ping.error().kind, ErrorKind::unreachable);
}

TEST(DockerFailures, ConnectionRefusedOnTcpIsUnreachable) {
  test::TestEnv env;
  env.set_env("DOCKER_HOST", "tcp://127.0.0.1:1");
  auto r = env.cli({"doctor"});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_THAT(r.err, HasSubstr("Docker did not answer at tcp://127.0.0.1:1: Connection refused"));
}

TEST(DockerFailures, Daemon500IsAnApiErrorWithTheDaemonsMessage) {
  test::TestEnv env;
  test::FakeDaemon daemon(env.root() / "d500.sock", [](const std::string&) {
    return test::http_answer(500, "Internal Server Error", R"({"message":"simulated daemon failure\n"})");
  });
  env.set_env("DOCKER_HOST", daemon.host());
  auto r = env.cli({"doctor"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.err,
              StartsWith("para-broker: Docker could not report its version (HTTP 500): simulated daemon failure"));

  auto client = client_for(daemon.host(), std::chrono::seconds(5));
  ASSERT_TRUE(client);
  auto v = client->version();
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().kind, ErrorKind::api);
}

TEST(DockerFailures, StatusCodesMapToKinds) {
  test::TestEnv env;
  // /version succeeds (chunked, in many pieces); everything else gets the status in the path.
  const std::string version =
      R"({"Version":"99.0.0","ApiVersion":"1.99","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64"})";
  test::FakeDaemon daemon(env.root() / "dcodes.sock", [&](const std::string& head) {
    if (head.rfind("GET /version ", 0) == 0) return test::http_chunked_answer(200, "OK", version, 7);
    if (head.find("/containers/c404") != std::string::npos)
      return test::http_answer(404, "Not Found", R"({"message":"No such container: c404"})");
    if (head.find("/containers/c409") != std::string::npos)
      return test::http_answer(409, "Conflict", R"({"message":"container is running"})");
    return test::http_answer(400, "Bad Request", "not json at all");
  });
  auto client = client_for(daemon.host(), std::chrono::seconds(5));
  ASSERT_TRUE(client);
  auto v = client->version();
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->server_version, "99.0.0");
  EXPECT_EQ(v->server_api_version, "1.99");
  EXPECT_EQ(v->api_version, "1.43");  // min(ours, daemon's)

  auto nf = client->container_inspect("c404");
  ASSERT_FALSE(nf.ok());
  EXPECT_EQ(nf.error().kind, ErrorKind::not_found);
  EXPECT_EQ(nf.error().message, "Docker could not inspect container 'c404': No such container: c404");
  auto conflict = client->container_remove("c409", false, false);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().kind, ErrorKind::conflict);
  auto bad = client->container_start("other");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::api);
  EXPECT_EQ(bad.error().message, "Docker could not start container 'other' (HTTP 400): not json at all");
}

TEST(DockerFailures, ApiVersionComesFromThePingHeader) {
  test::TestEnv env;
  std::atomic<int> versions{0};
  test::FakeDaemon daemon(env.root() / "dping.sock", [&](const std::string& head) {
    if (head.rfind("GET /_ping ", 0) == 0)
      return std::string("HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK");
    if (head.rfind("GET /version ", 0) == 0) ++versions;
    if (head.rfind("GET /v1.41/containers/c1/json ", 0) == 0)
      return test::http_answer(200, "OK", R"({"Id":"c1","Name":"/c1","State":{},"Config":{}})");
    return test::http_answer(400, "Bad Request", R"({"message":"unexpected request"})");
  });
  auto client = client_for(daemon.host(), std::chrono::seconds(5));
  ASSERT_TRUE(client);
  auto c = client->container_inspect("c1");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(versions.load(), 0) << "a ping is enough to choose the API version";
}

TEST(DockerFailures, ImageInspectFirstLearnsTheApiVersionWithoutAPing) {
  test::TestEnv env;
  std::atomic<int> pings{0};
  test::FakeDaemon daemon(env.root() / "dlearn.sock", [&](const std::string& head) {
    if (head.rfind("GET /_ping ", 0) == 0) ++pings;
    const std::string version = "Api-Version: 1.41\r\n";
    if (head.rfind("GET /images/busybox/json ", 0) == 0) {
      const std::string body = R"({"Id":"sha256:0123","Config":{}})";
      return "HTTP/1.1 200 OK\r\n" + version +
             "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    }
    if (head.rfind("GET /v1.41/containers/c1/json ", 0) == 0)
      return test::http_answer(200, "OK", R"({"Id":"c1","Name":"/c1","State":{},"Config":{}})");
    return test::http_answer(400, "Bad Request", R"({"message":"unexpected request"})");
  });
  auto client = client_for(daemon.host(), std::chrono::seconds(5));
  ASSERT_TRUE(client);
  auto img = client->image_inspect("busybox");
  ASSERT_TRUE(img.ok()) << img.error().message;
  EXPECT_EQ(img->id, "sha256:0123");
  auto c = client->container_inspect("c1");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(pings.load(), 0) << "the image inspect's Api-Version header chose the version";
}

TEST(DockerFailures, DaemonThatDroppedOurApiVersionSaysUpgrade) {
  test::TestEnv env;
  test::FakeDaemon daemon(env.root() / "dnew.sock", [&](const std::string& head) {
    if (head.rfind("GET /_ping ", 0) == 0)
      return std::string("HTTP/1.1 200 OK\r\nApi-Version: 1.52\r\nContent-Length: 2\r\n\r\nOK");
    return test::http_answer(400, "Bad Request",
                             R"({"message":"client version 1.43 is too old. Minimum supported API version is 1.44, )"
                             R"(please upgrade your client to a newer version"})");
  });
  auto client = client_for(daemon.host(), std::chrono::seconds(5));
  ASSERT_TRUE(client);
  auto img = client->image_inspect("busybox");
  ASSERT_FALSE(img.ok());
  EXPECT_EQ(img.error().kind, ErrorKind::api);
  EXPECT_THAT(img.error().message, HasSubstr("no longer accepts API 1.43"));
  EXPECT_THAT(img.error().message, HasSubstr("upgrade para-broker"));
}

TEST(DockerFailures, TooOldDaemonIsRefused) {
  test::TestEnv env;
  test::FakeDaemon daemon(env.root() / "dold.sock", [](const std::string&) {
    return test::http_answer(200, "OK", R"({"Version":"1.11.0","ApiVersion":"1.23"})");
  });
  auto client = client_for(daemon.host(), std::chrono::seconds(5));
  ASSERT_TRUE(client);
  auto v = client->version();
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().kind, ErrorKind::api);
  EXPECT_THAT(v.error().message, HasSubstr("speaks API 1.23, older than the 1.25 para-broker needs"));
}

TEST(DockerFailures, SlowDaemonTimesOutWithExit5) {
  test::TestEnv env;
  test::FakeDaemon daemon(env.root() / "dslow.sock", [](const std::string&) { return std::string(); });
  env.set_env("DOCKER_HOST", daemon.host());
  env.set_env("PARA_BROKER_DOCKER_TIMEOUT", "1");
  auto t0 = std::chrono::steady_clock::now();
  auto r = env.cli({"doctor"}, "", 60);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.exit_code, 5) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("did not answer within 1s"));
  EXPECT_THAT(r.err, HasSubstr("PARA_BROKER_DOCKER_TIMEOUT"));
  EXPECT_LT(elapsed, std::chrono::seconds(10));
  EXPECT_GE(daemon.requests(), 1);

  env.set_env("PARA_BROKER_DOCKER_TIMEOUT", "soon");
  auto bad = env.cli({"doctor"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("PARA_BROKER_DOCKER_TIMEOUT must be a number of seconds"));
}

TEST(DockerFailures, UnsupportedDockerHostIsAUsageError) {
  test::TestEnv env;
  // (ssh:// is supported: tests/docker/docker_ssh_test.cpp.) A Windows named
  // pipe is not, and a user and password in an endpoint never reach a message.
  env.set_env("DOCKER_HOST", "npipe:////./pipe/docker_engine");
  auto r = env.cli({"doctor"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("the Docker endpoint 'npipe:////./pipe/docker_engine' (DOCKER_HOST) is not supported"));
  env.set_env("DOCKER_HOST", "fd://user:hunter2@host");
  r = env.cli({"doctor"});
  EXPECT_THAT(r.err, HasSubstr("the Docker endpoint 'fd://***@host' (DOCKER_HOST) is not supported"));
  EXPECT_THAT(r.err, Not(HasSubstr("hunter2")));
}

// The endpoint as the docker CLI chooses it: a context made with the docker
// CLI itself, current in the config file, reaches the real daemon.
TEST(DockerContexts, TheCurrentContextReachesTheDaemonAndAMissingOneIsExit5) {
  PB_REQUIRE_DOCKER();
  test::TestEnv env;
  const std::string config = (env.root() / "docker-config").string();
  const std::string name = env.unique("pbctx");
  auto created = test::run_process(
      {"docker", "--config", config, "context", "create", name, "--docker", "host=unix:///var/run/docker.sock"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  auto used = test::run_process({"docker", "--config", config, "context", "use", name});
  ASSERT_EQ(used.exit_code, 0) << used.err;
  env.set_env("DOCKER_HOST", "");  // unset for para-broker: the context decides
  env.set_env("DOCKER_CONFIG", config);
  auto r = env.cli({"doctor"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("endpoint chosen by context '" + name + "' (currentContext of "));

  env.set_env("DOCKER_CONTEXT", "no-such-context");
  auto missing = env.cli({"probe", "busybox"});
  EXPECT_EQ(missing.exit_code, 5) << missing.err;
  EXPECT_THAT(missing.err, HasSubstr("Docker context 'no-such-context' (DOCKER_CONTEXT) does not exist"));
}

TEST(DockerFailures, ImageNotFoundIsExit3) {
  PB_REQUIRE_DOCKER();
  test::TestEnv env;
  const std::string image = "pb-no-such-image:" + env.unique("missing");
  auto r = env.cli({"probe", image});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("'" + image + "' not found"));
}

}  // namespace
}  // namespace pb
