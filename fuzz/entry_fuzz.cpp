// Fuzzes the entry-file parser. The first byte picks the layer, so the fuzzer
// reaches code behind the authentication tag too:
//   0: the raw file (header, lengths, boxes) under a fixed key
//   1: meta.json text
//   2: a payload tar sealed into an otherwise valid entry (tar reader, meta
//      copy and checksum checks)
#include <cstddef>
#include <cstdint>

#include "vault/entry.hpp"

using namespace pb;
using namespace pb::vault;

namespace {
const Bytes k_key(32, 0x42);
const RandomSource k_zero = [](std::span<std::uint8_t> out) {
  for (auto& b : out) b = 0;
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  ByteSpan in(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      (void)parse_entry_header(in);
      (void)decode_entry(k_key, in, "");
      break;
    }
    case 1: {
      auto m = EntryMeta::from_json_text(as_chars(in));
      if (m.ok()) (void)m->to_json_text();
      break;
    }
    default: {
      // Build "PBVE" 1 16 id | meta box | payload box(in) by hand: the payload is the fuzz input.
      EntryMeta meta;
      meta.id = "0123456789abcdef";
      meta.name = "fuzz";
      auto file = encode_entry(k_key, meta, {}, k_zero);
      if (!file.ok()) return 0;
      Bytes header(file->begin(), file->begin() + 22);
      Bytes aad = header;
      aad.insert(aad.end(), {'p', 'a', 'y', 'l', 'o', 'a', 'd'});
      auto box = seal(k_key, in, aad, k_zero);
      if (!box.ok()) return 0;
      auto h = parse_entry_header(*file);
      if (!h.ok()) __builtin_trap();  // our own encoder must produce a valid layout
      Bytes out(file->begin(), file->begin() + static_cast<std::ptrdiff_t>(h->header_size + 4 + h->meta_box_size));
      const auto n = static_cast<std::uint32_t>(box->size());
      for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(n >> s));
      out.insert(out.end(), box->begin(), box->end());
      (void)decode_entry(k_key, out, meta.id);
      break;
    }
  }
  return 0;
}
