// Fuzzes the streaming .claude.json reducer and the login summary (whose
// expiry must be the whole number in the file).
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "vault/capture.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pb::ByteSpan in(data, size);
  auto reduced = pb::vault::reduce_claude_json(in, 1u << 20);
  if (reduced.ok()) {
    // Reducing is idempotent on its own output.
    auto again = pb::vault::reduce_claude_json(pb::ByteSpan(*reduced), 1u << 20);
    if (!again.ok() || *again != *reduced) __builtin_trap();
    (void)pb::vault::summarise_login({}, *reduced);
  }
  auto summary = pb::vault::summarise_login(in, {});
  if (summary.ok() && summary->expires_at) {
    // The expiry is the number in the file, not a float cast or an integer wrapped.
    auto j = nlohmann::json::parse(in.begin(), in.end(), nullptr, false);
    if (j.is_object() && j.contains("claudeAiOauth") && j["claudeAiOauth"].is_object() &&
        j["claudeAiOauth"].contains("expiresAt") &&
        j["claudeAiOauth"]["expiresAt"] != nlohmann::json(*summary->expires_at))
      __builtin_trap();
  }
  return 0;
}
