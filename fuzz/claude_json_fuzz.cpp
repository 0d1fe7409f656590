// Fuzzes the streaming .claude.json reducer and the login summary.
#include <cstddef>
#include <cstdint>

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
  (void)pb::vault::summarise_login(in, {});
  return 0;
}
