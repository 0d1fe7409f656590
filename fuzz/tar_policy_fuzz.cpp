// libFuzzer target: the tar entry policy (broker/capture/tar_policy.hpp) on
// arbitrary bytes, with both a whole-file and a streamed .claude.json entry.
// It must never crash, hang or accept anything but regular files by name.

#include <cstddef>
#include <cstdint>

#include "broker/capture/tar_policy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using pb::broker::capture::TarPolicy;
  using pb::broker::capture::WantedFile;
  static const TarPolicy policy{{{".credentials.json", WantedFile::Mode::whole, 1u << 16},
                                 {".claude.json", WantedFile::Mode::claude_json, 1u << 16}},
                                4};
  auto r = pb::broker::capture::read_tar(pb::ByteSpan(data, size), policy, "fuzz input");
  if (r.ok()) {
    for (const auto& [name, bytes] : *r) {
      if (name != ".credentials.json" && name != ".claude.json") __builtin_trap();
      if (bytes.size() > (1u << 16)) __builtin_trap();
    }
  }
  return 0;
}
