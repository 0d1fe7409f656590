#include "broker/dispatch/volume_tar.hpp"

#include <archive_entry.h>

#include <algorithm>
#include <ctime>

#include "broker/docker/archive_source.hpp"
#include "core/c_handles.hpp"
#include "core/names.hpp"
#include "core/text.hpp"

namespace pb::broker::dispatch {
Result<SecureBytes> render_tree(const std::string& root, const std::vector<TreeEntry>& entries, std::uint32_t uid,
                                std::uint32_t gid, std::uint32_t root_mode) {
  std::size_t cap = 8192 + root.size() * 2;
  for (const auto& e : entries) cap += e.data.size() + 2048 + (root.size() + e.name.size()) * 2;
  // Declared before the writer: freeing the writer (also on an error path)
  // closes the archive, which flushes its last blocks into this buffer.
  SecureBytes buf(cap);
  std::size_t used = 0;
  ArchiveWrite a(archive_write_new());
  if (!a) return fail(ErrorKind::failure, "creating an archive writer failed");
  archive_write_set_format_pax_restricted(a.get());
  // An image's config dir may hold names that are not ASCII, which libarchive
  // cannot convert to UTF-8 in the C locale: those archives carry names as the
  // bytes they are (a pax header on every entry, so only when needed).
  auto ascii = [](const std::string& n) {
    return std::all_of(n.begin(), n.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  };
  bool binary_names = !ascii(root);
  for (const auto& e : entries) binary_names = binary_names || !ascii(e.name);
  if (binary_names && archive_write_set_format_option(a.get(), "pax", "hdrcharset", "BINARY") != ARCHIVE_OK)
    return fail(ErrorKind::failure, "setting up an archive writer failed");
  archive_write_set_bytes_per_block(a.get(), 0);
  if (archive_write_open_memory(a.get(), buf.data(), buf.size(), &used) != ARCHIVE_OK)
    return fail(ErrorKind::failure, "opening an in-memory archive failed");
  const std::time_t now = std::time(nullptr);
  auto add = [&](const std::string& name, bool is_dir, const SecureBytes* data, const std::string& link,
                 std::uint32_t mode, const TreeEntry::Owner& owner) -> Status {
    ArchiveEntry e(archive_entry_new());
    if (!e) return fail(ErrorKind::failure, "creating an archive entry failed");
    archive_entry_set_pathname(e.get(), name.c_str());
    const bool is_link = !is_dir && !link.empty();
    archive_entry_set_filetype(e.get(), is_dir ? AE_IFDIR : is_link ? AE_IFLNK : AE_IFREG);
    archive_entry_set_perm(e.get(), is_link ? 0777 : mode != 0 ? (mode & 07777) : is_dir ? 0700 : 0600);
    if (is_link) archive_entry_set_symlink(e.get(), link.c_str());
    archive_entry_set_uid(e.get(), owner.uid);
    archive_entry_set_gid(e.get(), owner.gid);
    archive_entry_set_mtime(e.get(), now, 0);
    if (is_link) data = nullptr;
    archive_entry_set_size(e.get(), data == nullptr ? 0 : static_cast<la_int64_t>(data->size()));
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK)
      return fail(ErrorKind::failure, "writing the archive entry for " + printable(name) + " failed");
    if (data != nullptr && !is_dir && !data->empty() &&
        archive_write_data(a.get(), data->data(), data->size()) != static_cast<la_ssize_t>(data->size()))
      return fail(ErrorKind::failure, "writing " + printable(name) + " into the archive failed");
    return {};
  };
  const std::string prefix = root.empty() ? std::string() : root + "/";
  const TreeEntry::Owner owner{uid, gid};
  if (!root.empty()) PB_TRY_STATUS(add(prefix, true, nullptr, {}, root_mode, owner));
  for (const auto& e : entries)
    PB_TRY_STATUS(
        add(prefix + e.name + (e.is_dir ? "/" : ""), e.is_dir, &e.data, e.link, e.mode, e.owner.value_or(owner)));
  if (archive_write_close(a.get()) != ARCHIVE_OK) return fail(ErrorKind::failure, "closing an archive failed");
  buf.resize(used);
  return buf;
}

Result<std::vector<TreeEntry>> read_tree(ByteReader& body, const TreeLimits& limits, const std::string& what) {
  ArchiveRead a(archive_read_new());
  if (!a) return fail(ErrorKind::failure, "creating an archive reader failed");
  archive_read_support_format_tar(a.get());
  ArchiveSource st(body);
  if (st.open(a.get()) != ARCHIVE_OK) {
    if (st.error()) return *st.error();
    return fail(ErrorKind::unsafe_input, what + " is not a readable tar archive");
  }
  std::vector<TreeEntry> out;
  std::uint64_t total = 0;
  std::size_t count = 0;
  for (;;) {
    struct archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      if (st.error()) return *st.error();
      return fail(ErrorKind::unsafe_input, what + " is a damaged tar archive");
    }
    if (++count > limits.max_entries)
      return fail(ErrorKind::unsafe_input, what + " has more than " + std::to_string(limits.max_entries) + " entries");
    const char* raw = archive_entry_pathname(e);
    auto name = clean_entry_name(raw != nullptr ? raw : "");
    if (!name)
      return fail(ErrorKind::unsafe_input, what +
                                               " holds an entry with an unsafe name (absolute, '..', control "
                                               "characters or longer than " +
                                               std::to_string(k_max_entry_name) + " bytes)");
    // Names are memory too: they count toward the total like file contents.
    total += name->size();
    if (total > limits.max_total_size)
      return fail(ErrorKind::unsafe_input,
                  what + " is larger than " + std::to_string(limits.max_total_size >> 20) + " MiB");
    const auto type = archive_entry_filetype(e);
    const bool hardlink = archive_entry_hardlink(e) != nullptr;
    if (name->empty() || hardlink || (type != AE_IFDIR && type != AE_IFREG)) {
      archive_read_data_skip(a.get());  // links, devices, FIFOs, the root itself: never followed
      continue;
    }
    TreeEntry t;
    t.name = std::string(*name);
    t.is_dir = type == AE_IFDIR;
    if (!t.is_dir) {
      const auto size = archive_entry_size(e);
      if (size < 0 || static_cast<std::uint64_t>(size) > limits.max_file_size)
        return fail(ErrorKind::unsafe_input,
                    what + ": " + t.name + " is larger than " + std::to_string(limits.max_file_size >> 10) + " KiB");
      total += static_cast<std::uint64_t>(size);
      if (total > limits.max_total_size)
        return fail(ErrorKind::unsafe_input,
                    what + " is larger than " + std::to_string(limits.max_total_size >> 20) + " MiB");
      t.data.resize(static_cast<std::size_t>(size));
      std::size_t got = 0;
      while (got < t.data.size()) {
        la_ssize_t n = archive_read_data(a.get(), t.data.data() + got, t.data.size() - got);
        if (n <= 0) {
          if (st.error()) return *st.error();
          return fail(ErrorKind::unsafe_input, what + ": " + t.name + " is truncated");
        }
        got += static_cast<std::size_t>(n);
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

Result<std::vector<TreeEntry>> read_tree(ByteSpan tar, const TreeLimits& limits, const std::string& what) {
  SpanReader reader(tar);
  return read_tree(reader, limits, what);
}

}  // namespace pb::broker::dispatch
