// The portable parts of the platform seam (core/platform.hpp).
#include "core/platform.hpp"

namespace pb::platform {
namespace {

class NoKeyCache final : public KeyCache {
 public:
  std::string_view where() const noexcept override { return "nothing (this platform has no key cache)"; }
  std::optional<SecureBytes> load(const std::string&, std::chrono::seconds) override { return std::nullopt; }
  void store(const std::string&, ByteSpan, std::chrono::seconds) override {}
  void revoke(const std::string&) override {}
};

}  // namespace

KeyCache& no_key_cache() {
  static NoKeyCache cache;
  return cache;
}

namespace detail {

std::optional<std::uint64_t> parse_proc_timeout(std::string_view field) {
  if (field.size() < 2) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : field.substr(0, field.size() - 1)) {
    if (c < '0' || c > '9' || n > (std::uint64_t{1} << 40)) return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  switch (field.back()) {
    case 's':
      return n;
    case 'm':
      return n * 60;
    case 'h':
      return n * 3600;
    case 'd':
      return n * 86400;
    case 'w':
      return n * 604800;
    default:
      return std::nullopt;  // "perm", "expd"
  }
}

}  // namespace detail
}  // namespace pb::platform
