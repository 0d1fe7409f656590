// pb_fake_api: a loopback stand-in for the Anthropic API, for end-to-end tests.
//
//   pb_fake_api --record FILE [--port 0] [--max-seconds 120]
//               [--oauth-refresh-token T... --oauth-prefix P [--oauth-expires-in S]]
//               [--tls-port 443 --tls-ca-file CA.pem]
//
// Listens on 127.0.0.1 only, prints the chosen port (with --tls-port: the
// plain port, a space and the TLS port) and a newline on stdout, then appends
// one JSON line per request to FILE:
//   {"time_ms":…,"method":"POST","target":"/v1/messages?beta=true","host":"…",
//    "authorization":"Bearer …"|null,"x_api_key":"…"|null,"tls":false,
//    "session":"…"|null,"status":401}
// ("session" is an X-Pb-Session header a test may have the client send, to
// tell sessions apart; "status" is the answer's status code.)
//
// With --tls-port it also serves HTTPS there, the same endpoints: it makes a
// throw-away CA and a certificate for platform.claude.com, api.anthropic.com,
// localhost and 127.0.0.1 at start (tests/support/test_pki.hpp), writes the
// CA's certificate to --tls-ca-file before it prints the port, and keeps the
// keys in memory. Claude Code 2.x, whose OAuth and API hosts are fixed, gets
// here with --add-host and trusts the CA through NODE_EXTRA_CA_CERTS. A TLS
// port that is taken ends the program at once with exit 2 and a sentence.
// and answers every request with 401 and an Anthropic-style JSON error body.
// Tests also point HTTPS_PROXY/HTTP_PROXY here so that no request of the
// client leaves the machine: a CONNECT to this server itself (clients that
// ignore NO_PROXY tunnel even to the API at 127.0.0.1) gets 200 and the
// tunnel is served here like a plain connection; a CONNECT anywhere else gets
// 403 and the connection closes. It exits by itself after --max-seconds, or
// on SIGTERM/SIGINT.
//
// With --oauth-refresh-token it is also Claude Code's OAuth service, rotating
// strictly as the real one does: POST /v1/oauth/token with
// {"grant_type":"refresh_token","refresh_token":R} answers a new pair
// (P-access-N, P-refresh-N, expires_in S) when R is live and revokes R; a used
// or unknown R gets 400 invalid_grant. Each --oauth-refresh-token starts a
// chain of its own (a benchmark keeps two logins apart). /v1/messages answers 200 (a one-word
// reply, streamed when asked) only for a live access token (every issued one
// stays live), 401 otherwise; /api/oauth/profile answers an account. Each
// refresh is recorded with the token presented and what it got
// ("oauth_presented", "oauth_issued" or "oauth_refused").
//
// With --oauth-login-code C it also completes logins. GET …/oauth/authorize?…
// (any host) is the sign-in page the user's browser opens from the URL Claude
// Code prints: it hands out the next code, bound to the URL's PKCE challenge,
// redirect URI and state, and shows CODE#STATE, the text the user pastes
// (recorded as "login_page": "full", or "compact" for 2.x's short form, which
// carries only the client, the scopes and the challenge). POST
// /v1/oauth/token with {"grant_type":"authorization_code","code":C,
// "code_verifier":…,"state":…,"redirect_uri":…,"client_id":…} answers a new
// pair and the account only for a code a sign-in page handed out, once, with
// the verifier whose S256 hash is that page's challenge and the same redirect
// URI and state ("login_pkce_verified"), recorded as "login_issued" (the
// access token) or "login_refused", with the body's field names
// ("login_fields"); GET /api/oauth/claude_cli/roles and POST
// /api/oauth/claude_cli/create_api_key answer a live access token, as 1.0.x
// and 2.x ask right after a login.
//
// The recorded headers are test canaries by construction: this program only
// ever serves tests.

// GCC 12 flags Asio's scheduler internals after inlining (a false positive in
// boost/asio/detail/impl/scheduler.ipp); the check stays on everywhere else.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <openssl/sha.h>
#include <CLI/CLI.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>

#include <vector>
#include "tests/support/test_pki.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto k_io_timeout = std::chrono::seconds(30);
constexpr std::size_t k_body_limit = 16 * 1024 * 1024;

