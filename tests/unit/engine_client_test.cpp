// The Engine-API client (broker/docker/engine_internal.hpp) over scripted
// connections and a fake clock: the requests it sends, in order, and what it
// makes of the answers, with no daemon and no waiting.

#include "broker/docker/engine_client.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/stream_frame.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pb {
namespace {

namespace docker = broker::docker;
using docker::HttpRequest;
using docker::HttpResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

/// What one connection answers: the response (whole, or its head with the
/// body read after it), the raw stream after an upgrade, and failures.
struct Reply {
  HttpResponse response;
  std::string raw;                    ///< read by raw_read() after an upgrade
  std::optional<Error> open_error;    ///< the connection cannot be opened
  std::optional<Error> answer_error;  ///< round_trip() / finish_chunked() fail
  std::optional<Error> write_error;   ///< write_chunk() fails
  std::optional<Error> raw_error;     ///< raw_read() fails once raw is read
};

Reply answer(unsigned status, std::string body, std::map<std::string, std::string> headers = {}) {
  Reply r;
  r.response.status = status;
  r.response.body = std::move(body);
  r.response.headers = std::move(headers);
  return r;
}

/// The replies in order, one per connection the client opens, and what the client sent.
struct Script {
  std::deque<Reply> replies;
  std::vector<std::string> requests;  ///< "METHOD target"
  std::vector<HttpRequest> sent;
  std::vector<std::string> operations;  ///< what each connection was opened for
  std::vector<std::chrono::milliseconds> request_timeouts;
  std::string uploaded;
  std::string stdin_bytes;
  bool stdin_closed = false;
  std::vector<std::chrono::milliseconds> read_timeouts;
};

class ScriptedChannel final : public docker::HttpChannel {
 public:
  ScriptedChannel(std::shared_ptr<Script> script, Reply reply)
      : m_script(std::move(script)), m_reply(std::move(reply)) {}

  Result<HttpResponse> round_trip(const HttpRequest& request, std::size_t) override {
    record(request);
    if (m_reply.answer_error) return *m_reply.answer_error;
    return m_reply.response;
  }
  Result<HttpResponse> send_and_read_head(const HttpRequest& request) override {
    record(request);
    HttpResponse head = m_reply.response;
    m_body = std::move(head.body);
    head.body.clear();
    return head;
  }
  Result<std::size_t> read_body(std::span<std::byte> out) override { return serve(m_body, out, 7); }
  Status send_chunked_head(const HttpRequest& request) override {
    record(request);
    return {};
  }
  Status write_chunk(std::span<const std::byte> bytes) override {
    if (m_reply.write_error) return *m_reply.write_error;
    m_script->uploaded.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return {};
  }
  Result<HttpResponse> finish_chunked(std::size_t) override {
    if (m_reply.answer_error) return *m_reply.answer_error;
    return m_reply.response;
  }
  Result<HttpResponse> read_early_response(std::size_t) override { return m_reply.response; }
  Result<std::size_t> raw_read(std::span<std::byte> out, std::chrono::milliseconds timeout) override {
    m_script->read_timeouts.push_back(timeout);
    if (m_reply.raw.empty() && m_reply.raw_error) return *m_reply.raw_error;
    return serve(m_reply.raw, out, 5);
  }
  Status raw_write(std::span<const std::byte> bytes) override {
    m_script->stdin_bytes.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return {};
  }
  Status raw_close_write() override {
    m_script->stdin_closed = true;
    return {};
  }
  Status relay_terminal(int, int, const std::function<void()>&) override { return {}; }

 private:
  void record(const HttpRequest& request) {
    m_script->requests.push_back(request.method + " " + request.target);
    m_script->sent.push_back(request);
  }
  /// Hands out `from` a few bytes at a time: the client must not assume one read is all.
  static std::size_t serve(std::string& from, std::span<std::byte> out, std::size_t piece) {
    const std::size_t n = std::min({from.size(), out.size(), piece});
    std::memcpy(out.data(), from.data(), n);
    from.erase(0, n);
    return n;
  }

