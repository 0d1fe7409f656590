#include "broker/dispatch/seed_cache.hpp"

#include <algorithm>
#include <cstring>

#include "core/files.hpp"
#include "probes/cache.hpp"
#include "vault/crypto.hpp"

namespace fs = std::filesystem;

namespace pb::broker::dispatch {
namespace {

constexpr char k_magic[4] = {'P', 'B', 'I', 'S'};
constexpr std::size_t k_header_size = sizeof k_magic + 1;
constexpr const char* k_prefix = "seed-";
constexpr const char* k_suffix = ".pbs";
const std::string k_config_prefix = "c/";
const std::string k_claude_json_entry = "j";

Bytes aad_of(const SeedSource& s) {
  std::string a = "para-broker image seed";
  a += '\0';
  a += static_cast<char>(k_seed_version);
  a += s.image_id;
  a += '\0';
  a += s.config_dir;
  a += '\0';
  a += s.global_config;
  a += '\0';
  a += static_cast<char>((s.read_config_dir ? 1 : 0) | (s.read_global_config ? 2 : 0));
  return Bytes(a.begin(), a.end());
}

/// The limits a seed tar is read under: the volume reader's for an image's
/// config dir, one entry more (.claude.json), and no more than a file holds.
TreeLimits seed_limits() {
  TreeLimits l;
  l.max_entries += 1;
  l.max_total_size = k_max_seed_file;
  return l;
}

bool is_seed_file(const std::string& name) {
  return name.starts_with(k_prefix) && name.ends_with(k_suffix);
}

/// Keeps the most recently used seeds within k_max_seed_files and
/// k_max_seed_total; `keep` (just written) stays whatever its age.
void prune(const fs::path& dir, const fs::path& keep) {
  struct Seed {
    fs::path path;
    fs::file_time_type used;
    std::uintmax_t size;
  };
  std::vector<Seed> seeds;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!is_seed_file(name) || it->path() == keep) continue;
    std::error_code e1, e2;
    const auto used = it->last_write_time(e1);
    const auto size = it->file_size(e2);
    seeds.push_back({it->path(), e1 ? fs::file_time_type::min() : used, e2 ? 0 : size});
  }
  std::sort(seeds.begin(), seeds.end(), [](const Seed& a, const Seed& b) { return a.used > b.used; });
  std::size_t count = 1;
  std::uintmax_t total = fs::file_size(keep, ec);
  if (ec) total = 0;
  for (const auto& s : seeds) {
    if (++count > k_max_seed_files || (total += s.size) > k_max_seed_total) fs::remove(s.path, ec);
  }
}

}  // namespace

SeedSource seed_source_of(const probes::ProbeReport& report) {
  SeedSource s;
  s.image_id = report.image_id;
  s.config_dir = report.locations.config_dir.value_or("");
  s.global_config = report.locations.global_config.value_or("");
  s.read_config_dir = !s.config_dir.empty() && report.in_image.config_dir.value_or(true);
  s.read_global_config = !s.global_config.empty() && s.global_config != s.config_dir + "/.claude.json" &&
                         report.in_image.global_config.value_or(true);
  return s;
}

bool belongs_in_seed(std::string_view name) {
  if (name.find('/') != std::string_view::npos) return true;
  const bool lock = name.size() > 5 && name.ends_with(".lock");
  return !(name == ".credentials.json" || name == ".config.json" || name == ".claude.json" || lock);
}

Result<fs::path> SeedCache::file_for(const std::string& image_id) const {
  PB_TRY(std::string hex, probes::image_id_hex(image_id));
  return m_dir / (k_prefix + hex + k_suffix);
}