/// Appends request records to the file, one JSON object a line, flushed at once
/// so a test can read it while the server still runs.
class Recorder {
 public:
  explicit Recorder(const std::string& path) : m_out(path, std::ios::app) {}
  bool ok() const { return m_out.good(); }

  void record(const http::request<http::string_body>& req, bool tls, int status,
              const nlohmann::json& extra = nlohmann::json::object()) {
    nlohmann::json line = extra;
    line["time_ms"] =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    line["method"] = std::string(req.method_string());
    line["target"] = std::string(req.target());
    line["host"] = header_or_null(req, http::field::host);
    line["authorization"] = header_or_null(req, http::field::authorization);
    line["x_api_key"] = header_or_null(req, "x-api-key");
    line["session"] = header_or_null(req, "x-pb-session");
    line["tls"] = tls;
    line["status"] = status;
    m_out << line.dump() << '\n';
    m_out.flush();
  }

 private:
  template <class Field>
  static nlohmann::json header_or_null(const http::request<http::string_body>& req, Field field) {
    auto it = req.find(field);
    if (it == req.end()) return nullptr;
    return std::string(it->value());
  }

  std::ofstream m_out;
};

/// The OAuth service's state (one thread runs every handler).
struct OAuth {
  bool enabled = false;
  std::string prefix;
  long long expires_in = 3600;
  std::set<std::string> live_refresh;
  std::set<std::string> live_access;
  int issued = 0;
  std::set<std::string> login_codes;  ///< authorization codes not exchanged yet (each works once)
  /// What a sign-in page bound a code to: the PKCE challenge, the redirect
  /// URI and the state of the URL the user opened (state: none in 2.x's
  /// compact URL).
  struct SignIn {
    std::string challenge;
    std::string redirect_uri;
    std::string state;
  };
  std::map<std::string, SignIn> signed_in;  ///< code -> its sign-in, for codes a sign-in page handed out

  /// A new pair, live from now on: <prefix>-access-N and <prefix>-refresh-N.
  std::pair<std::string, std::string> issue() {
    const int n = ++issued;
    std::pair<std::string, std::string> pair{prefix + "-access-" + std::to_string(n),
                                             prefix + "-refresh-" + std::to_string(n)};
    live_access.insert(pair.first);
    live_refresh.insert(pair.second);
    return pair;
  }
};

using TlsStream = beast::ssl_stream<beast::tcp_stream>;
// ---------------------------------------------------------------- login (authorization code)
//
// Kept apart from the refresh service above: what a login adds is the code
// exchange and the calls a build makes right after it.

/// The names of a request body's fields (JSON object, or a form), for the record.
nlohmann::json body_field_names(const nlohmann::json& body) {
  nlohmann::json names = nlohmann::json::array();
  if (body.is_object())
    for (const auto& [key, value] : body.items()) names.push_back(key);
  return names;
}

/// BASE64URL(SHA256(verifier)) without padding: the S256 code_challenge of RFC 7636.
std::string pkce_s256(const std::string& verifier) {
  static constexpr char k_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(verifier.data()), verifier.size(), md);
  std::string out;
  unsigned bits = 0;
  int nbits = 0;
  for (unsigned char c : md) {
    bits = (bits << 8) | c;
    nbits += 8;
    while (nbits >= 6) {
      nbits -= 6;
      out += k_alphabet[(bits >> nbits) & 63];
    }
  }
  if (nbits > 0) out += k_alphabet[(bits << (6 - nbits)) & 63];
  return out;
}

