// The stand-in's logins, without Docker: its sign-in page hands out a code
// bound to the PKCE challenge, the redirect URI and the state of the URL the
// user opened (2.x's compact URL and the full one), and the code exchange
// grants only such a code, once, with the verifier that hashes to that
// challenge and that redirect URI and state.

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <string>

#include "tests/support/fake_api_process.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace pb::test {
namespace {

constexpr const char* k_manual_redirect = "https://platform.claude.com/oauth/code/callback";
const std::string k_verifier = "pb-test-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";

/// The S256 challenge of `verifier`, made here with EVP (base64, then made URL-safe and unpadded).
std::string challenge_of(const std::string& verifier) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(verifier.data(), verifier.size(), md, &n, EVP_sha256(), nullptr);
  unsigned char b64[64];
  const int len = EVP_EncodeBlock(b64, md, static_cast<int>(n));
  std::string out(reinterpret_cast<const char*>(b64), static_cast<std::size_t>(len));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

/// POST /v1/oauth/token (authorization_code) to the stand-in's plain port; the answer's status.
int exchange(const FakeApi& api, const std::string& code, const std::string& verifier, const std::string& redirect,
             const std::string& state) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), api.port()));
  http::request<http::string_body> req(http::verb::post, "/v1/oauth/token", 11);
  req.set(http::field::host, "platform.claude.com");
  req.set(http::field::content_type, "application/json");
  req.body() =
      nlohmann::json{{"grant_type", "authorization_code"}, {"code", code},
                     {"redirect_uri", redirect},           {"client_id", "9d1c250a-e61b-44d9-88ed-5944d1962f5e"},
                     {"code_verifier", verifier},          {"state", state}}
          .dump();
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  return res.result_int();
}

OAuthService login_service(const std::string& code) {
  OAuthService o;
  o.prefix = "sk-ant-CANARY-test-unit-login";
  o.login_codes = {code};
  return o;
}

TEST(FakeApiLogin, TheCompactSignInUrlBindsTheCodeToItsPkceChallenge) {
  const std::string code = "CANARY-test-unit-code-compact";
  FakeApi api(60, login_service(code));
  EXPECT_EQ(exchange(api, code, k_verifier, k_manual_redirect, "s"), 400) << "a code no sign-in page handed out";
  const std::string pasted = api.sign_in("https://claude.ai/oauth/authorize?z-" + challenge_of(k_verifier));
  ASSERT_EQ(pasted.substr(0, pasted.find('#')), code);
  EXPECT_NE(pasted.find('#'), std::string::npos) << "the page shows CODE#STATE";
  EXPECT_EQ(api.sign_in("https://claude.ai/oauth/authorize?z-" + challenge_of(k_verifier)), "")
      << "one code, handed out once";

  EXPECT_EQ(exchange(api, code, k_verifier + "x", k_manual_redirect, "s"), 400) << "another verifier";
  EXPECT_EQ(exchange(api, code, k_verifier, "http://localhost:1/callback", "s"), 400) << "another redirect URI";
  EXPECT_EQ(exchange(api, code, k_verifier, k_manual_redirect, "s"), 200);
  EXPECT_EQ(exchange(api, code, k_verifier, k_manual_redirect, "s"), 400) << "a code works once";
  EXPECT_EQ(api.last_login_issued(), "sk-ant-CANARY-test-unit-login-access-1");

  int pages = 0, verified = 0, refused = 0;
  for (const auto& r : api.requests()) {
    pages += r.login_page == "compact";
    verified += r.login_pkce_verified == true;
    refused += r.login_pkce_verified == false;
  }
  EXPECT_EQ(pages, 1);
  EXPECT_EQ(verified, 1);
  EXPECT_EQ(refused, 2) << "the exchange before the sign-in was refused before PKCE was looked at";
}

TEST(FakeApiLogin, TheFullSignInUrlAlsoBindsItsState) {
  const std::string code = "CANARY-test-unit-code-full";
  FakeApi api(60, login_service(code));
  const std::string url =
      "https://claude.com/cai/oauth/authorize?code=true&client_id=9d1c250a-e61b-44d9-88ed-5944d1962f5e"
      "&response_type=code&redirect_uri=https%3A%2F%2Fplatform.claude.com%2Foauth%2Fcode%2Fcallback"
      "&scope=user%3Ainference+user%3Aprofile&code_challenge=" +
      challenge_of(k_verifier) + "&code_challenge_method=S256&state=pb-state-1";
  EXPECT_EQ(api.sign_in(url), code + "#pb-state-1");
  EXPECT_EQ(exchange(api, code, k_verifier, k_manual_redirect, "pb-state-2"), 400) << "another state";
  EXPECT_EQ(exchange(api, code, k_verifier, k_manual_redirect, "pb-state-1"), 200);
}

TEST(FakeApiLogin, ASignInUrlWithoutAChallengeIsRefused) {
  FakeApi api(60, login_service("CANARY-test-unit-code-none"));
  EXPECT_EQ(api.sign_in("https://claude.ai/oauth/authorize?z-short"), "");
  EXPECT_EQ(api.sign_in("https://claude.com/cai/oauth/authorize?code=true&response_type=code&state=s"), "");
  EXPECT_EQ(api.sign_in("https://claude.com/cai/oauth/authorize?code=true&client_id=c&response_type=code"
                        "&redirect_uri=r&code_challenge=" +
                        challenge_of(k_verifier) + "&code_challenge_method=plain&state=s"),
            "")
      << "S256 only";
}

}  // namespace
}  // namespace pb::test
