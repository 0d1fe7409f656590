#pragma once
// RAII aliases for every C handle the project uses. Include this from .cpp
// files only: OpenSSL and libarchive types stay out of public headers.
// Never call *_free / close() by hand on these handles.

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <memory>
#include <utility>

namespace pb {

template <typename T, void (*Free)(T*)>
struct CFree {
  void operator()(T* p) const noexcept {
    if (p != nullptr) Free(p);
  }
};

template <typename T, void (*Free)(T*)>
using CPtr = std::unique_ptr<T, CFree<T, Free>>;

using EvpCipherCtx = CPtr<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
using EvpMdCtx = CPtr<EVP_MD_CTX, EVP_MD_CTX_free>;
using EvpPkeyCtx = CPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using EvpKdf = CPtr<EVP_KDF, EVP_KDF_free>;
using EvpKdfCtx = CPtr<EVP_KDF_CTX, EVP_KDF_CTX_free>;
using EvpMac = CPtr<EVP_MAC, EVP_MAC_free>;
using EvpMacCtx = CPtr<EVP_MAC_CTX, EVP_MAC_CTX_free>;
using X509Ptr = CPtr<X509, X509_free>;
using EvpPkey = CPtr<EVP_PKEY, EVP_PKEY_free>;
using SslCtxPtr = CPtr<SSL_CTX, SSL_CTX_free>;

namespace detail {
inline void archive_read_release(struct archive* a) {
  archive_read_free(a);
}
inline void archive_write_release(struct archive* a) {
  archive_write_free(a);
}
inline void archive_entry_release(struct archive_entry* e) {
  archive_entry_free(e);
}
}  // namespace detail

using ArchiveRead = CPtr<struct archive, detail::archive_read_release>;
using ArchiveWrite = CPtr<struct archive, detail::archive_write_release>;
using ArchiveEntry = CPtr<struct archive_entry, detail::archive_entry_release>;

/// An owned file descriptor, closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : m_fd(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : m_fd(std::exchange(o.m_fd, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.m_fd, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return m_fd; }
  bool valid() const noexcept { return m_fd >= 0; }
  int release() noexcept { return std::exchange(m_fd, -1); }
  void reset(int fd = -1) noexcept {
    if (m_fd >= 0) ::close(m_fd);
    m_fd = fd;
  }

 private:
  int m_fd = -1;
};

}  // namespace pb