  std::shared_ptr<Script> m_script;
  Reply m_reply;
  std::string m_body;
};

/// A clock that moves only when asked: each now() advances it by `step`, each sleep by the pause.
struct FakeClock {
  std::chrono::steady_clock::time_point time{};
  std::chrono::milliseconds step{0};
  std::vector<std::chrono::milliseconds> sleeps;
};

struct Client {
  std::shared_ptr<Script> script = std::make_shared<Script>();
  std::shared_ptr<FakeClock> clock = std::make_shared<FakeClock>();
  std::shared_ptr<broker::DockerClient> docker;

  Client() {
    docker::EngineConfig config;
    config.host = "unix:///fake.sock";
    auto open = [s = script](const docker::EngineConfig& c,
                             const std::string& what) -> Result<std::unique_ptr<docker::HttpChannel>> {
      s->operations.push_back(what);
      s->request_timeouts.push_back(c.request_timeout);
      if (s->replies.empty()) return fail(ErrorKind::failure, "the script has no reply for " + what);
      Reply reply = std::move(s->replies.front());
      s->replies.pop_front();
      if (reply.open_error) return *reply.open_error;
      return std::unique_ptr<docker::HttpChannel>(std::make_unique<ScriptedChannel>(s, std::move(reply)));
    };
    docker::EngineClock engine_clock{[c = clock] { return c->time += c->step; },
                                     [c = clock](std::chrono::milliseconds pause) {
                                       c->sleeps.push_back(pause);
                                       c->time += pause;
                                     }};
    docker = docker::make_engine_client(config, open, engine_clock);
  }
  /// Scripts `reply` as the next connection's.
  Client& then(Reply reply) {
    script->replies.push_back(std::move(reply));
    return *this;
  }
  /// The answer to GET /_ping that settles on API 1.43.
  Client& negotiated() { return then(answer(200, "OK", {{"api-version", "1.43"}})); }
};

using test::stream_frame;

// ------------------------------------------------------------ API version

TEST(EngineClient, TheVersionIsNegotiatedOnceFromThePingAndPrefixesEveryCall) {
  Client c;
  c.then(answer(200, "OK", {{"api-version", "1.41"}})).then(answer(200, "[]")).then(answer(200, R"({"Volumes":[]})"));
  ASSERT_TRUE(c.docker->image_list({}).ok());
  ASSERT_TRUE(c.docker->volume_list({"k=v"}, "").ok());
  EXPECT_THAT(c.script->requests, ElementsAre("GET /_ping", "GET /v1.41/images/json",
                                              "GET /v1.41/volumes?" + docker::detail::filters_query({"k=v"})));
  EXPECT_THAT(c.script->operations, ElementsAre("answer a ping", "list images", "list volumes"));
}

TEST(EngineClient, APingWithoutAVersionAsksForTheVersionAndTakesTheNewestBothSpeak) {
  Client c;
  c.then(answer(200, "OK")).then(answer(200, R"({"ApiVersion":"1.45","MinAPIVersion":"1.24"})")).then(answer(204, ""));
  ASSERT_TRUE(c.docker->container_kill("c1", "SIGTERM").ok());
  EXPECT_THAT(c.script->requests,
              ElementsAre("GET /_ping", "GET /version", "POST /v1.43/containers/c1/kill?signal=SIGTERM"));
}

TEST(EngineClient, AnImageInspectionBeforeNegotiationIsUnversionedAndTeachesTheVersion) {
  Client c;
  c.then(answer(200, R"({"Id":"sha256:1"})", {{"api-version", "1.42"}})).then(answer(200, R"({"Id":"c1"})"));
  auto image = c.docker->image_inspect("busybox:1");
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->id, "sha256:1");
  ASSERT_TRUE(c.docker->container_inspect("c1").ok());
  EXPECT_THAT(c.script->requests, ElementsAre("GET /images/busybox:1/json", "GET /v1.42/containers/c1/json"));
}

TEST(EngineClient, AVersionFromTheDaemonIsCheckedAgainstItsOldest) {
  Client c;
  c.then(answer(200, R"({"Version":"27.0","ApiVersion":"1.46","MinAPIVersion":"1.44"})"));
  auto v = c.docker->version();
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().kind, ErrorKind::api);
  EXPECT_EQ(v.error().message,
            "Docker at unix:///fake.sock no longer accepts API 1.43 (oldest 1.44); upgrade para-broker");
}

