#include "tests/support/test_pki.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "core/c_handles.hpp"

namespace pb::test {

namespace {

using BioPtr = CPtr<BIO, BIO_free_all>;
using X509ExtensionPtr = CPtr<X509_EXTENSION, X509_EXTENSION_free>;

EvpPkey new_key() {
  return EvpPkey(EVP_EC_gen("P-256"));
}

/// A certificate for `key` named `common_name`, issued by `issuer` (itself when null), valid from an hour ago for a
/// day.
X509Ptr new_certificate(EVP_PKEY* key, const std::string& common_name, X509* issuer) {
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) return nullptr;
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return nullptr;
  serial[0] &= 0x7f;  // a positive serial number
  CPtr<BIGNUM, BN_free> bn(BN_bin2bn(serial, sizeof serial, nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())) == nullptr) return nullptr;
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400) == nullptr)
    return nullptr;
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("para-broker tests"),
                                 -1, -1, 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()),
                                 -1, -1, 0) != 1)
    return nullptr;
  if (X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name) != 1) return nullptr;
  if (X509_set_pubkey(cert.get(), key) != 1) return nullptr;
  return cert;
}

bool add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, nullptr, nullptr, 0);
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

std::string pem_of(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return "";
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : "";
}

std::string pem_of(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) return "";
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : "";
}

}  // namespace

std::optional<TestPki> make_test_pki(const std::vector<std::string>& dns_names, const std::vector<std::string>& ips) {
  EvpPkey ca_key = new_key();
  EvpPkey key = new_key();
  if (!ca_key || !key) return std::nullopt;

  X509Ptr ca = new_certificate(ca_key.get(), "para-broker test CA (throw-away)", nullptr);
  if (!ca || !add_extension(ca.get(), nullptr, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
      !add_extension(ca.get(), nullptr, NID_key_usage, "critical,keyCertSign,cRLSign") ||
      !add_extension(ca.get(), nullptr, NID_subject_key_identifier, "hash") ||
      X509_sign(ca.get(), ca_key.get(), EVP_sha256()) == 0)
    return std::nullopt;

  std::string san;
  for (const auto& d : dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + d;
  for (const auto& ip : ips) san += (san.empty() ? "IP:" : ",IP:") + ip;
  const std::string common_name = dns_names.empty() ? (ips.empty() ? "localhost" : ips.front()) : dns_names.front();
  X509Ptr cert = new_certificate(key.get(), common_name, ca.get());
  if (!cert || !add_extension(cert.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !add_extension(cert.get(), ca.get(), NID_key_usage, "critical,digitalSignature") ||
      !add_extension(cert.get(), ca.get(), NID_ext_key_usage, "serverAuth") ||
      !add_extension(cert.get(), ca.get(), NID_subject_key_identifier, "hash") ||
      !add_extension(cert.get(), ca.get(), NID_authority_key_identifier, "keyid:always") ||
      (!san.empty() && !add_extension(cert.get(), ca.get(), NID_subject_alt_name, san)) ||
      X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0)
    return std::nullopt;

  TestPki pki{pem_of(ca.get()), pem_of(cert.get()), pem_of(key.get())};
  if (pki.ca_pem.empty() || pki.cert_pem.empty() || pki.key_pem.empty()) return std::nullopt;
  return pki;
}

}  // namespace pb::test