/// A query string's fields, percent-decoded ('+' as a space); a field
/// without '=' maps to "".
std::map<std::string, std::string> query_fields(const std::string& query) {
  auto decode = [](const std::string& in) {
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (in[i] == '+') {
        out += ' ';
      } else if (in[i] == '%' && i + 2 < in.size() && std::isxdigit(static_cast<unsigned char>(in[i + 1])) &&
                 std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
        out += static_cast<char>(std::stoi(in.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += in[i];
      }
    }
    return out;
  };
  std::map<std::string, std::string> fields;
  std::size_t at = 0;
  while (at <= query.size()) {
    const std::size_t end = std::min(query.find('&', at), query.size());
    const std::string part = query.substr(at, end - at);
    const std::size_t eq = part.find('=');
    if (!part.empty()) fields[decode(part.substr(0, eq))] = eq == std::string::npos ? "" : decode(part.substr(eq + 1));
    at = end + 1;
  }
  return fields;
}

/// Whether `s` is a PKCE S256 challenge: 43 characters of base64url.
bool is_challenge(const std::string& s) {
  if (s.size() != 43) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  return true;
}

/// Where the sign-in page sends the user when the code is to be pasted (2.x's MANUAL_REDIRECT_URL).
constexpr const char* k_manual_redirect = "https://platform.claude.com/oauth/code/callback";

/// GET <host>/…/oauth/authorize?…: the sign-in page the user's browser opens
/// from the URL Claude Code prints. The user is signed in at once; the page
/// hands out the next code not handed out yet, bound to the URL's PKCE
/// challenge, redirect URI and state, and shows what the user pastes,
/// CODE#STATE. Two forms of URL: the full one (code_challenge, state,
/// redirect_uri, client_id, code=true, response_type=code,
/// code_challenge_method=S256), and 2.x's compact one,
/// `?<client and scopes><challenge>[&…]`, which implies the manual redirect
/// and S256 and carries no state (so the page has none to show: 2.1.332's
/// screen does not compare what follows the '#', its exchange sends its own
/// state). Anything else, or no code left, gets 400.
bool serve_sign_in_page(OAuth& oauth, const http::request<http::string_body>& req, const std::string& path,
                        http::response<http::string_body>& response, nlohmann::json& extra) {
  if (req.method() != http::verb::get || !path.ends_with("/oauth/authorize")) return false;
  const std::string target(req.target());
  const std::string query = target.find('?') == std::string::npos ? "" : target.substr(target.find('?') + 1);
  const auto fields = query_fields(query);
  auto field = [&](const char* key) {
    auto it = fields.find(key);
    return it == fields.end() ? std::string() : it->second;
  };
  OAuth::SignIn sign_in;
  std::string form;
  const std::string first = query.substr(0, query.find('&'));
  if (!first.empty() && first.find('=') == std::string::npos && first.size() > 43 &&
      is_challenge(first.substr(first.size() - 43))) {
    form = "compact";
    sign_in.challenge = first.substr(first.size() - 43);
    sign_in.redirect_uri = k_manual_redirect;
  } else if (field("code") == "true" && field("response_type") == "code" && field("code_challenge_method") == "S256" &&
             is_challenge(field("code_challenge")) && !field("client_id").empty() && !field("state").empty() &&
             !field("redirect_uri").empty()) {
    form = "full";
    sign_in = {field("code_challenge"), field("redirect_uri"), field("state")};
  }
  std::string code;
  for (const auto& c : oauth.login_codes)
    if (oauth.signed_in.count(c) == 0) {
      code = c;
      break;
    }
  response.set(http::field::content_type, "text/plain; charset=utf-8");
  if (sign_in.challenge.empty() || code.empty()) {
    response.result(http::status::bad_request);
    response.body() = "not a sign-in this service can complete\n";
    return true;
  }
  extra["login_page"] = form;
  response.result(http::status::ok);
  response.body() = code + "#" + (sign_in.state.empty() ? std::string("compact-sign-in") : sign_in.state);
  oauth.signed_in[code] = std::move(sign_in);
  return true;
}

/// A PKCE code_verifier as RFC 7636 defines it: 43 to 128 unreserved characters.
bool plausible_code_verifier(const std::string& v) {
  if (v.size() < 43 || v.size() > 128) return false;
  for (char c : v) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                            c == '.' || c == '_' || c == '~';
    if (!unreserved) return false;
  }
  return true;
}