// ------------------------------------------------------------ requests and errors

TEST(EngineClient, AContainerIsCreatedWithItsSpecAsTheBody) {
  Client c;
  broker::ContainerSpec spec;
  spec.image = "busybox";
  spec.name = "pb-1";
  spec.cmd = {"true"};
  c.negotiated().then(answer(201, R"({"Id":"abc","Warnings":[]})"));
  auto id = c.docker->container_create(spec);
  ASSERT_TRUE(id.ok()) << id.error().message;
  EXPECT_EQ(*id, "abc");
  ASSERT_EQ(c.script->sent.size(), 2u);
  EXPECT_EQ(c.script->requests[1], "POST /v1.43/containers/create?name=pb-1");
  EXPECT_EQ(c.script->sent[1].body, docker::detail::container_create_body(spec));
  EXPECT_EQ(c.script->sent[1].content_type, "application/json");
  EXPECT_FALSE(c.script->sent[1].upgrade);
  EXPECT_EQ(c.script->sent[0].content_type, "");  // no body, no type
}

TEST(EngineClient, ErrorStatusesBecomeTheirKindsWithTheDaemonsMessage) {
  Client c;
  c.negotiated()
      .then(answer(404, R"({"message":"No such container: c1"})"))
      .then(answer(409, R"({"message":"removal of container c1 is already in progress"})"))
      .then(answer(500, "plain text\n"))
      .then(answer(400, R"({"message":"client version 1.43 is too old. Minimum supported API version is 1.44"})"));
  auto inspect = c.docker->container_inspect("c1");
  ASSERT_FALSE(inspect.ok());
  EXPECT_EQ(inspect.error().kind, ErrorKind::not_found);
  EXPECT_EQ(inspect.error().message, "Docker could not inspect container 'c1': No such container: c1");
  Status remove = c.docker->container_remove("c1", true, true);
  ASSERT_FALSE(remove.ok());
  EXPECT_EQ(remove.error().kind, ErrorKind::conflict);
  EXPECT_THAT(remove.error().message, HasSubstr("could not remove container 'c1': removal of container c1"));
  Status start = c.docker->container_start("c1");
  ASSERT_FALSE(start.ok());
  EXPECT_EQ(start.error().kind, ErrorKind::api);
  EXPECT_EQ(start.error().message, "Docker could not start container 'c1' (HTTP 500): plain text");
  Status volume = c.docker->volume_remove("v", false);
  ASSERT_FALSE(volume.ok());
  EXPECT_THAT(volume.error().message, HasSubstr("no longer accepts API 1.43"));
  EXPECT_THAT(c.script->requests,
              ElementsAre("GET /_ping", "GET /v1.43/containers/c1/json", "DELETE /v1.43/containers/c1?force=1&v=1",
                          "POST /v1.43/containers/c1/start", "DELETE /v1.43/volumes/v"));
}

TEST(EngineClient, AConnectionThatCannotBeOpenedIsTheCallsError) {
  Client c;
  Reply down;
  down.open_error = fail(ErrorKind::unreachable, "Docker did not answer at unix:///fake.sock");
  c.then(std::move(down));
  Status s = c.docker->ping();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::unreachable);
  EXPECT_THAT(c.script->operations, ElementsAre("check that Docker answers"));
}

TEST(EngineClient, AStreamedRequestTheDaemonRefusesIsReadForItsMessage) {
  Client c;
  c.negotiated().then(answer(404, R"({"message":"No such image: gone:1"})"));
  auto export_ = c.docker->image_export("gone:1");
  ASSERT_FALSE(export_.ok());
  EXPECT_EQ(export_.error().kind, ErrorKind::not_found);
  EXPECT_EQ(export_.error().message, "Docker could not export image 'gone:1': No such image: gone:1");
  EXPECT_THAT(c.script->requests, ElementsAre("GET /_ping", "GET /v1.43/images/gone:1/get"));
}

