#pragma once
// Starts pb_fake_api (the loopback Anthropic-API stand-in) for one test and
// stops it again; reads back what it recorded.
//
//   pb::test::FakeApi api;                      // listening on 127.0.0.1:api.port()
//   ... run claude with ANTHROPIC_BASE_URL=api.base_url() and --network host ...
//   EXPECT_TRUE(api.saw_authorization("Bearer sk-ant-oat01-CANARY-test-…"));

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
  std::optional<std::string> login_issued;     ///< a granted code exchange: the access token it got
  bool login_refused = false;                  ///< a refused code exchange
  std::vector<std::string> login_fields;       ///< a code exchange: the names of its body's fields
};

/// The stand-in as Claude Code's OAuth service, rotating strictly (a used
/// refresh token is revoked): see tests/support/fake_api.cpp.
struct OAuthService {
  std::string refresh_token;  ///< the one live refresh token at the start
  std::string prefix;         ///< issued tokens are <prefix>-access-N, <prefix>-refresh-N
  long long expires_in = 3600;
  unsigned short port = 0;  ///< 0 picks a free one; 1.0.x's USE_LOCAL_OAUTH needs 3000
  /// Authorization codes a login may exchange, once each (none: no logins).
  std::vector<std::string> login_codes = {};
};

class FakeApi {
 public:
  /// Starts the server; it exits by itself after `max_seconds`. Throws
  /// std::runtime_error when it does not come up.
  explicit FakeApi(int max_seconds = 300);
  /// The OAuth service and the API behind it: /v1/messages answers only live access tokens.
  FakeApi(int max_seconds, const OAuthService& oauth);
  ~FakeApi();
  FakeApi(const FakeApi&) = delete;
  FakeApi& operator=(const FakeApi&) = delete;

  unsigned short port() const { return m_port; }
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
  /// The access token the last granted code exchange issued ("" before one).
  std::string last_login_issued() const;
  /// The refresh token issued last ("" before the first refresh).
  std::string last_issued() const;
  /// Stops the server (idempotent); the record stays readable.
  void stop();

 private:
  void start(std::vector<std::string> args);

  std::filesystem::path m_dir;
  std::filesystem::path m_record;
  pid_t m_pid = -1;
  unsigned short m_port = 0;
};

}  // namespace pb::test
