// The test PKI and the stand-in's TLS mode, without Docker: the server's
// certificate verifies against the throw-away CA for every name Claude Code
// 2.x uses, a refresh over HTTPS rotates as over HTTP, and a TLS port that is
// taken stops the stand-in with a sentence.

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include <string>

#include "core/c_handles.hpp"
#include "tests/support/fake_api_process.hpp"
#include "tests/support/test_pki.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace pb::test {
namespace {

X509Ptr parse_certificate(const std::string& pem) {
  CPtr<BIO, BIO_free_all> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

TEST(TestPki, TheServerCertificateVerifiesAgainstTheCaForEachName) {
  auto pki = make_test_pki({"platform.claude.com", "api.anthropic.com", "localhost"}, {"127.0.0.1"});
  ASSERT_TRUE(pki.has_value());
  X509Ptr ca = parse_certificate(pki->ca_pem);
  X509Ptr cert = parse_certificate(pki->cert_pem);
  ASSERT_TRUE(ca && cert);
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_EQ(X509_check_ca(cert.get()), 0);

  CPtr<X509_STORE, X509_STORE_free> store(X509_STORE_new());
  ASSERT_EQ(X509_STORE_add_cert(store.get(), ca.get()), 1);
  CPtr<X509_STORE_CTX, X509_STORE_CTX_free> ctx(X509_STORE_CTX_new());
  ASSERT_EQ(X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr), 1);
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  EXPECT_EQ(X509_verify_cert(ctx.get()), 1) << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));

  for (const char* host : {"platform.claude.com", "api.anthropic.com", "localhost"})
    EXPECT_EQ(X509_check_host(cert.get(), host, 0, 0, nullptr), 1) << host;
  EXPECT_EQ(X509_check_host(cert.get(), "claude.ai", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);

  CPtr<BIO, BIO_free_all> bio(BIO_new_mem_buf(pki->key_pem.data(), static_cast<int>(pki->key_pem.size())));
  EvpPkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_TRUE(key);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
}

TEST(TestPki, EachCallMakesANewCa) {
  auto a = make_test_pki({"localhost"}, {});
  auto b = make_test_pki({"localhost"}, {});
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->ca_pem, b->ca_pem);
  EXPECT_NE(a->key_pem, b->key_pem);
}

/// POST /v1/oauth/token over HTTPS to 127.0.0.1:port as `host`, verifying the server against `ca_file`.
http::response<http::string_body> refresh_over_tls(unsigned short port, const std::string& ca_file,
                                                   const std::string& host, const std::string& refresh_token) {
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file(ca_file);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
  SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());
  stream.set_verify_callback(asio::ssl::host_name_verification(host));
  beast::get_lowest_layer(stream).connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  stream.handshake(asio::ssl::stream_base::client);
  http::request<http::string_body> req(http::verb::post, "/v1/oauth/token", 11);
  req.set(http::field::host, host);
  req.set(http::field::content_type, "application/json");
  req.body() = nlohmann::json{{"grant_type", "refresh_token"}, {"refresh_token", refresh_token}}.dump();
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  return res;
}

TEST(FakeApiTls, ServesTheRotatingOAuthServiceOverHttps) {
  OAuthService oauth{"sk-ant-ort01-CANARY-test-tls-first", "CANARY-test-tls", 120, 0, true, 0};
  FakeApi api(60, oauth);
  ASSERT_NE(api.tls_port(), 0);
  ASSERT_FALSE(api.ca_file().empty());

  auto first = refresh_over_tls(api.tls_port(), api.ca_file().string(), "platform.claude.com", oauth.refresh_token);
  EXPECT_EQ(first.result_int(), 200) << first.body();
  auto body = nlohmann::json::parse(first.body(), nullptr, false);
  ASSERT_TRUE(body.is_object());
  EXPECT_EQ(body.value("refresh_token", ""), "CANARY-test-tls-refresh-1");
  EXPECT_EQ(body.value("expires_in", 0), 120);

  auto again = refresh_over_tls(api.tls_port(), api.ca_file().string(), "api.anthropic.com", oauth.refresh_token);
  EXPECT_EQ(again.result_int(), 400) << "a used refresh token is revoked";

  EXPECT_EQ(api.refreshes_granted(), 1u);
  EXPECT_EQ(api.refreshes_refused(), 1u);
  EXPECT_EQ(api.last_issued(), "CANARY-test-tls-refresh-1");
  const auto requests = api.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_TRUE(requests[0].tls);
  EXPECT_EQ(requests[0].status, 200);
  EXPECT_EQ(requests[1].status, 400);
  EXPECT_EQ(requests[1].host, "api.anthropic.com");
}

TEST(FakeApiTls, ATakenTlsPortFailsWithASentence) {
  asio::io_context io;
  asio::ip::tcp::acceptor taken(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const unsigned short port = taken.local_endpoint().port();
  try {
    FakeApi api(10, OAuthService{"sk-ant-ort01-CANARY-test-taken", "CANARY-test-taken", 3600, 0, true, port});
    FAIL() << "the stand-in came up on a taken port";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace pb::test
