#pragma once
// A ByteReader (a container archive, a volume's tar, an image export) as the
// source of a libarchive reader: the one read callback, its buffer, the
// count of bytes read, an optional bound on them, and the error that ended
// the stream, kept for the caller (libarchive only learns "-1").
//
// Include it from .cpp files only, as core/c_handles.hpp: it names
// libarchive's `struct archive` (declared, not defined, here).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "broker/docker/docker_client.hpp"
#include "core/error.hpp"
#include "core/secure_buffer.hpp"

struct archive;

namespace pb::broker {

class ArchiveSource {
 public:
  struct Options {
    /// Bytes asked of the reader at a time (held in a buffer wiped afterwards).
    std::size_t buffer_size = 64 * 1024;
    /// More bytes than this from the reader end the stream with
    /// ErrorKind::unsafe_input ("it is larger than N bytes"); nullopt = no bound.
    std::optional<std::uint64_t> limit = std::nullopt;
  };

  explicit ArchiveSource(ByteReader& reader) : ArchiveSource(reader, Options{}) {}
  ArchiveSource(ByteReader& reader, Options options);
  ArchiveSource(const ArchiveSource&) = delete;
  ArchiveSource& operator=(const ArchiveSource&) = delete;

  /// archive_read_open() of `a` on this source, which must outlive every read
  /// of `a` (freeing `a` afterwards reads nothing: it has no close callback);
  /// libarchive's answer (ARCHIVE_OK, or a failure with error() maybe set).
  int open(struct archive* a);

  /// What ended the stream early: the reader's own error, or the bound; nullopt when nothing did.
  const std::optional<Error>& error() const { return m_error; }

  /// Bytes taken from the reader so far.
  std::uint64_t total() const { return m_total; }

 private:
  struct Callbacks;  // libarchive's read callback (archive_source.cpp)

  ByteReader& m_reader;
  Options m_options;
  SecureBytes m_buffer;
  std::uint64_t m_total = 0;
  std::optional<Error> m_error;
};

/// Bytes in memory as a ByteReader (a tar held in memory, read as a stream).
class SpanReader final : public ByteReader {
 public:
  explicit SpanReader(ByteSpan data) : m_data(data) {}
  Result<std::size_t> read(std::span<std::byte> out) override;

 private:
  ByteSpan m_data;
  std::size_t m_pos = 0;
};

}  // namespace pb::broker
