#include "broker/capture/tar_policy.hpp"

#include <algorithm>
#include <istream>
#include <streambuf>

#include "broker/docker/archive_source.hpp"
#include "core/c_handles.hpp"
#include "core/names.hpp"
#include "core/text.hpp"
#include "vault/capture.hpp"

namespace pb::broker::capture {
namespace {

constexpr std::size_t k_block = 64 * 1024;
/// Headers, padding and the end-of-archive blocks around the wanted files.
constexpr std::uint64_t k_tar_overhead = 1u << 20;

/// An entry or wanted name without its leading "./" (and trailing '/').
std::string_view strip_dot_slash(std::string_view name) {
  auto clean = clean_entry_name(name);
  return clean ? *clean : name;
}

/// A hostile name in a message: bounded, printable.
std::string printable(std::string_view name) {
  return pb::printable(name, 80);
}

const char* type_name(unsigned type) {
  switch (type) {
    case AE_IFLNK:
      return "a symbolic link";
    case AE_IFDIR:
      return "a directory";
    case AE_IFCHR:
      return "a character device";
    case AE_IFBLK:
      return "a block device";
    case AE_IFIFO:
      return "a FIFO";
    case AE_IFSOCK:
      return "a socket";
    default:
      return "not a regular file";
  }
}

/// A TarSource as a ByteReader, for the archive source.
class SourceReader final : public ByteReader {
 public:
  explicit SourceReader(const TarSource& source) : m_source(source) {}
  Result<std::size_t> read(std::span<std::byte> out) override { return m_source(out); }

 private:
  const TarSource& m_source;
};

/// An entry's data as a std::streambuf, so the streaming reducer pulls the
/// archive's data blocks as it parses and never holds the whole file.
class EntryBuf : public std::streambuf {
 public:
  EntryBuf(struct archive* a, std::uint64_t max) : m_a(a), m_max(max) {}
  bool failed() const { return m_failed; }
  bool over() const { return m_over; }

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    if (m_failed || m_over) return traits_type::eof();
    la_ssize_t n = archive_read_data(m_a, m_buf.data(), m_buf.size());
    if (n < 0) {
      m_failed = true;
      return traits_type::eof();
    }
    if (n == 0) return traits_type::eof();
    m_total += static_cast<std::uint64_t>(n);
    if (m_total > m_max + 1) m_over = true;
    auto* p = reinterpret_cast<char*>(m_buf.data());
    setg(p, p, p + n);
    return traits_type::to_int_type(*p);
  }

 private:
  struct archive* m_a;
  std::uint64_t m_max;
  std::uint64_t m_total = 0;
  bool m_failed = false;
  bool m_over = false;
  SecureBytes m_buf = SecureBytes(k_block);
};

Error refused(std::string_view what, const std::string& why) {
  return fail(ErrorKind::unsafe_input, std::string(what) + " was refused: " + why);
}

}  // namespace

