// Fuzzes the HTTP side of the Docker client (broker/docker/http_channel.cpp
// and the streaming calls of engine_streams.cpp and engine_exec.cpp): the input is the daemon's
// raw answer (status line, headers, Content-Length or chunked body, cut short
// or oversized), served by a fake daemon on a unix socket, so the client reads
// it exactly as it reads dockerd. The first byte picks the call:
//   0 round trip (GET, 4 KiB limit)   1 HEAD          2 head, then the body in pieces
//   3 chunked upload, then the answer 4 upgraded (hijacked) stream
//   5 image export stream             6 archive download (path stat header)
//   7 container logs (demultiplexed)  8 exec with its hijacked output
// Nothing may crash or hang, a body never exceeds its limit, and every error
// message is printable.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "broker/docker/engine_client.hpp"
#include "broker/docker/http_channel.hpp"
#include "fuzz/support/fake_daemon.hpp"

using namespace pb;
using namespace pb::broker;
using namespace pb::broker::docker;

namespace {

void check_message(const Error& e) {
  for (char c : e.message)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) __builtin_trap();
}

template <class T>
void check(const Result<T>& r) {
  if (!r.ok()) check_message(r.error());
}

EngineConfig config() {
  EngineConfig c;
  c.host = fuzz::daemon().endpoint();
  c.connect_timeout = std::chrono::milliseconds(2000);
  c.request_timeout = std::chrono::milliseconds(2000);
  return c;
}

void drain(ByteReader& r) {
  std::array<std::byte, 4096> buf{};
  for (int i = 0; i < 4096; ++i) {
    auto n = r.read(buf);
    check(n);
    if (!n.ok() || *n == 0) return;
  }
}

const std::string k_ping = fuzz::http_answer(200, "Api-Version: 1.43\r\n", "OK");

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned mode = data[0] % 9;
  const std::string answer(reinterpret_cast<const char*>(data + 1), size - 1);
  fuzz::daemon().set_handler([=](const fuzz::SeenRequest& req) -> std::string {
    if (req.target == "/_ping") return k_ping;
    if (mode == 7 && req.target.ends_with("/containers/c1/json"))
      return fuzz::http_answer(200, "", R"({"Id":"c1","Config":{"Tty":false}})");
    if (mode == 8 && req.target.ends_with("/exec/e1/json"))
      return fuzz::http_answer(200, "", R"({"ProcessConfig":{"tty":false},"Running":false,"ExitCode":3})");
    return answer;
  });
  const EngineConfig cfg = config();

  if (mode <= 4) {
    auto ch = open_channel(cfg, "answer a fuzz request");
    if (!ch.ok()) __builtin_trap();  // the fake daemon is always there
    HttpChannel& c = **ch;
    switch (mode) {
      case 0: {
        auto r = c.round_trip({"GET", "/v1.43/info", {}, {}, false}, 4096);
        check(r);
        if (r.ok() && r->body.size() > 4096) __builtin_trap();
        break;
      }
      case 1: {
        auto r = c.round_trip({"HEAD", "/v1.43/containers/c1/archive?path=%2F", {}, {}, false}, 4096);
        check(r);
        if (r.ok() && !r->body.empty()) __builtin_trap();
        break;
      }
      case 2: {
        auto head = c.send_and_read_head({"GET", "/v1.43/images/x/get", {}, {}, false});
        check(head);
        if (!head.ok()) break;
        std::array<std::byte, 1000> buf{};
        for (int i = 0; i < 10000; ++i) {
          auto n = c.read_body(buf);
          check(n);
          if (!n.ok() || *n == 0) break;
          if (*n > buf.size()) __builtin_trap();
        }
        break;
      }
      case 3: {
        const std::string chunk = "a tar stream would be here";
        Status s =
            c.send_chunked_head({"PUT", "/v1.43/containers/c1/archive?path=%2F", {}, "application/x-tar", false});
        if (s.ok()) s = c.write_chunk(std::as_bytes(std::span(chunk)));
        if (s.ok()) {
          check(c.finish_chunked(4096));
        } else {
          check(c.read_early_response(4096));
        }
        break;
      }
      default: {
        auto head = c.send_and_read_head({"POST", "/v1.43/exec/e1/start", "{}", "application/json", true});
        check(head);
        if (!head.ok()) break;
        std::array<std::byte, 1000> buf{};
        for (int i = 0; i < 10000; ++i) {
          auto n = c.raw_read(buf, std::chrono::milliseconds(2000));
          check(n);
          if (!n.ok() || *n == 0) break;
        }
        break;
      }
    }
    return 0;
  }

  auto client = make_engine_client(cfg);
  switch (mode) {
    case 5: {
      auto r = client->image_export("app:1");
      check(r);
      if (r.ok()) drain(**r);
      break;
    }
    case 6: {
      auto r = client->archive_get("c1", "/home/node/.claude");
      check(r);
      if (r.ok()) drain(*r->body);
      break;
    }
    case 7: {
      LogOptions lo;
      lo.max_bytes = 2048;
      auto r = client->container_logs("c1", lo);
      check(r);
      if (r.ok() && (r->out.size() > 2048 || r->err.size() > 2048)) __builtin_trap();
      break;
    }
    default: {
      ExecOptions eo;
      eo.input = "input for the process";
      eo.max_output = 2048;
      eo.timeout = std::chrono::seconds(2);
      auto r = client->exec_start("e1", eo);
      check(r);
      if (r.ok() && (r->out.size() > 2048 || r->err.size() > 2048 || r->exit_code != 3)) __builtin_trap();
      break;
    }
  }
  return 0;
}
