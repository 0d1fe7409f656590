#pragma once
// libarchive on top of the DockerClient's ByteReader/ByteWriter, the way the
// product wires them: archive_read_open / archive_write_open callbacks.
// Shared by the Docker integration tests and their helper executables.

#include <archive.h>
#include <archive_entry.h>

#include <array>
#include <cerrno>
#include <functional>
#include <map>
#include <string>

#include "broker/docker/docker_client.hpp"

namespace pb::test {

struct TarReadContext {
  broker::ByteReader* reader;
  std::array<std::byte, 64 * 1024> buffer{};
};

inline la_ssize_t tar_read_cb(struct archive* a, void* p, const void** out) {
  auto* ctx = static_cast<TarReadContext*>(p);
  auto n = ctx->reader->read(ctx->buffer);
  if (!n.ok()) {
    archive_set_error(a, EIO, "%s", n.error().message.c_str());
    return -1;
  }
  *out = ctx->buffer.data();
  return static_cast<la_ssize_t>(*n);
}

inline la_ssize_t tar_write_cb(struct archive* a, void* p, const void* data, size_t n) {
  auto* w = static_cast<broker::ByteWriter*>(p);
  Status s = w->write(std::span(static_cast<const std::byte*>(data), n));
  if (!s.ok()) {
    archive_set_error(a, EIO, "%s", s.error().message.c_str());
    return -1;
  }
  return static_cast<la_ssize_t>(n);
}

/// Calls `on_entry(name, size, read_data)` per entry; read_data(buf, n) returns bytes read.
inline std::string read_tar(
    broker::ByteReader& reader,
    const std::function<bool(const std::string& name, std::int64_t size, struct archive* a)>& on_entry) {
  struct archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  TarReadContext ctx{&reader};
  std::string error;
  if (archive_read_open(a, &ctx, nullptr, tar_read_cb, nullptr) != ARCHIVE_OK) {
    error = archive_error_string(a) != nullptr ? archive_error_string(a) : "open failed";
  } else {
    struct archive_entry* e = nullptr;
    int r = 0;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
      if (!on_entry(archive_entry_pathname(e), archive_entry_size(e), a)) {
        error = "entry handler failed for " + std::string(archive_entry_pathname(e));
        break;
      }
    }
    if (error.empty() && r != ARCHIVE_EOF)
      error = archive_error_string(a) != nullptr ? archive_error_string(a) : "read failed";
  }
  archive_read_free(a);
  return error;
}

/// Reads a whole (small) tar stream into name -> content.
inline std::map<std::string, std::string> read_small_tar(broker::ByteReader& reader, std::string* error = nullptr) {
  std::map<std::string, std::string> files;
  std::string err = read_tar(reader, [&](const std::string& name, std::int64_t, struct archive* a) {
    std::string content;
    char buf[8192];
    la_ssize_t n = 0;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) content.append(buf, static_cast<std::size_t>(n));
    if (n < 0) return false;
    files[name] = content;
    return true;
  });
  if (error != nullptr) *error = err;
  return files;
}

/// Writes regular files (name -> content, mode 0644) as a tar stream and finishes the upload.
inline Status write_small_tar(broker::ByteWriter& writer, const std::map<std::string, std::string>& files) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  std::string error;
  if (archive_write_open(a, &writer, nullptr, tar_write_cb, nullptr) != ARCHIVE_OK) error = archive_error_string(a);
  for (const auto& [name, content] : files) {
    if (!error.empty()) break;
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    if (archive_write_header(a, e) != ARCHIVE_OK ||
        archive_write_data(a, content.data(), content.size()) != static_cast<la_ssize_t>(content.size()))
      error = archive_error_string(a) != nullptr ? archive_error_string(a) : "write failed";
    archive_entry_free(e);
  }
  if (error.empty() && archive_write_close(a) != ARCHIVE_OK)
    error = archive_error_string(a) != nullptr ? archive_error_string(a) : "close failed";
  archive_write_free(a);
  if (!error.empty()) return fail(ErrorKind::failure, "writing the tar stream failed: " + error);
  return writer.finish();
}

}  // namespace pb::test
