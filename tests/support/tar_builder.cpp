#include "tests/support/tar_builder.hpp"

#include <archive.h>
#include <sys/sysmacros.h>

#include "core/c_handles.hpp"

namespace pb::test {

std::string make_tar(const std::vector<TarEntry>& entries, bool gnu) {
  std::string out;
  ArchiveWrite a(archive_write_new());
  if (gnu)
    archive_write_set_format_gnutar(a.get());
  else
    archive_write_set_format_pax_restricted(a.get());
  archive_write_set_bytes_in_last_block(a.get(), 1);
  archive_write_open(
      a.get(), &out, nullptr,
      [](struct archive*, void* c, const void* b, size_t n) -> la_ssize_t {
        static_cast<std::string*>(c)->append(static_cast<const char*>(b), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  for (const auto& e : entries) {
    ArchiveEntry ae(archive_entry_new());
    archive_entry_set_pathname(ae.get(), e.name.c_str());
    archive_entry_set_filetype(ae.get(), e.type);
    archive_entry_set_perm(ae.get(), e.type == AE_IFDIR ? 0700 : 0600);
    if (!e.link.empty()) archive_entry_set_symlink(ae.get(), e.link.c_str());
    if (!e.hardlink.empty()) archive_entry_set_hardlink(ae.get(), e.hardlink.c_str());
    if (e.type == AE_IFCHR || e.type == AE_IFBLK) archive_entry_set_rdev(ae.get(), makedev(1, 3));
    std::int64_t size = e.type == AE_IFREG && e.hardlink.empty() ? static_cast<std::int64_t>(e.data.size()) : 0;
    archive_entry_set_size(ae.get(), e.declared_size >= 0 ? e.declared_size : size);
    archive_write_header(a.get(), ae.get());
    if (size > 0) archive_write_data(a.get(), e.data.data(), e.data.size());
  }
  archive_write_close(a.get());
  return out;
}

}  // namespace pb::test
