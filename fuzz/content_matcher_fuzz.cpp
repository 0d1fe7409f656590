// Fuzzes the content matcher (broker/audit/content_matcher.cpp): the file is
// fed in blocks whose sizes come from the input, and what it finds must not
// depend on where the blocks end (scan_bytes sees the file whole). The name
// helpers get the same bytes as a path.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "broker/audit/content_matcher.hpp"

using namespace pb::broker::audit;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const bool claude_json = (data[0] & 1) != 0;
  const std::size_t step = 1 + data[1];
  const std::string_view file(reinterpret_cast<const char*>(data + 2), size - 2);

  ContentMatcher m(claude_json);
  std::size_t at = 0;
  std::size_t n = step;
  while (at < file.size()) {
    const std::size_t take = std::min(n, file.size() - at);
    m.feed(std::as_bytes(std::span(file.data() + at, take)));
    at += take;
    n = n * 7 % 257 + 1;  // blocks of varying size
  }
  m.finish();
  if (m.found() != scan_bytes(file, claude_json)) __builtin_trap();
  if (m.found() >= (MarkSet{1} << k_mark_kinds)) __builtin_trap();
  for (const auto& name : mark_names(m.found()))
    if (name.empty()) __builtin_trap();
  (void)is_claude_json_name(file);
  (void)is_credentials_name(file);
  return 0;
}