TEST(EngineClient, AWaitUsesItsOwnTimeoutAndSaysSoWhenItRunsOut) {
  Client c;
  Reply slow;
  slow.answer_error = fail(ErrorKind::timeout, "Docker at unix:///fake.sock did not answer within 5 s");
  c.negotiated().then(std::move(slow));
  auto w = c.docker->container_wait("c1", std::chrono::seconds(5));
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().kind, ErrorKind::timeout);
  EXPECT_EQ(w.error().message, "container 'c1' did not exit within 5s");
  EXPECT_THAT(c.script->requests, ElementsAre("GET /_ping", "POST /v1.43/containers/c1/wait"));
  EXPECT_EQ(c.script->request_timeouts.back(), std::chrono::milliseconds(5000));
}

// ------------------------------------------------------------ uploads

TEST(EngineClient, AnArchiveUploadIsOneChunkedPutAndTheAnswersVerdict) {
  Client c;
  c.negotiated().then(answer(200, ""));
  auto w = c.docker->archive_put("c1", "/home/u");
  ASSERT_TRUE(w.ok()) << w.error().message;
  const std::string tar = "tar bytes";
  ASSERT_TRUE((*w)->write(std::as_bytes(std::span(tar))).ok());
  ASSERT_TRUE((*w)->finish().ok());
  EXPECT_EQ(c.script->uploaded, tar);
  EXPECT_THAT(c.script->requests, ElementsAre("GET /_ping", "PUT /v1.43/containers/c1/archive?path=%2Fhome%2Fu"));
  EXPECT_EQ(c.script->sent[1].content_type, "application/x-tar");
  Status again = (*w)->finish();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, "the upload to copy into '/home/u' in container 'c1' is already finished");
}

TEST(EngineClient, AnUploadTheDaemonRefusedEarlyReportsItsAnswer) {
  Client c;
  Reply refused = answer(404, R"({"message":"Could not find the file /nope in container c1"})");
  refused.write_error = fail(ErrorKind::unreachable, "the connection broke");
  c.negotiated().then(std::move(refused));
  auto w = c.docker->archive_put("c1", "/nope");
  ASSERT_TRUE(w.ok());
  const std::string tar = "x";
  Status s = (*w)->write(std::as_bytes(std::span(tar)));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::not_found);
  EXPECT_THAT(s.error().message, HasSubstr("Could not find the file /nope"));
  EXPECT_FALSE((*w)->write(std::as_bytes(std::span(tar))).ok());  // finished by the refusal
}

TEST(EngineClient, AnImportIsAChunkedPostWhoseProgressStreamCanRefuseIt) {
  Client c;
  c.negotiated()
      .then(answer(200, "{\"status\":\"sha256:1\"}\n"))
      .then(answer(200, "{\"status\":\"Importing\"}\n{\"error\":\"archive/tar: invalid tar header\"}\n"));
  auto ok = c.docker->image_import("pb/relay:1", {"CMD [\"relay\"]"});
  ASSERT_TRUE(ok.ok());
  ASSERT_TRUE((*ok)->finish().ok());
  auto bad = c.docker->image_import("pb/relay:2", {});
  ASSERT_TRUE(bad.ok());
  Status s = (*bad)->finish();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::api);
  EXPECT_EQ(s.error().message, "Docker could not import image 'pb/relay:2': archive/tar: invalid tar header");
  EXPECT_THAT(c.script->requests,
              ElementsAre("GET /_ping",
                          "POST /v1.43/images/create?fromSrc=-&repo=pb%2Frelay&tag=1&changes=CMD%20%5B%22relay%22%5D",
                          "POST /v1.43/images/create?fromSrc=-&repo=pb%2Frelay&tag=2"));
}

// ------------------------------------------------------------ exec

/// An exec's answers: its inspection (no TTY), the upgraded stream, then `looks` inspections of its end.
Client& script_exec(Client& c, std::string stream, const std::vector<std::string>& looks) {
  c.negotiated().then(answer(200, R"({"Running":false,"ProcessConfig":{"tty":false}})"));
  Reply upgraded = answer(101, "");
  upgraded.raw = std::move(stream);
  c.then(std::move(upgraded));
  for (const auto& look : looks) c.then(answer(200, look));
  return c;
}

