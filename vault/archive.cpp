#include "vault/archive.hpp"

#include <archive_entry.h>

#include "core/c_handles.hpp"
#include "core/names.hpp"

namespace pb::vault {
namespace {

Error archive_refused(std::string_view why) {
  return fail(ErrorKind::unsafe_input, "archive refused: " + std::string(why));
}

}  // namespace

Result<SecureBytes> write_tar(const std::vector<ArchiveFile>& files) {
  ArchiveWrite a(archive_write_new());
  if (!a) return fail(ErrorKind::failure, "creating an archive writer failed");
  archive_write_set_format_pax_restricted(a.get());
  archive_write_set_bytes_per_block(a.get(), 0);  // no padding to 10 KiB blocks
  // Upper bound: each member needs a header block (plus pax headers) and padding.
  std::size_t cap = 4096;
  for (const auto& f : files) cap += f.data.size() + 2048 + f.name.size() * 2;
  SecureBytes buf(cap);
  std::size_t used = 0;
  if (archive_write_open_memory(a.get(), buf.data(), buf.size(), &used) != ARCHIVE_OK)
    return fail(ErrorKind::failure, "opening an in-memory archive failed");
  for (const auto& f : files) {
    if (!is_plain_entry_name(f.name)) return fail(ErrorKind::failure, "refusing to archive the unsafe name " + f.name);
    ArchiveEntry e(archive_entry_new());
    archive_entry_set_pathname(e.get(), f.name.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0600);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(f.data.size()));
    archive_entry_set_mtime(e.get(), 0, 0);
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK)
      return fail(ErrorKind::failure, "writing an archive header failed");
    if (!f.data.empty() &&
        archive_write_data(a.get(), f.data.data(), f.data.size()) != static_cast<la_ssize_t>(f.data.size()))
      return fail(ErrorKind::failure, "writing archive data failed");
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return fail(ErrorKind::failure, "closing an archive failed");
  buf.resize(used);
  return buf;
}

Result<std::vector<ArchiveFile>> read_tar(ByteSpan tar, const ArchiveLimits& limits) {
  ArchiveRead a(archive_read_new());
  if (!a) return fail(ErrorKind::failure, "creating an archive reader failed");
  // Only tar: no compression filters, so no decompression bombs.
  archive_read_support_format_tar(a.get());
  if (archive_read_open_memory(a.get(), tar.data(), tar.size()) != ARCHIVE_OK)
    return archive_refused("it is not a tar archive");
  std::vector<ArchiveFile> out;
  std::uint64_t total = 0;
  for (;;) {
    archive_entry* e = nullptr;
    int rc = archive_read_next_header(a.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK) return archive_refused("it is malformed");
    if (out.size() >= limits.max_entries)
      return archive_refused("it has more than " + std::to_string(limits.max_entries) + " entries");
    const char* raw = archive_entry_pathname(e);
    std::string name = raw == nullptr ? std::string() : std::string(raw);
    if (name.size() > limits.max_name_size || !is_plain_entry_name(name))
      return archive_refused("an entry has an unsafe name");
    if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) != nullptr ||
        archive_entry_symlink(e) != nullptr)
      return archive_refused("entry '" + name + "' is not a regular file");
    for (const auto& f : out)
      if (f.name == name) return archive_refused("entry '" + name + "' appears twice");
    if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0)
      return archive_refused("entry '" + name + "' has no size");
    auto size = static_cast<std::uint64_t>(archive_entry_size(e));
    if (size > limits.max_file_size || size > tar.size()) return archive_refused("entry '" + name + "' is too large");
    total += size;
    if (total > limits.max_total_size) return archive_refused("its files are too large together");
    ArchiveFile f{name, SecureBytes(static_cast<std::size_t>(size))};
    std::size_t got = 0;
    while (got < f.data.size()) {
      la_ssize_t n = archive_read_data(a.get(), f.data.data() + got, f.data.size() - got);
      if (n < 0) return archive_refused("entry '" + name + "' is truncated");
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (got != f.data.size()) return archive_refused("entry '" + name + "' is truncated");
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace pb::vault
