#include "vault/crypto.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <chrono>
#include <cstdlib>

#include "core/c_handles.hpp"

namespace pb::vault {
namespace {

Error crypto_failure(std::string_view what) {
  return fail(ErrorKind::failure, std::string(what) + " failed inside OpenSSL");
}

}  // namespace

void init_crypto_library() {
  // Measured on a mount (bench/run): the configuration and the teardown at
  // exit were about a millisecond of every command that opens the vault.
  OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ATEXIT, nullptr);
}

RandomSource system_random() {
  return [](std::span<std::uint8_t> out) {
    if (out.empty()) return;
    if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) std::abort();
  };
}

Clock system_clock() {
  return [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
}

Result<Bytes> seal_with_nonce(ByteSpan key, ByteSpan nonce, ByteSpan plaintext, ByteSpan aad) {
  if (key.size() != k_key_size || nonce.size() != k_nonce_size)
    return fail(ErrorKind::failure, "sealing needs a 32-byte key and a 12-byte nonce");
  EvpCipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return crypto_failure("creating a cipher context");
  if (EVP_EncryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), key.data(), nonce.data(), nullptr) != 1)
    return crypto_failure("initialising AES-256-GCM");
  int len = 0;
  if (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1)
    return crypto_failure("authenticating associated data");
  Bytes out(k_nonce_size + plaintext.size() + k_tag_size);
  std::copy(nonce.begin(), nonce.end(), out.begin());
  std::uint8_t* ct = out.data() + k_nonce_size;
  int written = 0;
  if (!plaintext.empty()) {
    if (EVP_EncryptUpdate(ctx.get(), ct, &len, plaintext.data(), static_cast<int>(plaintext.size())) != 1)
      return crypto_failure("encrypting");
    written = len;
  }
  if (EVP_EncryptFinal_ex(ctx.get(), ct + written, &len) != 1) return crypto_failure("finishing encryption");
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(k_tag_size),
                          out.data() + k_nonce_size + plaintext.size()) != 1)
    return crypto_failure("reading the GCM tag");
  return out;
}

Result<Bytes> seal(ByteSpan key, ByteSpan plaintext, ByteSpan aad, const RandomSource& random) {
  std::array<std::uint8_t, k_nonce_size> nonce{};
  random(nonce);
  return seal_with_nonce(key, nonce, plaintext, aad);
}

Result<SecureBytes> open(ByteSpan key, ByteSpan box, ByteSpan aad) {
  if (key.size() != k_key_size) return fail(ErrorKind::failure, "opening needs a 32-byte key");
  if (box.size() < k_box_overhead) return fail(ErrorKind::integrity, "sealed data is truncated");
  const std::size_t ct_size = box.size() - k_box_overhead;
  EvpCipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return crypto_failure("creating a cipher context");
  if (EVP_DecryptInit_ex2(ctx.get(), EVP_aes_256_gcm(), key.data(), box.data(), nullptr) != 1)
    return crypto_failure("initialising AES-256-GCM");
  int len = 0;
  if (!aad.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1)
    return crypto_failure("authenticating associated data");
  SecureBytes out(ct_size);
  int written = 0;
  if (ct_size > 0) {
    if (EVP_DecryptUpdate(ctx.get(), out.data(), &len, box.data() + k_nonce_size, static_cast<int>(ct_size)) != 1)
      return crypto_failure("decrypting");
    written = len;
  }
  // The tag is only an input here; OpenSSL's API wants a non-const pointer.
  std::array<std::uint8_t, k_tag_size> tag{};
  std::copy(box.end() - k_tag_size, box.end(), tag.begin());
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(k_tag_size), tag.data()) != 1)
    return crypto_failure("setting the GCM tag");
  std::uint8_t scratch[16];
  if (EVP_DecryptFinal_ex(ctx.get(), scratch, &len) != 1) {
    // `out` is wiped by its allocator: unauthenticated plaintext never escapes.
    return fail(ErrorKind::integrity, "authentication failed");
  }
  (void)written;
  return out;
}

std::array<std::uint8_t, 32> sha256(ByteSpan data) {
  std::array<std::uint8_t, 32> out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

std::array<std::uint8_t, 32> hmac_sha256(ByteSpan key, ByteSpan data) {
  std::array<std::uint8_t, 32> out{};
  std::size_t len = 0;
  EvpMac mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  EvpMacCtx ctx(mac ? EVP_MAC_CTX_new(mac.get()) : nullptr);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (!ctx || EVP_MAC_init(ctx.get(), key.data(), key.size(), params) != 1 ||
      EVP_MAC_update(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) != 1)
    std::abort();  // HMAC-SHA256 is always available in OpenSSL 3; failing here means a broken library
  return out;
}

Result<SecureBytes> hkdf_sha256(ByteSpan ikm, std::string_view info, std::size_t size) {
  EvpKdf kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  EvpKdfCtx ctx(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr);
  if (!ctx) return crypto_failure("creating an HKDF context");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(ikm.data()), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size()),
      OSSL_PARAM_construct_end()};
  SecureBytes out(size);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) return crypto_failure("HKDF");
  return out;
}

Result<SecureBytes> scrypt(std::string_view passphrase, ByteSpan salt, const ScryptParams& p) {
  EvpKdf kdf(EVP_KDF_fetch(nullptr, "SCRYPT", nullptr));
  EvpKdfCtx ctx(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr);
  if (!ctx) return crypto_failure("creating a scrypt context");
  std::uint64_t n = p.n;
  std::uint32_t r = p.r, par = p.p;
  // scrypt needs 128*N*r bytes; allow that plus slack.
  std::uint64_t maxmem = 128 * n * r * 2 + (std::uint64_t{1} << 20);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, const_cast<char*>(passphrase.data()),
                                        passphrase.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<std::uint8_t*>(salt.data()), salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &par),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
      OSSL_PARAM_construct_end()};
  SecureBytes out(k_key_size);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) return crypto_failure("scrypt");
  return out;
}

bool equal_ct(ByteSpan a, ByteSpan b) noexcept {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string to_hex(ByteSpan data) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string s;
  s.reserve(data.size() * 2);
  for (std::uint8_t b : data) {
    s.push_back(k_digits[b >> 4]);
    s.push_back(k_digits[b & 15]);
  }
  return s;
}

Result<Bytes> from_hex(std::string_view hex) {
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return fail(ErrorKind::integrity, "hex text has an odd length");
  Bytes out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = val(hex[2 * i]), lo = val(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return fail(ErrorKind::integrity, "hex text has a non-hex character");
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out;
}

}  // namespace pb::vault
