#pragma once
// A ByteReader over bytes in memory that hands them out in pieces of a given
// size, so readers meet block boundaries anywhere (libarchive callbacks,
// nested streams).

#include <algorithm>
#include <cstring>
#include <span>

#include "broker/docker/docker_client.hpp"

namespace pb::fuzz {

class MemoryReader final : public broker::ByteReader {
 public:
  MemoryReader(std::span<const std::uint8_t> data, std::size_t piece)
      : m_data(data), m_piece(std::max<std::size_t>(piece, 1)) {}
  Result<std::size_t> read(std::span<std::byte> out) override {
    const std::size_t n = std::min({out.size(), m_data.size() - m_pos, m_piece});
    if (n > 0) std::memcpy(out.data(), m_data.data() + m_pos, n);
    m_pos += n;
    return n;
  }

 private:
  std::span<const std::uint8_t> m_data;
  std::size_t m_piece;
  std::size_t m_pos = 0;
};

}  // namespace pb::fuzz
