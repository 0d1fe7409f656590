#pragma once
// A throw-away certificate authority and one server certificate it signed,
// made fresh in memory with OpenSSL 3 for a test run (nothing in the
// repository, no `openssl` command). The loopback stand-in serves TLS with it
// and a container trusts it through NODE_EXTRA_CA_CERTS.
//
//   auto pki = pb::test::make_test_pki({"platform.claude.com", "localhost"}, {"127.0.0.1"});
//   // pki->ca_pem: the CA's certificate; pki->cert_pem + pki->key_pem: the server's

#include <optional>
#include <string>
#include <vector>

namespace pb::test {

struct TestPki {
  std::string ca_pem;    ///< the CA's certificate (PEM); its key is gone with the call
  std::string cert_pem;  ///< the server's certificate, signed by the CA (PEM)
  std::string key_pem;   ///< the server's private key (PEM, unencrypted; a test key)
};

/// A CA (EC P-256, valid one day) and a server certificate for these DNS names
/// and IP addresses (subjectAltName); nullopt when OpenSSL fails.
std::optional<TestPki> make_test_pki(const std::vector<std::string>& dns_names, const std::vector<std::string>& ips);

}  // namespace pb::test