namespace {

/// When libarchive gives up, the source's own error (Docker, the size bound)
/// is the better sentence.
Error archive_failure(const ArchiveSource& source, struct archive* a, std::string_view what, std::string_view doing) {
  if (const auto& error = source.error()) {
    if (error->kind == ErrorKind::unsafe_input) return refused(what, error->message);
    return *error;
  }
  const char* msg = archive_error_string(a);
  return refused(what, std::string(doing) + " (" + printable(msg ? msg : "unknown error") + ")");
}

/// The wanted file entry `e` is, under the policy's rules for names, types,
/// sizes and repeats; `files` holds those read before it.
Result<const WantedFile*> wanted_file(archive_entry* e, const TarPolicy& policy, const TarFiles& files,
                                      std::string_view what) {
  const char* raw = archive_entry_pathname(e);
  std::string_view name = raw ? std::string_view(raw) : std::string_view();
  auto clean = clean_entry_name(name);
  if (!clean || clean->empty()) return refused(what, "it holds an entry with an unsafe name '" + printable(name) + "'");
  name = *clean;
  if (archive_entry_hardlink(e) != nullptr) return refused(what, "its entry '" + printable(name) + "' is a hard link");
  auto type = static_cast<unsigned>(archive_entry_filetype(e));
  if (type != AE_IFREG || archive_entry_symlink(e) != nullptr)
    return refused(what, "its entry '" + printable(name) + "' is " + type_name(type) + ", not a regular file");
  auto wanted = std::find_if(policy.files.begin(), policy.files.end(),
                             [&](const WantedFile& f) { return strip_dot_slash(f.name) == name; });
  if (wanted == policy.files.end()) return refused(what, "it holds an unexpected entry '" + printable(name) + "'");
  const std::string key(strip_dot_slash(wanted->name));
  if (files.count(key) != 0) return refused(what, "it holds '" + printable(name) + "' twice");
  if (archive_entry_size_is_set(e) &&
      (archive_entry_size(e) < 0 || static_cast<std::uint64_t>(archive_entry_size(e)) > wanted->max_bytes))
    return refused(what, "'" + key + "' is larger than " + std::to_string(wanted->max_bytes) + " bytes");
  return &*wanted;
}

/// The current entry's content: whole, or reduced to the login keys of a .claude.json.
Result<SecureBytes> read_entry(struct archive* a, const ArchiveSource& source, const WantedFile& wanted,
                               const std::string& key, std::string_view what) {
  if (wanted.mode == WantedFile::Mode::whole) {
    SecureBytes data;
    SecureBytes block(k_block);
    while (true) {
      la_ssize_t n = archive_read_data(a, block.data(), block.size());
      if (n < 0) return archive_failure(source, a, what, "it ends inside '" + key + "'");
      if (n == 0) break;
      if (data.size() + static_cast<std::size_t>(n) > wanted.max_bytes)
        return refused(what, "'" + key + "' is larger than " + std::to_string(wanted.max_bytes) + " bytes");
      data.insert(data.end(), block.begin(), block.begin() + n);
    }
    return data;
  }
  EntryBuf buf(a, wanted.max_bytes);
  std::istream in(&buf);
  auto reduced = vault::reduce_claude_json(in, wanted.max_bytes);
  if (buf.failed()) return archive_failure(source, a, what, "it ends inside '" + key + "'");
  if (!reduced.ok()) {
    Error err = std::move(reduced).error();
    if (err.kind == ErrorKind::unsafe_input) err.message += " (" + std::string(what) + ")";
    return err;
  }
  return std::move(reduced).value();
}

/// read_tar() over any reader: the archive source bounds the stream by the
/// policy's files and keeps the reader's own errors.
Result<TarFiles> read_from(ByteReader& reader, const TarPolicy& policy, std::string_view what) {
  std::uint64_t max_total = k_tar_overhead;
  for (const auto& f : policy.files) max_total += f.max_bytes;
  ArchiveSource source(reader, {.buffer_size = k_block, .limit = max_total});

  ArchiveRead a(archive_read_new());
  if (!a) return fail(ErrorKind::failure, "cannot allocate an archive reader");
  archive_read_support_format_tar(a.get());
  archive_read_support_filter_none(a.get());
  if (source.open(a.get()) != ARCHIVE_OK) return archive_failure(source, a.get(), what, "it is not a tar archive");

  TarFiles files;
  std::size_t entries = 0;
  while (true) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK) return archive_failure(source, a.get(), what, "it is not a well-formed tar archive");
    if (++entries > policy.max_entries)
      return refused(what, "it holds more than " + std::to_string(policy.max_entries) + " entries");
    PB_TRY(const WantedFile* wanted, wanted_file(e, policy, files, what));
    std::string key(strip_dot_slash(wanted->name));
    PB_TRY(SecureBytes data, read_entry(a.get(), source, *wanted, key, what));
    files.emplace(std::move(key), std::move(data));
  }
  return files;
}

}  // namespace

Result<TarFiles> read_tar(const TarSource& source, const TarPolicy& policy, std::string_view what) {
  SourceReader reader(source);
  return read_from(reader, policy, what);
}

Result<TarFiles> read_tar(ByteSpan bytes, const TarPolicy& policy, std::string_view what) {
  SpanReader reader(bytes);
  return read_from(reader, policy, what);
}

}  // namespace pb::broker::capture
