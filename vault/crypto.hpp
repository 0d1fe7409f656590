#pragma once
// Cryptographic primitives of the vault over byte spans (OpenSSL 3 EVP inside,
// nothing of OpenSSL in this header).
//
// A sealed box is   nonce(12) || ciphertext || tag(16)   under AES-256-GCM;
// the caller's associated data is authenticated but not stored.

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/secure_buffer.hpp"

namespace pb::vault {

inline constexpr std::size_t k_key_size = 32;    ///< AES-256, HMAC-SHA256 keys
inline constexpr std::size_t k_nonce_size = 12;  ///< 96-bit GCM nonce
inline constexpr std::size_t k_tag_size = 16;    ///< 128-bit GCM tag
inline constexpr std::size_t k_box_overhead = k_nonce_size + k_tag_size;

/// Fills a buffer with random bytes. Injected so that tests are deterministic.
using RandomSource = std::function<void(std::span<std::uint8_t>)>;
/// Milliseconds since the Unix epoch. Injected so that tests are deterministic.
using Clock = std::function<std::int64_t()>;

/// Starts OpenSSL for a short-lived process that uses a fixed set of
/// algorithms: the system's openssl.cnf (or $OPENSSL_CONF) is not read, so,
/// unless the process talks TLS to Docker (the client then loads the
/// configuration for its protocol and cipher policy), no configuration loads a
/// provider or engine module into the process that holds the vault key; and
/// nothing is torn down at exit. Must run before any other OpenSSL call to
/// take effect; later calls do nothing.
void init_crypto_library();

/// The operating system's CSPRNG (OpenSSL RAND_bytes); aborts if it fails,
/// since continuing without randomness would be worse than stopping.
RandomSource system_random();
/// The wall clock.
Clock system_clock();

/// Encrypts `plaintext` with a fresh random nonce; returns nonce||ct||tag.
Result<Bytes> seal(ByteSpan key, ByteSpan plaintext, ByteSpan aad, const RandomSource& random);
/// Encrypts with a caller-chosen nonce (known-answer tests only).
Result<Bytes> seal_with_nonce(ByteSpan key, ByteSpan nonce, ByteSpan plaintext, ByteSpan aad);
/// Authenticates and decrypts a sealed box; ErrorKind::integrity when anything
/// (key, nonce, ciphertext, tag or aad) does not match.
Result<SecureBytes> open(ByteSpan key, ByteSpan box, ByteSpan aad);

/// SHA-256 of `data`.
std::array<std::uint8_t, 32> sha256(ByteSpan data);
/// HMAC-SHA256 of `data` under `key`.
std::array<std::uint8_t, 32> hmac_sha256(ByteSpan key, ByteSpan data);
/// HKDF-SHA256 (RFC 5869) of `ikm` with `info`, no salt, `size` bytes.
Result<SecureBytes> hkdf_sha256(ByteSpan ikm, std::string_view info, std::size_t size = k_key_size);

/// scrypt parameters; the defaults are what new passphrases get (about half a
/// second and 128 MiB here), older headers keep theirs (docs/vault-format.md).
struct ScryptParams {
  std::uint64_t n = std::uint64_t{1} << 17;
  std::uint32_t r = 8;
  std::uint32_t p = 1;
};
/// scrypt (RFC 7914) through EVP_KDF; a 32-byte key.
Result<SecureBytes> scrypt(std::string_view passphrase, ByteSpan salt, const ScryptParams& params);

/// Constant-time comparison.
bool equal_ct(ByteSpan a, ByteSpan b) noexcept;

/// Lower-case hex of bytes, and back (nullopt-like failure as integrity error).
std::string to_hex(ByteSpan data);
Result<Bytes> from_hex(std::string_view hex);

}  // namespace pb::vault
