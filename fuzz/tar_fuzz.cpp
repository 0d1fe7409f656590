// Fuzzes the hostile-input tar reader.
#include <cstddef>
#include <cstdint>

#include "core/names.hpp"
#include "vault/archive.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto files = pb::vault::read_tar(pb::ByteSpan(data, size));
  if (files.ok()) {
    for (const auto& f : *files)
      if (!pb::is_plain_entry_name(f.name)) __builtin_trap();  // the reader's promise
  }
  return 0;
}
