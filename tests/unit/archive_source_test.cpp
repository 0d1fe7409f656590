// broker/docker/archive_source: the one ByteReader -> libarchive adapter that
// the probe, the volume tars, the capture policy and the image scan read
// through. Its bound, the reader's own error kept, short reads, the end.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "broker/docker/archive_source.hpp"
#include "core/c_handles.hpp"
#include "tests/support/tar_builder.hpp"

namespace pb {
namespace {

using broker::ArchiveSource;
using broker::ByteReader;
using broker::SpanReader;

/// A tar in memory, given out `step` bytes at a time at most; after `fail_after`
/// bytes it fails with `error` instead. Records the largest read asked of it.
class ScriptedReader final : public ByteReader {
 public:
  explicit ScriptedReader(std::string data, std::size_t step = SIZE_MAX) : m_data(std::move(data)), m_step(step) {}
  void fail_after(std::size_t bytes, Error error) {
    m_fail_after = bytes;
    m_error = std::move(error);
  }
  Result<std::size_t> read(std::span<std::byte> out) override {
    m_largest_ask = std::max(m_largest_ask, out.size());
    ++m_calls;
    if (m_pos >= m_fail_after) return m_error;
    std::size_t n = std::min({out.size(), m_step, m_data.size() - m_pos, m_fail_after - m_pos});
    std::memcpy(out.data(), m_data.data() + m_pos, n);
    m_pos += n;
    return n;
  }
  std::size_t largest_ask() const { return m_largest_ask; }
  std::size_t calls() const { return m_calls; }

 private:
  std::string m_data;
  std::size_t m_step;
  std::size_t m_pos = 0;
  std::size_t m_fail_after = SIZE_MAX;
  Error m_error;
  std::size_t m_largest_ask = 0;
  std::size_t m_calls = 0;
};

ArchiveRead tar_reader() {
  ArchiveRead a(archive_read_new());
  archive_read_support_format_tar(a.get());
  return a;
}

/// Every entry's name and content, or the first failure's libarchive code.
struct Listing {
  std::vector<std::pair<std::string, std::string>> files;
  int failure = ARCHIVE_OK;
};

Listing list(struct archive* a) {
  Listing out;
  for (;;) {
    struct archive_entry* e = nullptr;
    int r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF) return out;
    if (r != ARCHIVE_OK) {
      out.failure = r;
      return out;
    }
    std::string data;
    char buf[100];
    la_ssize_t n = 0;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) data.append(buf, static_cast<std::size_t>(n));
    if (n < 0) {
      out.failure = static_cast<int>(n);
      return out;
    }
    out.files.emplace_back(archive_entry_pathname(e), data);
  }
}

const std::string k_content(3000, 'x');

std::string sample_tar() {
  return test::make_tar({{"a.txt", "alpha"}, {"dir/b.bin", k_content}});
}

TEST(ArchiveSource, ShortReadsAndTheEndGiveTheWholeArchive) {
  const std::string tar = sample_tar();
  ScriptedReader reader(tar, 7);
  ArchiveSource source(reader);
  auto a = tar_reader();
  ASSERT_EQ(source.open(a.get()), ARCHIVE_OK);
  Listing got = list(a.get());
  EXPECT_EQ(got.failure, ARCHIVE_OK);
  ASSERT_EQ(got.files.size(), 2u);
  EXPECT_EQ(got.files[0], (std::pair<std::string, std::string>{"a.txt", "alpha"}));
  EXPECT_EQ(got.files[1], (std::pair<std::string, std::string>{"dir/b.bin", k_content}));
  EXPECT_FALSE(source.error()) << "the end of the stream is no error";
  EXPECT_EQ(source.total(), tar.size());
  EXPECT_EQ(reader.largest_ask(), 64u * 1024) << "the default buffer";
}

TEST(ArchiveSource, AsksTheReaderForItsBufferSize) {
  ScriptedReader reader(sample_tar());
  ArchiveSource source(reader, {.buffer_size = 512});
  auto a = tar_reader();
  ASSERT_EQ(source.open(a.get()), ARCHIVE_OK);
  EXPECT_EQ(list(a.get()).files.size(), 2u);
  EXPECT_EQ(reader.largest_ask(), 512u);
}

