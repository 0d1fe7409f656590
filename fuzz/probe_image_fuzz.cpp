// Fuzzes probing an image without a shell (broker/probe/probe_runner.cpp):
// the image's USER and environment, and every file and link the probe reads
// through the archive API (/etc/passwd, package.json, settings files, the
// claude link on PATH) come from the input. A fake Docker answers each
// archive_stat and archive_get with the next piece of input: missing, a
// directory, a symlink to some target, or a file whose tar is either built
// around input bytes or is raw input bytes. The report must come out or the
// probe must fail with a printable sentence; nothing may crash.
#include <fuzzer/FuzzedDataProvider.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>

#include "broker/probe/probe_runner.hpp"
#include "fuzz/support/memory_reader.hpp"
#include "fuzz/support/scratch_dir.hpp"
#include "probes/report.hpp"
#include "tests/support/fake_docker.hpp"
#include "tests/support/tar_builder.hpp"

using namespace pb;
using namespace pb::broker;

namespace {

class OwnedReader final : public ByteReader {
 public:
  explicit OwnedReader(std::string data)
      : m_data(std::move(data)),
        m_reader(std::span(reinterpret_cast<const std::uint8_t*>(m_data.data()), m_data.size()), 4096) {}
  Result<std::size_t> read(std::span<std::byte> out) override { return m_reader.read(out); }

 private:
  std::string m_data;
  fuzz::MemoryReader m_reader;
};

/// An image whose files are made up by the input, one call at a time.
class ScriptedImage final : public test::FakeDocker {
 public:
  explicit ScriptedImage(FuzzedDataProvider& in) : m_in(in) {}

  Result<PathStat> archive_stat(const std::string& id, const std::string& path) override {
    (void)id;
    if (path == "/bin/sh") return not_found(path);  // the no-shell path is what is fuzzed here
    return stat_of(path);
  }

  Result<ArchiveDownload> archive_get(const std::string& id, const std::string& path) override {
    (void)id;
    PB_TRY(PathStat st, stat_of(path));
    std::string tar;
    if (m_in.ConsumeBool()) {
      tar = m_in.ConsumeRandomLengthString(8192);  // raw bytes as the archive
    } else {
      const std::string content = m_in.ConsumeRandomLengthString(8192);
      const unsigned type = m_in.ConsumeBool() ? AE_IFREG : AE_IFLNK;
      tar = test::make_tar(
          {test::TarEntry(path.substr(path.rfind('/') + 1), content, type, type == AE_IFLNK ? "../x" : "")});
    }
    if (m_in.ConsumeBool()) st.size = static_cast<std::int64_t>(tar.size());
    return ArchiveDownload{st, std::make_unique<OwnedReader>(std::move(tar))};
  }

 private:
  static Error not_found(const std::string& path) {
    return fail(ErrorKind::not_found, "Docker could not look at '" + path + "': no such file");
  }

  Result<PathStat> stat_of(const std::string& path) {
    switch (m_in.ConsumeIntegralInRange<int>(0, 4)) {
      case 0:
        return not_found(path);
      case 1:
        return PathStat{path.substr(path.rfind('/') + 1), 0, 0x80000000u | 0755, "", ""};
      case 2:
        return PathStat{path.substr(path.rfind('/') + 1), 10, 0x08000000u | 0777, "",
                        m_in.ConsumeRandomLengthString(300)};
      case 3:
        return fail(ErrorKind::api, "Docker could not look at the path (HTTP 500): server error");
      default:
        return PathStat{path.substr(path.rfind('/') + 1), m_in.ConsumeIntegralInRange<std::int64_t>(-1, 2 << 20), 0644,
                        "", ""};
    }
  }

  FuzzedDataProvider& m_in;
};

std::filesystem::path cache_dir() {
  static const fuzz::ScratchDir dir("pb-fuzz-probe");
  return dir.path() / "cache";
}

void check_text(const std::string& s, bool newlines) {
  for (char c : s)
    if ((static_cast<unsigned char>(c) < 0x20 && !(newlines && c == '\n')) || c == 0x7f) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  auto docker = std::make_shared<ScriptedImage>(in);
  ImageInfo info;
  info.id = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  info.user = in.ConsumeRandomLengthString(64);
  const int n_env = in.ConsumeIntegralInRange<int>(0, 4);
  for (int i = 0; i < n_env; ++i) info.env.push_back(in.ConsumeRandomLengthString(200));
  docker->images["app:1"] = info;
  docker->images[info.id] = info;

  Paths paths;
  paths.cache_dir = cache_dir();
  ProbeOptions options;
  options.refresh = true;
  auto r = probe_image(*docker, paths, "app:1", options);
  if (!r.ok()) {
    check_text(r.error().message, false);
    return 0;
  }
  check_text(probes::report_to_text(*r), true);
  return 0;
}
