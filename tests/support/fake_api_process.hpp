#pragma once
// Starts pb_fake_api (the loopback Anthropic-API stand-in) for one test and
// stops it again; reads back what it recorded.
//
//   pb::test::FakeApi api;                      // listening on 127.0.0.1:api.port()
//   ... run claude with ANTHROPIC_BASE_URL=api.base_url() and --network host ...
//   EXPECT_TRUE(api.saw_authorization("Bearer sk-ant-oat01-CANARY-test-…"));
//
// With OAuthService::tls it also serves HTTPS on 127.0.0.1:443 with a
// throw-away CA made for the run (api.ca_file() is its certificate, for
// NODE_EXTRA_CA_CERTS): Claude Code 2.x, whose hosts are fixed, reaches it with
// --add-host platform.claude.com:127.0.0.1 --add-host api.anthropic.com:127.0.0.1.

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace pb::test {

struct RecordedRequest {
  std::string method;
  std::string target;
  std::string host;
  std::optional<std::string> authorization;
  std::optional<std::string> x_api_key;
  std::optional<std::string> oauth_presented;  ///< a refresh: the refresh token it presented
  std::optional<std::string> oauth_issued;     ///< a granted refresh: the refresh token it got
  std::optional<std::string> session;          ///< the X-Pb-Session header, when the client sent one
  bool tls = false;                            ///< came over HTTPS
  int status = 0;                              ///< the status code it was answered with
  long long time_ms = 0;                       ///< when it came (ms since the epoch)
  std::optional<std::string> login_issued;     ///< a granted code exchange: the access token it got
  bool login_refused = false;                  ///< a refused code exchange
  std::vector<std::string> login_fields;       ///< a code exchange: the names of its body's fields
  std::optional<std::string> login_page;       ///< a sign-in page that handed out a code: "full" or "compact" URL
  std::optional<bool>
      login_pkce_verified;  ///< a code exchange of a code from a sign-in page: PKCE, redirect and state held
};

/// The stand-in as Claude Code's OAuth service, rotating strictly (a used
/// refresh token is revoked): see tests/support/fake_api.cpp.
struct OAuthService {
  std::string refresh_token;  ///< the one live refresh token at the start
  std::string prefix;         ///< issued tokens are <prefix>-access-N, <prefix>-refresh-N
  long long expires_in = 3600;
  unsigned short port = 0;  ///< 0 picks a free one; 1.0.x's USE_LOCAL_OAUTH needs 3000
  bool tls = false;         ///< also serve HTTPS on tls_port, with a throw-away CA (ca_file())
  unsigned short tls_port = 443;
  /// Authorization codes the sign-in page hands out (FakeApi::sign_in), in
  /// order; a login exchanges each once (none: no logins).
  std::vector<std::string> login_codes = {};
};

class FakeApi {
 public:
  /// Starts the server; it exits by itself after `max_seconds`. Throws
  /// std::runtime_error when it does not come up (with the server's sentence,
  /// e.g. that the TLS port is taken).
  explicit FakeApi(int max_seconds = 300);
  /// The OAuth service and the API behind it: /v1/messages answers only live access tokens.
  FakeApi(int max_seconds, const OAuthService& oauth);
  ~FakeApi();
  FakeApi(const FakeApi&) = delete;
  FakeApi& operator=(const FakeApi&) = delete;

  unsigned short port() const { return m_port; }
  /// The HTTPS port, 0 without OAuthService::tls.
  unsigned short tls_port() const { return m_tls_port; }
  /// The throw-away CA's certificate (PEM), empty without OAuthService::tls.
  const std::filesystem::path& ca_file() const { return m_ca_file; }
  /// "http://127.0.0.1:<port>", for ANTHROPIC_BASE_URL (and HTTPS_PROXY, which
  /// keeps every other request of the client on this machine).
  std::string base_url() const;
  /// Every request recorded so far, oldest first.
  std::vector<RecordedRequest> requests() const;
  /// Whether any request carried exactly this Authorization header.
  bool saw_authorization(const std::string& value) const;
  /// The file the server records requests in (Authorization headers included).
  const std::filesystem::path& record_file() const { return m_record; }
  /// Refreshes granted and refused so far.
  std::size_t refreshes_granted() const;
  std::size_t refreshes_refused() const;
  /// Opens the sign-in URL Claude Code printed as the user's browser would,
  /// here (whatever its host), and returns what the page shows to paste
  /// (CODE#STATE), or "" when the page refused.
  std::string sign_in(const std::string& url) const;
  /// The access token the last granted code exchange issued ("" before one).
  std::string last_login_issued() const;
  /// The refresh token issued last ("" before the first refresh).
  std::string last_issued() const;
  /// Stops the server (idempotent); the record stays readable.
  void stop();

 private:
  void start(std::vector<std::string> args);
  void spawn(std::vector<std::string> args);

  std::filesystem::path m_dir;
  std::filesystem::path m_record;
  std::filesystem::path m_ca_file;
  pid_t m_pid = -1;
  unsigned short m_port = 0;
  unsigned short m_tls_port = 0;
};

/// How a container reaches the stand-in and nothing else: 1.0.x through
/// USE_LOCAL_OAUTH and ANTHROPIC_BASE_URL (http://localhost:3000); 2.x, whose
/// hosts are fixed, through --add-host to the stand-in's HTTPS port with its
/// CA trusted, and every other host through the proxy variables, which the
/// stand-in refuses.
/// (`name` names the container; `tag` goes with every API request as X-Pb-Session.)
std::vector<std::string> docker_client_args(const FakeApi& api, const std::string& name, const std::string& tag);

}  // namespace pb::test
