#pragma once
// Scans one image's `docker save` stream (GET /images/{id}/get) for Claude
// Code login state, layer by layer, without running the image and without
// writing anything to disk:
//
//   outer tar (the save stream)      read with libarchive from a ByteReader
//     manifest.json                  [{"Config":…,"RepoTags":[…],"Layers":["<dir>/layer.tar",…]}]
//     <dir>/layer.tar | blobs/sha256/<hex>   each layer: a tar (or gzip/zstd tar),
//                                    read as a nested stream from the outer entry
//
// The manifest usually comes after the layers, so findings, whiteouts and the
// paths each layer writes are kept per layer tar path, and layer order is
// resolved at the end. Memory is bounded: a few blocks of buffer, the findings,
// the whiteouts, and an 8-byte hash per file path (at most k_max_tracked_paths
// per layer).

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "broker/audit/content_matcher.hpp"
#include "core/error.hpp"

namespace pb::broker {
class ByteReader;
}

namespace pb::broker::audit {

inline constexpr std::size_t k_max_findings = 1000;           ///< per image; more is counted, not listed
inline constexpr std::size_t k_max_tracked_paths = 1u << 20;  ///< per layer, for "replaced later"
inline constexpr std::size_t k_max_whiteouts = 1u << 16;      ///< per layer
inline constexpr std::uint64_t k_max_manifest = 4u << 20;     ///< manifest.json bytes

/// What became of a finding's file in the layers above it.
enum class Fate {
  present,   ///< still visible in the image's filesystem
  deleted,   ///< a later layer deletes it (whiteout): gone from the filesystem, still in the image
  replaced,  ///< a later layer writes the same path: hidden, still in the image
};
std::string_view fate_name(Fate fate);

struct ImageFinding {
  int layer_index = -1;    ///< 0 = bottom layer; -1 when the manifest does not list the layer
  std::string diff_id;     ///< the layer's diff ID ("sha256:…") when known
  std::string layer_path;  ///< the layer's path inside the save stream
  std::string path;        ///< the file, relative to the image root (no leading '/')
  MarkSet marks = 0;
  Fate fate = Fate::present;
  int fate_layer = -1;  ///< the layer that deletes or replaces it
};

struct ImageScan {
  std::vector<std::string> repo_tags;  ///< from the manifest
  std::size_t layers = 0;              ///< layers the manifest lists
  std::vector<ImageFinding> findings;  ///< by layer, then path
  std::size_t findings_dropped = 0;    ///< beyond k_max_findings
  std::uint64_t bytes = 0;             ///< size of the save stream read
  std::uint64_t files = 0;             ///< regular files scanned in all layers
  std::vector<std::string> warnings;   ///< what could not be checked (incomplete scan)
};

struct ScanOptions {
  /// Diff IDs of the image's layers, bottom first (from image_inspect), to name layers.
  std::vector<std::string> diff_ids;
  /// Called now and then with the bytes read so far.
  std::function<void(std::uint64_t bytes)> progress;
};

/// Scans a save stream. Errors: integrity when the stream is not a readable
/// tar; individual unreadable layers become warnings.
Result<ImageScan> scan_image_export(ByteReader& export_stream, const ScanOptions& options = {});

}  // namespace pb::broker::audit
