#pragma once
// One frame of Docker's multiplexed stream (logs and exec without a TTY):
// the stream number, three zero bytes, the payload's size (big-endian), the payload.

#include <cstdint>
#include <string>

namespace pb::test {

inline std::string stream_frame(int stream, const std::string& payload) {
  std::string h(8, '\0');
  h[0] = static_cast<char>(stream);
  auto n = static_cast<std::uint32_t>(payload.size());
  h[4] = static_cast<char>(n >> 24);
  h[5] = static_cast<char>(n >> 16);
  h[6] = static_cast<char>(n >> 8);
  h[7] = static_cast<char>(n);
  return h + payload;
}

}  // namespace pb::test
