// Test helper: streams a tar holding one file of N MiB of pseudo-random bytes
// into a container (PUT /archive) and back out (GET /archive) through
// libarchive, checks every byte, and prints the process's peak RSS (VmHWM), so
// the test can hold the client to bounded memory. Usage: helper CONTAINER MIB

#include <archive.h>
#include <archive_entry.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "broker/docker/connect.hpp"
#include "broker/docker/docker_client.hpp"
#include "tests/docker/tar_stream.hpp"

namespace {

/// Deterministic bytes (xorshift64), regenerated on the way back to compare.
class Pattern {
 public:
  void fill(unsigned char* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      if (m_left == 0) {
        m_state ^= m_state << 13;
        m_state ^= m_state >> 7;
        m_state ^= m_state << 17;
        m_word = m_state;
        m_left = 8;
      }
      p[i] = static_cast<unsigned char>(m_word);
      m_word >>= 8;
      --m_left;
    }
  }

 private:
  std::uint64_t m_state = 0x9E3779B97F4A7C15ull;
  std::uint64_t m_word = 0;
  int m_left = 0;
};

long vmhwm_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

int fail_with(const std::string& what) {
  std::cerr << "archive_stream_helper: " << what << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return fail_with("usage: archive_stream_helper CONTAINER MIB");
  const std::string id = argv[1];
  const std::int64_t size = std::stoll(argv[2]) * 1024 * 1024;
  auto docker = pb::broker::docker::connect_from_environment();
  if (!docker.ok()) return fail_with(docker.error().message);

  // PUT: libarchive writes straight into the chunked request body.
  {
    auto upload = (*docker)->archive_put(id, "/tmp");
    if (!upload.ok()) return fail_with(upload.error().message);
    struct archive* a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (archive_write_open(a, upload->get(), nullptr, pb::test::tar_write_cb, nullptr) != ARCHIVE_OK)
      return fail_with(archive_error_string(a));
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, "big.bin");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0600);
    archive_entry_set_size(e, size);
    if (archive_write_header(a, e) != ARCHIVE_OK) return fail_with(archive_error_string(a));
    archive_entry_free(e);
    Pattern pattern;
    std::vector<unsigned char> chunk(1024 * 1024);
    for (std::int64_t done = 0; done < size;) {
      std::size_t n =
          static_cast<std::size_t>(std::min<std::int64_t>(static_cast<std::int64_t>(chunk.size()), size - done));
      pattern.fill(chunk.data(), n);
      if (archive_write_data(a, chunk.data(), n) != static_cast<la_ssize_t>(n))
        return fail_with(archive_error_string(a));
      done += static_cast<std::int64_t>(n);
    }
    if (archive_write_close(a) != ARCHIVE_OK) return fail_with(archive_error_string(a));
    archive_write_free(a);
    pb::Status s = (*upload)->finish();
    if (!s.ok()) return fail_with(s.error().message);
  }

  // GET: libarchive pulls from the response body.
  auto download = (*docker)->archive_get(id, "/tmp/big.bin");
  if (!download.ok()) return fail_with(download.error().message);
  if (download->stat.size != size) return fail_with("stat says " + std::to_string(download->stat.size) + " bytes");
  std::int64_t checked = 0;
  std::string error =
      pb::test::read_tar(*download->body, [&](const std::string& name, std::int64_t entry_size, struct archive* a) {
        if (name != "big.bin" || entry_size != size) return false;
        Pattern pattern;
        std::vector<unsigned char> got(256 * 1024), want(256 * 1024);
        la_ssize_t n = 0;
        while ((n = archive_read_data(a, got.data(), got.size())) > 0) {
          pattern.fill(want.data(), static_cast<std::size_t>(n));
          if (std::memcmp(got.data(), want.data(), static_cast<std::size_t>(n)) != 0) return false;
          checked += n;
        }
        return n == 0;
      });
  if (!error.empty()) return fail_with("reading the archive back: " + error);
  if (checked != size) return fail_with("read back " + std::to_string(checked) + " bytes");
  std::cout << "ok bytes=" << checked << " vmhwm_kib=" << vmhwm_kib() << "\n";
  return 0;
}
