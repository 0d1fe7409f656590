#pragma once
// The Docker Engine API implementation of DockerClient (private to broker/docker;
// everyone else gets one from connect()).

#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "broker/docker/connect.hpp"
#include "broker/docker/docker_client.hpp"

namespace pb::broker::docker {

/// The newest API version this client speaks and the oldest it accepts.
inline constexpr const char* k_client_api_version = "1.43";
inline constexpr const char* k_min_api_version = "1.25";

std::shared_ptr<DockerClient> make_engine_client(const EngineConfig& config);

/// Compares dotted API versions numerically ("1.9" < "1.41"): <0, 0, >0.
int compare_api_versions(const std::string& a, const std::string& b);

/// Appends as much of `piece` to `target` as keeps it within `max` bytes;
/// true when some of it was dropped. One rule for logs, exec output and the demuxer.
bool append_capped(std::string& target, std::span<const std::byte> piece, std::size_t max);

/// Splits a multiplexed attach/logs stream (8-byte frame headers) into
/// stdout and stderr, each capped at `max` bytes (the rest is dropped).
class StreamDemuxer {
 public:
  explicit StreamDemuxer(std::size_t max) : m_max(max) {}
  void feed(std::span<const std::byte> bytes);
  std::string out;
  std::string err;
  bool truncated = false;

 private:
  std::size_t m_max;
  unsigned char m_header[8]{};
  std::size_t m_header_fill = 0;
  std::size_t m_remaining = 0;
  int m_stream = 1;
};

}  // namespace pb::broker::docker
