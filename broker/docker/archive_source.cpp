#include "broker/docker/archive_source.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "core/c_handles.hpp"

namespace pb::broker {

struct ArchiveSource::Callbacks {
  static la_ssize_t read(struct archive* a, void* client, const void** out) {
    auto* s = static_cast<ArchiveSource*>(client);
    auto n = s->m_reader.read(std::as_writable_bytes(std::span(s->m_buffer.data(), s->m_buffer.size())));
    if (!n.ok()) return failed(a, *s, std::move(n).error());
    s->m_total += *n;
    if (s->m_options.limit && s->m_total > *s->m_options.limit)
      return failed(
          a, *s, fail(ErrorKind::unsafe_input, "it is larger than " + std::to_string(*s->m_options.limit) + " bytes"));
    *out = s->m_buffer.data();
    return static_cast<la_ssize_t>(*n);
  }

  /// Keeps `error` for the caller and gives libarchive its sentence too.
  static la_ssize_t failed(struct archive* a, ArchiveSource& s, Error error) {
    archive_set_error(a, EIO, "%s", error.message.c_str());
    s.m_error = std::move(error);
    return -1;
  }
};

ArchiveSource::ArchiveSource(ByteReader& reader, Options options)
    : m_reader(reader), m_options(options), m_buffer(std::max<std::size_t>(options.buffer_size, 1)) {}

int ArchiveSource::open(struct archive* a) {
  return archive_read_open(a, this, nullptr, &Callbacks::read, nullptr);
}

Result<std::size_t> SpanReader::read(std::span<std::byte> out) {
  const std::size_t n = std::min(out.size(), m_data.size() - m_pos);
  if (n > 0) std::memcpy(out.data(), m_data.data() + m_pos, n);
  m_pos += n;
  return n;
}

}  // namespace pb::broker
