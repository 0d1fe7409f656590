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
};

class FakeApi {
 public:
  /// Starts the server; it exits by itself after `max_seconds`. Throws
  /// std::runtime_error when it does not come up.
  explicit FakeApi(int max_seconds = 300);
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
  /// Stops the server (idempotent); the record stays readable.
  void stop();

 private:
  std::filesystem::path m_dir;
  std::filesystem::path m_record;
  pid_t m_pid = -1;
  unsigned short m_port = 0;
};

}  // namespace pb::test