/// POST /v1/oauth/token with grant_type=authorization_code: a code this service
/// handed out (--oauth-login-code), exchanged once, with the PKCE verifier, the
/// state and the redirect URI a real client sends. Answers the pair and the
/// account, as the real service does; anything else gets 400 invalid_grant.
/// Sets the status and body of `response`, and what to record in `extra`.
void exchange_login_code(OAuth& oauth, const nlohmann::json& body, http::response<http::string_body>& response,
                         nlohmann::json& extra) {
  auto text = [&](const char* key) {
    auto it = body.find(key);
    return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const std::string code = text("code");
  extra["login_fields"] = body_field_names(body);
  const bool well_formed = plausible_code_verifier(text("code_verifier")) && !text("state").empty() &&
                           !text("redirect_uri").empty() && !text("client_id").empty();
  // Only a code a sign-in page handed out, and it is bound to that page's
  // URL: the PKCE verifier must hash to its challenge (S256), and the redirect
  // URI and the state must be the ones the URL carried.
  bool bound = false;
  if (auto s = oauth.signed_in.find(code); s != oauth.signed_in.end()) {
    bound = pkce_s256(text("code_verifier")) == s->second.challenge && text("redirect_uri") == s->second.redirect_uri &&
            (s->second.state.empty() || text("state") == s->second.state);
    extra["login_pkce_verified"] = bound;
  }
  if (!well_formed || !bound || oauth.login_codes.count(code) != 1) {
    extra["login_refused"] = true;
    response.result(http::status::bad_request);
    response.body() = R"({"error":"invalid_grant","error_description":"Invalid authorization code"})";
    return;
  }
  oauth.login_codes.erase(code);
  oauth.signed_in.erase(code);
  const auto [access, refresh] = oauth.issue();
  extra["login_issued"] = access;
  response.result(http::status::ok);
  response.body() =
      nlohmann::json{
          {"access_token", access},
          {"refresh_token", refresh},
          {"expires_in", oauth.expires_in},
          {"token_type", "Bearer"},
          {"scope", "user:inference user:profile"},
          {"account",
           {{"uuid", "00000000-0000-4000-8000-0000000000d1"}, {"email_address", "canary-test-login@example.com"}}},
          {"organization", {{"uuid", "00000000-0000-4000-8000-0000000000e1"}, {"name", "Canary Test Org"}}}}
          .dump();
}

/// What a build asks right after a login, with the new access token: the
/// user's roles, and (a Console login without the inference scope) an API key.
/// False when `path` is none of these.
bool serve_after_login(const OAuth& oauth, const http::request<http::string_body>& req, const std::string& path,
                       http::response<http::string_body>& response) {
  const bool roles = req.method() == http::verb::get && path == "/api/oauth/claude_cli/roles";
  const bool api_key = req.method() == http::verb::post && path == "/api/oauth/claude_cli/create_api_key";
  if (!roles && !api_key) return false;
  auto auth = req.find(http::field::authorization);
  const std::string bearer = auth == req.end() ? "" : std::string(auth->value());
  if (!bearer.starts_with("Bearer ") || oauth.live_access.count(bearer.substr(7)) == 0) {
    response.result(http::status::unauthorized);
    response.body() = R"({"type":"error","error":{"type":"authentication_error","message":"invalid bearer token"}})";
    return true;
  }
  response.result(http::status::ok);
  response.body() = roles ? R"({"organization_role":"admin","workspace_role":null,)"
                            R"("organization_name":"Canary Test Org"})"
                          : R"({"raw_key":"sk-ant-api03-CANARY-test-login-key"})";
  return true;
}

/// One connection, plain (beast::tcp_stream) or TLS (TlsStream).
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool k_tls = std::is_same_v<Stream, TlsStream>;

 public:
  Session(Stream stream, Recorder& recorder, unsigned short port, OAuth& oauth)
      : m_stream(std::move(stream)), m_recorder(recorder), m_port(port), m_oauth(oauth) {}

  void start() {
    if constexpr (k_tls) {
      lowest().expires_after(k_io_timeout);
      m_stream.async_handshake(asio::ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
        if (ec) return self->close();
        self->read();
      });
    } else {
      read();
    }
  }

 private:
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(m_stream); }

  void read() {
    m_parser.emplace();
    m_parser->body_limit(k_body_limit);
    lowest().expires_after(k_io_timeout);
    http::async_read(m_stream, m_buffer, *m_parser,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return close();
    auto req = m_parser->release();
    if (m_oauth.enabled && req.method() != http::verb::connect) return serve_oauth(req);
    if (!k_tls && req.method() == http::verb::connect && is_self(req.target())) {
      // The tunnel ends here: answer 200 (no body, no length) and go on
      // reading requests from the same connection.
      m_recorder.record(req, k_tls, 200);
      m_tunnel_response = {};
      m_tunnel_response.version(req.version());
      m_tunnel_response.result(http::status::ok);
      m_tunnel_response.keep_alive(true);
      lowest().expires_after(k_io_timeout);
      http::async_write(m_stream, m_tunnel_response,
                        [self = this->shared_from_this()](beast::error_code wec, std::size_t) {
                          if (wec) return self->close();
                          self->read();
                        });
      return;
    }
    const bool tunnel = req.method() == http::verb::connect;
    m_response = {};
    m_response.version(req.version());
    m_response.set(http::field::server, "pb-fake-api");
    m_response.set(http::field::content_type, "application/json");
    m_response.set("request-id", "req_pb_fake_api");
    if (tunnel) {
      m_response.result(http::status::forbidden);
      m_response.body() = R"({"type":"error","error":{"type":"permission_error","message":"no proxying from tests"}})";
      m_response.keep_alive(false);
    } else {
      m_response.result(http::status::unauthorized);
      m_response.body() = R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})";
      m_response.keep_alive(req.keep_alive());
    }
    m_recorder.record(req, k_tls, m_response.result_int());
    write();
  }

  void write() {
    m_response.prepare_payload();
    lowest().expires_after(k_io_timeout);
    http::async_write(m_stream, m_response, [self = this->shared_from_this()](beast::error_code wec, std::size_t) {
      if (wec || !self->m_response.keep_alive()) return self->close();
      self->read();
    });
  }

  /// The OAuth service and the API behind it (--oauth-refresh-token).
  void serve_oauth(const http::request<http::string_body>& req) {
    const std::string target(req.target());
    const std::string path = target.substr(0, target.find('?'));
    nlohmann::json extra = nlohmann::json::object();
    m_response = {};
    m_response.version(req.version());
    m_response.set(http::field::server, "pb-fake-api");
    m_response.set(http::field::content_type, "application/json");
    m_response.set("request-id", "req_pb_fake_api");
    m_response.keep_alive(req.keep_alive());
    auto body = nlohmann::json::parse(req.body(), nullptr, false);
    if (req.method() == http::verb::post && path == "/v1/oauth/token" && body.is_object() &&
        body.value("grant_type", nlohmann::json()) == "authorization_code") {
      exchange_login_code(m_oauth, body, m_response, extra);
    } else if (serve_sign_in_page(m_oauth, req, path, m_response, extra)) {
      // the sign-in page
    } else if (serve_after_login(m_oauth, req, path, m_response)) {
      // answered
    } else if (req.method() == http::verb::post && path == "/v1/oauth/token") {
      const std::string presented =
          body.is_object() && body.value("refresh_token", nlohmann::json()).is_string() ? body["refresh_token"] : "";
      extra["oauth_presented"] = presented;
      if (body.is_object() && body.value("grant_type", "") == "refresh_token" &&
          m_oauth.live_refresh.erase(presented) == 1) {
        const auto [access, refresh] = m_oauth.issue();
        extra["oauth_issued"] = refresh;
        m_response.result(http::status::ok);
        m_response.body() = nlohmann::json{{"access_token", access},
                                           {"refresh_token", refresh},
                                           {"expires_in", m_oauth.expires_in},
                                           {"token_type", "Bearer"},
                                           {"scope", "user:inference user:profile"}}
                                .dump();
      } else {
        extra["oauth_refused"] = true;
        m_response.result(http::status::bad_request);
        m_response.body() = R"({"error":"invalid_grant","error_description":"Invalid refresh token"})";
      }
    } else if (path == "/api/oauth/profile") {
      m_response.result(http::status::ok);
      m_response.body() = R"({"account":{"uuid":"00000000-0000-4000-8000-0000000000d1",)"
                          R"("email":"canary-test@example.com","display_name":"canary"},)"
                          R"("organization":{"uuid":"00000000-0000-4000-8000-0000000000e1",)"
                          R"("organization_type":"claude_max","rate_limit_tier":"default_claude_max_20x"}})";
    } else if (req.method() == http::verb::post && path == "/v1/messages") {
      auto auth = req.find(http::field::authorization);
      const std::string bearer = auth == req.end() ? "" : std::string(auth->value());
      if (bearer.starts_with("Bearer ") && m_oauth.live_access.count(bearer.substr(7)) != 0) {
        m_response.result(http::status::ok);
        answer(body.is_object() && body.value("stream", false), body.is_object() ? body.value("model", "") : "");
      } else {
        m_response.result(http::status::unauthorized);
        m_response.body() =
            R"({"type":"error","error":{"type":"authentication_error","message":"OAuth token has expired"}})";
      }
    } else {
      m_response.result(http::status::not_found);
      m_response.body() = R"({"type":"error","error":{"type":"not_found_error","message":"not served here"}})";
    }
    m_recorder.record(req, k_tls, m_response.result_int(), extra);
    write();
  }

  /// A one-word reply, as JSON or as the event stream the client asked for.
  void answer(bool stream, const std::string& model) {
    const nlohmann::json usage = {{"input_tokens", 1}, {"output_tokens", 1}};
    nlohmann::json message = {{"id", "msg_pb_fake_api"},
                              {"type", "message"},
                              {"role", "assistant"},
                              {"model", model},
                              {"content", nlohmann::json::array()},
                              {"stop_reason", nullptr},
                              {"stop_sequence", nullptr},
                              {"usage", usage}};
    if (!stream) {
      message["content"] = nlohmann::json::array({{{"type", "text"}, {"text", "pong"}}});
      message["stop_reason"] = "end_turn";
      m_response.body() = message.dump();
      return;
    }
    m_response.set(http::field::content_type, "text/event-stream");
    auto event = [](const std::string& type, const nlohmann::json& data) {
      return "event: " + type + "\ndata: " + data.dump() + "\n\n";
    };
    std::string out = event("message_start", {{"type", "message_start"}, {"message", message}});
    out += event("content_block_start",
                 {{"type", "content_block_start"}, {"index", 0}, {"content_block", {{"type", "text"}, {"text", ""}}}});
    out +=
        event("content_block_delta",
              {{"type", "content_block_delta"}, {"index", 0}, {"delta", {{"type", "text_delta"}, {"text", "pong"}}}});
    out += event("content_block_stop", {{"type", "content_block_stop"}, {"index", 0}});
    out += event("message_delta", {{"type", "message_delta"},
                                   {"delta", {{"stop_reason", "end_turn"}, {"stop_sequence", nullptr}}},
                                   {"usage", {{"output_tokens", 1}}}});
    out += event("message_stop", {{"type", "message_stop"}});
    m_response.body() = out;
  }

  bool is_self(beast::string_view target) const {
    const std::string port = ":" + std::to_string(m_port);
    return target == "127.0.0.1" + port || target == "localhost" + port;
  }

  void close() {
    if constexpr (k_tls) {
      // close_notify, then the socket; a peer that is gone already ends it too.
      lowest().expires_after(std::chrono::seconds(5));
      m_stream.async_shutdown([self = this->shared_from_this()](beast::error_code) { self->close_socket(); });
    } else {
      close_socket();
    }
  }

  void close_socket() {
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

  Stream m_stream;
  beast::flat_buffer m_buffer;
  std::optional<http::request_parser<http::string_body>> m_parser;
  http::response<http::string_body> m_response;
  http::response<http::empty_body> m_tunnel_response;
  Recorder& m_recorder;
  unsigned short m_port;
  OAuth& m_oauth;
};

