#pragma once
// Probe reports cached by image ID under PARA_BROKER_CACHE (directory 0700,
// files 0600, written atomically). A re-tagged image has a new ID and is
// probed again; a report from another knowledge version is ignored.
//
// File: <cache>/probe-<hex image id>.json, the report's JSON (schema 1).
//
// <cache>/.probe.lock (flock) is held while a report is written; the writer
// removes temp files that a killed writer left.

#include <filesystem>
#include <optional>
#include <set>
#include <string>

#include "core/error.hpp"
#include "probes/report.hpp"

namespace pb::probes {

/// The hex digits of an image ID ("sha256:<hex>" or bare hex, at most 128
/// lower-case digits), which name its files in the cache; unsafe_input otherwise.
Result<std::string> image_id_hex(const std::string& image_id);

class ProbeCache {
 public:
  explicit ProbeCache(std::filesystem::path dir) : m_dir(std::move(dir)) {}

  /// The cached report for an image ID made with `knowledge_version`, if any;
  /// a corrupt or foreign file counts as a miss.
  std::optional<ProbeReport> load(const std::string& image_id, const std::string& knowledge_version) const;

  /// Stores a report under its image_id (creating the private directory).
  Status store(const ProbeReport& report) const;

  /// The file a report for `image_id` lives in; unsafe_input for IDs that
  /// are not "sha256:<hex>" or bare hex.
  Result<std::filesystem::path> file_for(const std::string& image_id) const;

 private:
  std::filesystem::path m_dir;
};

}  // namespace pb::probes
