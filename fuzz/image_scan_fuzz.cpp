// Fuzzes the image scan (broker/audit/image_scan.cpp): the input is a
// `docker save` stream (outer tar, manifest.json, nested layer tars, gzip),
// read through a ByteReader in pieces whose size the first byte picks. It must
// never crash, hang or leak, and it keeps its own bounds.
#include <cstddef>
#include <cstdint>

#include "broker/audit/image_scan.hpp"
#include "fuzz/support/memory_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const std::size_t k_pieces[] = {1u << 20, 1, 7, 512, 4096, 65536, 100000, 3};
  pb::fuzz::MemoryReader reader(std::span(data + 1, size - 1), k_pieces[data[0] % 8]);
  pb::broker::audit::ScanOptions options;
  options.diff_ids = {"sha256:aaaa", "sha256:bbbb"};
  std::uint64_t last = 0;
  options.progress = [&](std::uint64_t bytes) {
    if (bytes < last) __builtin_trap();
    last = bytes;
  };
  auto scan = pb::broker::audit::scan_image_export(reader, options);
  if (scan.ok()) {
    if (scan->findings.size() > pb::broker::audit::k_max_findings) __builtin_trap();
    if (scan->bytes > size - 1) __builtin_trap();  // the scan stops at the end of the tar
    for (const auto& f : scan->findings) {
      if (f.marks == 0) __builtin_trap();
      if (f.layer_index >= static_cast<int>(scan->layers)) __builtin_trap();
      if (f.fate != pb::broker::audit::Fate::present && f.fate_layer <= f.layer_index) __builtin_trap();
    }
  }
  return 0;
}