/// Accepts on 127.0.0.1:port; TLS when given a context.
class Listener {
 public:
  Listener(asio::io_context& io, Recorder& recorder, unsigned short port, OAuth& oauth,
           asio::ssl::context* tls = nullptr)
      : m_io(io), m_acceptor(io), m_recorder(recorder), m_oauth(oauth), m_tls(tls) {
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
    m_acceptor.open(endpoint.protocol());
    m_acceptor.set_option(asio::socket_base::reuse_address(true));
    m_acceptor.bind(endpoint);
    m_acceptor.listen(asio::socket_base::max_listen_connections);
  }

  unsigned short port() const { return m_acceptor.local_endpoint().port(); }

  void accept() {
    m_acceptor.async_accept(asio::make_strand(m_io), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec && m_tls != nullptr)
        std::make_shared<Session<TlsStream>>(TlsStream(std::move(socket), *m_tls), m_recorder, port(), m_oauth)
            ->start();
      else if (!ec)
        std::make_shared<Session<beast::tcp_stream>>(beast::tcp_stream(std::move(socket)), m_recorder, port(), m_oauth)
            ->start();
      accept();
    });
  }

  void stop() {
    beast::error_code ignored;
    m_acceptor.close(ignored);
  }

 private:
  asio::io_context& m_io;
  tcp::acceptor m_acceptor;
  Recorder& m_recorder;
  OAuth& m_oauth;
  asio::ssl::context* m_tls;
};