std::optional<ImageSeed> SeedCache::load(const SeedSource& source) const {
  auto file = file_for(source.image_id);
  if (!file) return std::nullopt;
  std::error_code ec;
  if (!fs::exists(*file, ec)) return std::nullopt;
  if (!check_private_dir(m_dir, "probe cache").ok()) return std::nullopt;
  auto bytes = read_file(*file, k_header_size + k_max_seed_file + vault::k_box_overhead);
  if (!bytes || bytes->size() < k_header_size + vault::k_box_overhead ||
      std::memcmp(bytes->data(), k_magic, sizeof k_magic) != 0 || (*bytes)[sizeof k_magic] != k_seed_version)
    return std::nullopt;
  const Bytes aad = aad_of(source);
  auto plain = vault::open(m_key, ByteSpan(*bytes).subspan(k_header_size), aad);
  if (!plain) return std::nullopt;
  // Sealed by this vault's key for this image, and still read like an image's files.
  auto entries = read_tree(*plain, seed_limits(), "the cached seed of image " + source.image_id);
  if (!entries) return std::nullopt;
  ImageSeed seed;
  for (auto& e : *entries) {
    if (e.name == k_claude_json_entry && !e.is_dir && !seed.claude_json) {
      seed.claude_json = std::move(e.data);
      continue;
    }
    if (!e.name.starts_with(k_config_prefix)) return std::nullopt;
    std::string name = e.name.substr(k_config_prefix.size());
    if (name.empty() || !belongs_in_seed(name)) return std::nullopt;
    seed.config.push_back({std::move(name), e.is_dir, std::move(e.data), {}});
  }
  if (seed.config.size() > TreeLimits{}.max_entries) return std::nullopt;
  // Most recently used survive pruning.
  fs::last_write_time(*file, fs::file_time_type::clock::now(), ec);
  return seed;
}

Status SeedCache::store(const SeedSource& source, const ImageSeed& seed) const {
  PB_TRY(fs::path file, file_for(source.image_id));
  std::vector<TreeEntry> entries;
  entries.reserve(seed.config.size() + 1);
  std::size_t size = 0;
  for (const auto& e : seed.config) {
    if (!belongs_in_seed(e.name) || !e.link.empty())
      return fail(ErrorKind::unsafe_input, "a seed holds only the image's config files a mount copies");
    entries.push_back({k_config_prefix + e.name, e.is_dir, e.data, {}});
    size += e.data.size() + e.name.size();
  }
  if (seed.claude_json) {
    entries.push_back({k_claude_json_entry, false, *seed.claude_json, {}});
    size += seed.claude_json->size();
  }
  std::optional<SecureBytes> tar;
  if (size <= k_max_seed_file) {
    PB_TRY(tar, render_tree("", entries, 0, 0));
    if (tar->size() > k_max_seed_file) tar.reset();
  }
  PB_TRY_STATUS(ensure_private_dir(m_dir, "probe cache"));
  // Protects: the seed files; under it, temp files of killed writers are not of a write in progress.
  PB_TRY(FileLock lock, FileLock::acquire(m_dir / ".seed.lock", FileLock::Mode::exclusive));
  remove_temp_files(m_dir, k_prefix);
  std::error_code ec;
  if (!tar) {
    // Too big to cache: an older, smaller seed of this image must not stay in its place.
    fs::remove(file, ec);
    return {};
  }
  PB_TRY(Bytes box, vault::seal(m_key, *tar, aad_of(source), vault::system_random()));
  Bytes out(k_magic, k_magic + sizeof k_magic);
  out.push_back(k_seed_version);
  out.insert(out.end(), box.begin(), box.end());
  PB_TRY_STATUS(write_file_atomic(file, out, 0600));
  prune(m_dir, file);
  return {};
}

Status SeedCache::drop(const fs::path& dir, const std::string& image_id) {
  PB_TRY(std::string hex, probes::image_id_hex(image_id));
  std::error_code ec;
  fs::remove(dir / (k_prefix + hex + k_suffix), ec);
  if (ec) return fail(ErrorKind::failure, "removing the cached seed of image " + image_id + " failed: " + ec.message());
  return {};
}

}  // namespace pb::broker::dispatch