TEST(ArchiveSource, AnEmptyStreamIsNoArchiveAndNoReaderError) {
  ScriptedReader reader("");
  ArchiveSource source(reader);
  auto a = tar_reader();
  // libarchive may only find out at the first header; either way it is not a
  // tar, and nothing of the reader's is to blame.
  if (source.open(a.get()) == ARCHIVE_OK) {
    struct archive_entry* e = nullptr;
    EXPECT_NE(archive_read_next_header(a.get(), &e), ARCHIVE_OK);
  }
  EXPECT_FALSE(source.error());
  EXPECT_EQ(source.total(), 0u);
}

TEST(ArchiveSource, TheReadersOwnErrorIsKept) {
  const std::string tar = sample_tar();
  ScriptedReader reader(tar, 100);
  reader.fail_after(1500, fail(ErrorKind::timeout, "the daemon took too long"));
  ArchiveSource source(reader, {.buffer_size = 512});
  auto a = tar_reader();
  ASSERT_EQ(source.open(a.get()), ARCHIVE_OK);
  Listing got = list(a.get());
  EXPECT_LT(got.failure, ARCHIVE_OK);
  ASSERT_TRUE(source.error());
  EXPECT_EQ(source.error()->kind, ErrorKind::timeout);
  EXPECT_EQ(source.error()->message, "the daemon took too long");
  EXPECT_EQ(source.total(), 1500u) << "only the bytes the reader gave";
  ASSERT_NE(archive_error_string(a.get()), nullptr);
  EXPECT_STREQ(archive_error_string(a.get()), "the daemon took too long") << "libarchive is told the same";
}

TEST(ArchiveSource, AnErrorAtTheStartFailsTheOpen) {
  ScriptedReader reader(sample_tar());
  reader.fail_after(0, fail(ErrorKind::unreachable, "no daemon"));
  ArchiveSource source(reader);
  auto a = tar_reader();
  EXPECT_NE(source.open(a.get()), ARCHIVE_OK);
  ASSERT_TRUE(source.error());
  EXPECT_EQ(source.error()->kind, ErrorKind::unreachable);
}

TEST(ArchiveSource, MoreThanTheLimitEndsTheStream) {
  const std::string tar = sample_tar();
  ScriptedReader reader(tar, 256);
  ArchiveSource source(reader, {.buffer_size = 1024, .limit = 1000});
  auto a = tar_reader();
  ASSERT_EQ(source.open(a.get()), ARCHIVE_OK);
  Listing got = list(a.get());
  EXPECT_LT(got.failure, ARCHIVE_OK);
  EXPECT_LT(got.files.size(), 2u);
  ASSERT_TRUE(source.error());
  EXPECT_EQ(source.error()->kind, ErrorKind::unsafe_input);
  EXPECT_EQ(source.error()->message, "it is larger than 1000 bytes");
  EXPECT_LE(source.total(), 1000u + 256) << "it stops at the read that crosses the bound";
}

TEST(ArchiveSource, AStreamOfExactlyTheLimitIsWhole) {
  const std::string tar = sample_tar();
  ScriptedReader reader(tar);
  ArchiveSource source(reader, {.limit = tar.size()});
  auto a = tar_reader();
  ASSERT_EQ(source.open(a.get()), ARCHIVE_OK);
  Listing got = list(a.get());
  EXPECT_EQ(got.failure, ARCHIVE_OK);
  EXPECT_EQ(got.files.size(), 2u);
  EXPECT_FALSE(source.error());
}

TEST(SpanReader, GivesItsBytesInPiecesThenZero) {
  const std::string text = "0123456789";
  SpanReader reader(as_bytes(text));
  std::byte buf[4];
  std::string got;
  for (;;) {
    auto n = reader.read(buf);
    ASSERT_TRUE(n.ok());
    if (*n == 0) break;
    got.append(reinterpret_cast<const char*>(buf), *n);
  }
  EXPECT_EQ(got, text);
  auto again = reader.read(buf);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0u) << "the end stays the end";
}

}  // namespace
}  // namespace pb