/// The server's TLS context with a fresh throw-away CA; writes the CA's certificate to `ca_file`.
std::optional<asio::ssl::context> tls_context(const std::string& ca_file) {
  auto pki = pb::test::make_test_pki({"platform.claude.com", "api.anthropic.com", "localhost"}, {"127.0.0.1"});
  if (!pki) return std::nullopt;
  asio::ssl::context ctx(asio::ssl::context::tls_server);
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  ctx.use_certificate_chain(asio::buffer(pki->cert_pem));
  ctx.use_private_key(asio::buffer(pki->key_pem), asio::ssl::context::pem);
  const std::string tmp = ca_file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << pki->ca_pem;
    out.flush();
    if (!out) return std::nullopt;
  }
  if (std::rename(tmp.c_str(), ca_file.c_str()) != 0) return std::nullopt;
  return ctx;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Loopback stand-in for the Anthropic API: records auth headers, answers 401"};
  unsigned short port = 0;
  std::string record;
  int max_seconds = 120;
  app.add_option("--port", port, "TCP port on 127.0.0.1 (0 picks a free one)");
  app.add_option("--record", record, "Append one JSON line per request to this file")->required();
  app.add_option("--max-seconds", max_seconds, "Exit after this many seconds")->check(CLI::Range(1, 3600));
  OAuth oauth;
  std::vector<std::string> first_refresh;
  app.add_option("--oauth-refresh-token", first_refresh,
                 "Serve OAuth refreshes; this refresh token is live (repeatable: each starts a chain of its own)");
  app.add_option("--oauth-prefix", oauth.prefix, "Issued tokens are PREFIX-access-N and PREFIX-refresh-N");
  app.add_option("--oauth-expires-in", oauth.expires_in, "expires_in of issued tokens, seconds")
      ->check(CLI::Range(1LL, 86400LL));
  std::optional<unsigned short> tls_port;
  std::string ca_file;
  app.add_option("--tls-port", tls_port, "Also serve HTTPS on 127.0.0.1:PORT (0 picks a free one)");
  app.add_option("--tls-ca-file", ca_file, "Write the throw-away CA's certificate (PEM) here");
  std::vector<std::string> login_codes;
  app.add_option("--oauth-login-code", login_codes,
                 "Serve logins too: this authorization code can be exchanged once (repeatable)");
  CLI11_PARSE(app, argc, argv);
  if (tls_port.has_value() == ca_file.empty()) {
    std::cerr << "pb_fake_api: --tls-port and --tls-ca-file go together\n";
    return 2;
  }
  if (!first_refresh.empty()) {
    oauth.enabled = true;
    oauth.live_refresh.insert(first_refresh.begin(), first_refresh.end());
  }
  if (!login_codes.empty()) {
    oauth.enabled = true;
    oauth.login_codes.insert(login_codes.begin(), login_codes.end());
  }

  Recorder recorder(record);
  if (!recorder.ok()) {
    std::cerr << "pb_fake_api: cannot open the record file " << record << "\n";
    return 1;
  }
  try {
    asio::io_context io;
    Listener listener(io, recorder, port, oauth);
    listener.accept();
    std::optional<asio::ssl::context> tls;
    std::optional<Listener> tls_listener;
    if (tls_port) {
      tls = tls_context(ca_file);
      if (!tls) {
        std::cerr << "pb_fake_api: cannot make the test CA or write it to " << ca_file << "\n";
        return 1;
      }
      try {
        tls_listener.emplace(io, recorder, *tls_port, oauth, &*tls);
      } catch (const boost::system::system_error& e) {
        std::cerr << "pb_fake_api: cannot listen on 127.0.0.1:" << *tls_port << " for TLS (" << e.code().message()
                  << "); is another stand-in or a server using that port?\n";
        return 2;
      }
      tls_listener->accept();
    }

    asio::steady_timer deadline(io, std::chrono::seconds(max_seconds));
    deadline.async_wait([&](beast::error_code ec) {
      if (!ec) io.stop();
    });
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](beast::error_code, int) { io.stop(); });

    if (tls_listener)
      std::cout << listener.port() << ' ' << tls_listener->port() << std::endl;
    else
      std::cout << listener.port() << std::endl;
    io.run();
    listener.stop();
    if (tls_listener) tls_listener->stop();
  } catch (const std::exception& e) {
    std::cerr << "pb_fake_api: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