TEST(EngineClient, AnExecSendsItsInputReadsItsOutputAndWaitsForItsExitCode) {
  Client c;
  script_exec(c, stream_frame(1, "hello\n") + stream_frame(2, "warn\n"),
              {R"({"Running":true})", R"({"Running":true})", R"({"Running":false,"ExitCode":3})"});
  broker::ExecOptions options;
  options.input = "secret-free input";
  auto r = c.docker->exec_start("e1", options);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->out, "hello\n");
  EXPECT_EQ(r->err, "warn\n");
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_FALSE(r->truncated);
  EXPECT_EQ(c.script->stdin_bytes, "secret-free input");
  EXPECT_TRUE(c.script->stdin_closed);
  EXPECT_THAT(c.script->requests,
              ElementsAre("GET /_ping", "GET /v1.43/exec/e1/json", "POST /v1.43/exec/e1/start",
                          "GET /v1.43/exec/e1/json", "GET /v1.43/exec/e1/json", "GET /v1.43/exec/e1/json"));
  EXPECT_EQ(c.script->sent[2].body, R"({"Detach":false,"Tty":false})");
  EXPECT_TRUE(c.script->sent[2].upgrade);
  // Two pauses between the three looks, on the injected clock.
  EXPECT_THAT(c.clock->sleeps, ElementsAre(std::chrono::milliseconds(20), std::chrono::milliseconds(20)));
}

TEST(EngineClient, AnExecThatStillRunsAfterItsOutputEndsGivesUpOnTheInjectedClock) {
  Client c;
  script_exec(c, "", std::vector<std::string>(50, R"({"Running":true})"));
  auto r = c.docker->exec_start("e1", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::timeout);
  EXPECT_EQ(r.error().message, "exec 'e1' still runs after its output ended");
  EXPECT_EQ(c.clock->sleeps.size(), 50u);
  EXPECT_EQ(c.script->requests.size(), 2u + 1u + 50u);
}

TEST(EngineClient, AnExecsOutputIsBoundedByItsDeadlineOnTheInjectedClock) {
  Client c;
  c.clock->step = std::chrono::milliseconds(3000);  // each look at the clock, three seconds pass
  Reply upgraded = answer(101, "");
  upgraded.raw = stream_frame(1, "partial");
  upgraded.raw_error = fail(ErrorKind::timeout, "Docker at unix:///fake.sock did not answer");
  c.negotiated().then(answer(200, R"({"ProcessConfig":{"tty":false}})")).then(std::move(upgraded));
  broker::ExecOptions options;
  options.timeout = std::chrono::seconds(10);
  auto r = c.docker->exec_start("e1", options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::timeout);
  EXPECT_EQ(r.error().message, "the command in exec 'e1' did not finish within 10s");
  // The connection's own limit is the exec's, and each read gets what is left of it (at least 1 ms).
  EXPECT_EQ(c.script->request_timeouts.back(), std::chrono::milliseconds(10000));
  ASSERT_GE(c.script->read_timeouts.size(), 4u);
  EXPECT_EQ(c.script->read_timeouts[0], std::chrono::milliseconds(7000));
  EXPECT_EQ(c.script->read_timeouts[1], std::chrono::milliseconds(4000));
  EXPECT_EQ(c.script->read_timeouts[2], std::chrono::milliseconds(1000));
  EXPECT_EQ(c.script->read_timeouts[3], std::chrono::milliseconds(1));
}

TEST(EngineClient, ARefusedExecStartIsReadForTheDaemonsMessage) {
  Client c;
  c.negotiated()
      .then(answer(200, R"({"ProcessConfig":{"tty":true}})"))
      .then(answer(409, R"({"message":"container c1 is not running"})"));
  auto r = c.docker->exec_start("e1", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::conflict);
  EXPECT_EQ(r.error().message, "Docker could not run exec 'e1': container c1 is not running");
  EXPECT_EQ(c.script->sent[2].body, R"({"Detach":false,"Tty":true})");
}

}  // namespace
}  // namespace pb
