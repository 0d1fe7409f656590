// Fuzzes reading the probe cache (probes/cache.cpp, probes/report.cpp
// report_from_json): the input is a cache file. A report it accepts must
// survive its own round trip, and numbers it accepts as a uid or gid must be
// whole numbers in range (no floats, no negatives wrapped around). The same
// bytes also go through ProbeCache::load from a private cache directory.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string_view>

#include "fuzz/support/scratch_dir.hpp"
#include "probes/cache.hpp"
#include "probes/report.hpp"

using namespace pb;
using namespace pb::probes;

namespace {

const std::string k_id = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

const std::filesystem::path& cache_dir() {
  static const fuzz::ScratchDir dir("pb-fuzz-cache");
  return dir.path();
}

// JSON's -0 is the whole number 0 (nlohmann reads it as a signed integer), so
// the oracle asks for a value in range, not for the unsigned type.
bool whole_id(const nlohmann::json& j) {
  if (j.is_number_unsigned()) return j.get<std::uint64_t>() <= 0xFFFFFFFFu;
  return j.is_number_integer() && j.get<std::int64_t>() == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = report_from_json(text);
  if (r.ok()) {
    const auto j = nlohmann::json::parse(text);  // it parsed once, so it parses
    if (!whole_id(j.at("user").at("uid")) || !whole_id(j.at("user").at("gid"))) __builtin_trap();
    const std::string json = report_to_json(*r, -1);
    auto back = report_from_json(json);
    if (!back.ok() || report_to_json(*back, -1) != json) __builtin_trap();
  }

  const auto file = cache_dir() / "probe-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.json";
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  ::chmod(file.c_str(), 0600);
  ProbeCache cache(cache_dir());
  auto hit = cache.load(k_id, r.ok() ? r->knowledge_version : std::string("1"));
  if (hit && hit->image_id != k_id) __builtin_trap();
  return 0;
}
