#pragma once
// A byte buffer for secrets: wiped with OPENSSL_cleanse when it is destroyed,
// cleared or reallocated. Use it for keys, plaintext credentials and tar
// payloads; never copy its contents into a std::string that outlives the
// operation.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pb {

/// Wipes memory in a way the optimiser cannot remove.
void secure_wipe(void* data, std::size_t size) noexcept;

/// Allocator that wipes on deallocate, so growth never leaves copies behind.
template <typename T>
struct WipingAllocator {
  using value_type = T;
  WipingAllocator() = default;
  template <typename U>
  WipingAllocator(const WipingAllocator<U>&) noexcept {}  // NOLINT
  T* allocate(std::size_t n) { return std::allocator<T>{}.allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept {
    secure_wipe(p, n * sizeof(T));
    std::allocator<T>{}.deallocate(p, n);
  }
  template <typename U>
  bool operator==(const WipingAllocator<U>&) const noexcept {
    return true;
  }
};

using SecureBytes = std::vector<std::uint8_t, WipingAllocator<std::uint8_t>>;
/// A string for passphrases. The allocator wipes what lives on the heap; short
/// strings live inside the object (the small-string buffer), which the
/// destructor wipes too, so that no length of passphrase outlives its use.
class SecureString : public std::basic_string<char, std::char_traits<char>, WipingAllocator<char>> {
 public:
  using Base = std::basic_string<char, std::char_traits<char>, WipingAllocator<char>>;
  using Base::Base;
  SecureString() = default;
  SecureString(const SecureString&) = default;
  SecureString(SecureString&&) noexcept = default;
  SecureString& operator=(const SecureString&) = default;
  SecureString& operator=(SecureString&&) noexcept = default;
  ~SecureString() { secure_wipe(data(), capacity()); }
};

using Bytes = std::vector<std::uint8_t>;
using ByteSpan = std::span<const std::uint8_t>;

inline ByteSpan as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_chars(ByteSpan b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace pb
