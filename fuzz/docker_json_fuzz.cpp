// Fuzzes how the Docker client (broker/docker/engine_wire.cpp, through the client of engine_internal.hpp) reads the
// daemon's JSON answers and version headers, through the fake daemon, so the
// answers arrive over a socket as from dockerd. Input:
//   byte 0   the call (image/container inspect and list, volumes, version, ...)
//   byte 1   the HTTP status of the answer (200, 201, 204, 400, 404, 409, 500)
//   then     the Api-Version header value up to the first '\n', then the body
// Nothing may crash or hang, and every error message is printable.
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

void check_text(const std::string& s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) __builtin_trap();
}

template <class T>
void check(const Result<T>& r) {
  if (!r.ok()) check_text(r.error().message);
}

std::string base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

/// A header value the way a daemon could send one: no CR, LF or NUL.
std::string header_value(std::string s) {
  for (char& c : s)
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  static const unsigned k_status[] = {200, 200, 200, 201, 204, 400, 404, 409, 500, 304};
  const unsigned op = data[0] % 17;
  const unsigned status = k_status[data[1] % 10];
  const std::string rest(reinterpret_cast<const char*>(data + 2), size - 2);
  const auto nl = rest.find('\n');
  const std::string api = header_value(rest.substr(0, nl));
  const std::string body = nl == std::string::npos ? std::string() : rest.substr(nl + 1);

  fuzz::daemon().set_handler([=](const fuzz::SeenRequest& req) -> std::string {
    if (req.target == "/_ping") {
      if (op == 15) return fuzz::http_answer(200, "", "OK");  // no header: the client asks /version
      return fuzz::http_answer(op == 0 ? status : 200, "Api-Version: " + api + "\r\n", "OK");
    }
    if (req.target == "/version") return fuzz::http_answer(op == 1 || op == 15 ? status : 200, "", body);
    std::string headers = "Content-Type: application/json\r\nApi-Version: " + api + "\r\n";
    if (op == 13) headers += "X-Docker-Container-Path-Stat: " + base64(body) + "\r\n";
    return fuzz::http_answer(status, headers, op == 13 ? std::string() : body);
  });
  EngineConfig cfg;
  cfg.host = fuzz::daemon().endpoint();
  cfg.connect_timeout = std::chrono::milliseconds(2000);
  cfg.request_timeout = std::chrono::milliseconds(2000);
  auto client = make_engine_client(cfg);

  switch (op) {
    case 0:
      check(client->ping());
      break;
    case 1: {
      auto v = client->version();
      check(v);
      if (v.ok()) check_text(v->api_version);
      break;
    }
    case 2: {
      auto i = client->image_inspect("app:1");
      check(i);
      if (i.ok()) check(client->volume_list({}));  // a versioned call with what the header taught
      break;
    }
    case 3:
      check(client->image_list({"para-broker.managed"}));
      break;
    case 4:
      check(client->container_inspect("c1"));
      break;
    case 5:
      check(client->container_list({}));
      break;
    case 6:
      check(client->container_changes("c1"));
      break;
    case 7:
      check(client->volume_list({"para-broker.managed"}));
      break;
    case 8:
      check(client->volume_inspect("pb-vol"));
      break;
    case 9:
      check(client->volume_create("pb-vol", {{"para-broker.managed", "1"}}));
      break;
    case 10: {
      ContainerSpec spec;
      spec.image = "app:1";
      check(client->container_create(spec));
      break;
    }
    case 11:
      check(client->container_wait("c1", std::chrono::seconds(2)));
      break;
    case 12:
      check(client->exec_create("c1", {{"true"}, {}, {}, {}, false}));
      break;
    case 13:
      check(client->archive_stat("c1", "/home/node/.claude"));
      break;
    case 14: {
      auto w = client->image_import("pb-fuzz:1", {"CMD [\"sh\"]"});
      check(w);
      if (w.ok()) {
        const std::string chunk(1024, 'x');
        Status s = (*w)->write(std::as_bytes(std::span(chunk)));
        check(s);
        if (s.ok()) check((*w)->finish());
      }
      break;
    }
    case 15:
      check(client->volume_list({}));
      break;
    default:
      check(client->container_remove("c1", true, true));
      break;
  }
  return 0;
}
