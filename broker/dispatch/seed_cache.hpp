#pragma once
// What an image puts into a session's config (its seed: the image's own
// config directory without the files a mount never copies, and the image's
// .claude.json), cached by image ID under PARA_BROKER_CACHE, so that a mount
// of an image seen before reads nothing of the image (each archive read costs
// Docker a process). An image ID is the digest of the image's configuration,
// which names the digests of its layers: one ID always names the same files.
//
// A seed goes into a session's config, where a hook in settings.json or an
// MCP server in .claude.json runs next to the user's login, so a file this
// vault did not write is never used: each is sealed (AES-256-GCM) under a key
// derived from the vault's data key (Vault::derive_key(k_seed_key_purpose)),
// with the format version, the image ID and the places the seed was read from
// bound in as associated data. A file that does not open (written under
// another vault's key, another image's copied over, truncated, altered,
// planted) is a miss: the mount reads the image and replaces it. What opens is
// read as hostile all the same: the tar name rules and limits of the volume
// reader, and the files a seed never holds.
//
//   file      = magic version box       ; <cache>/seed-<hex image id>.pbs, 0600, directory 0700
//   magic     = "PBIS"                  ; 4 bytes
//   version   = %x01                    ; k_seed_version; any other is a miss
//   box       = nonce(12) ciphertext tag(16)
//                                       ; AES-256-GCM of the seed tar, AAD = aad
//   aad       = "para-broker image seed" %x00 version image-id %x00
//               config-dir %x00 global-config %x00 read-flags
//   read-flags = 1 byte: 1 = the config dir was read, 2 = the global config was read on its own
//   seed tar  = "c/<name>" for each entry of the config dir (directories and
//               regular files), "j" for the image's .claude.json (if it has one)
//
// A file holds at most k_max_seed_file bytes (a bigger seed is not cached);
// the directory keeps the k_max_seed_files most recently used seeds and at
// most k_max_seed_total bytes of them. <cache>/.seed.lock (flock) is held while
// a seed file is written and the directory pruned; readers need no lock
// (files are replaced by rename).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/dispatch/volume_tar.hpp"
#include "core/error.hpp"
#include "core/secure_buffer.hpp"
#include "probes/report.hpp"

namespace pb::broker::dispatch {

inline constexpr std::uint8_t k_seed_version = 1;
inline constexpr std::size_t k_max_seed_file = 4u << 20;
inline constexpr std::size_t k_max_seed_files = 32;
inline constexpr std::uint64_t k_max_seed_total = 32u << 20;
/// What the cache's key is derived for (vault::Vault::derive_key()).
inline constexpr const char* k_seed_key_purpose = "image seed cache v1";

/// The image's part of a session's config.
struct ImageSeed {
  /// The image's config directory, names relative to it, as belongs_in_seed() keeps them.
  std::vector<TreeEntry> config;
  /// The image's .claude.json; nullopt when the image has none (or it was not read).
  std::optional<SecureBytes> claude_json;
};

/// Where a seed is read from in an image: what the probe report says.
struct SeedSource {
  std::string image_id;
  std::string config_dir;     ///< the image's config dir ("" if none)
  std::string global_config;  ///< the image's .claude.json ("" if none)
  bool read_config_dir = false;
  bool read_global_config = false;  ///< on its own (not as config_dir's .claude.json)
};

/// Where a mount reads the seed of the image `report` describes: a path the
/// probe saw absent from the image is not read (each archive read costs Docker
/// a process of its own).
SeedSource seed_source_of(const probes::ProbeReport& report);

/// Whether an entry of the image's config dir (its name relative to the dir)
/// goes into a seed: not the image's own login (.credentials.json), lock
/// files, a legacy .config.json (it would shadow the merged .claude.json) or
/// .claude.json (merged with the login keys, kept apart).
bool belongs_in_seed(std::string_view name);

class SeedCache {
 public:
  /// `key`: Vault::derive_key(k_seed_key_purpose) of the vault whose mounts use the cache.
  SeedCache(std::filesystem::path dir, SecureBytes key) : m_dir(std::move(dir)), m_key(std::move(key)) {}

  /// The seed stored for exactly `source` under this key; a missing, foreign,
  /// damaged or out-of-bounds file is a miss (nullopt). A hit counts as a use.
  std::optional<ImageSeed> load(const SeedSource& source) const;

  /// Stores `seed` for `source` (creating the private directory), replacing
  /// what was there, then prunes the directory; a seed over k_max_seed_file is
  /// not stored (and the file for source removed).
  Status store(const SeedSource& source, const ImageSeed& seed) const;

  /// The file a seed of `image_id` lives in (unsafe_input for IDs that are not digests).
  Result<std::filesystem::path> file_for(const std::string& image_id) const;

  /// Removes the seed of `image_id` from the cache in `dir`, if any (`probe --refresh`).
  static Status drop(const std::filesystem::path& dir, const std::string& image_id);

 private:
  std::filesystem::path m_dir;
  SecureBytes m_key;
};

}  // namespace pb::broker::dispatch
