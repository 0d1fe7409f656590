#include "probes/cache.hpp"

#include <nlohmann/json.hpp>

#include <string_view>

#include "core/fault.hpp"
#include "core/files.hpp"

namespace pb::probes {

Result<std::string> image_id_hex(const std::string& image_id) {
  std::string_view id = image_id;
  if (id.starts_with("sha256:")) id.remove_prefix(7);
  bool hex = !id.empty() && id.size() <= 128;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) hex = false;
  if (!hex) return fail(ErrorKind::unsafe_input, "image ID '" + image_id.substr(0, 80) + "' is not a sha256 digest");
  return std::string(id);
}

Result<std::filesystem::path> ProbeCache::file_for(const std::string& image_id) const {
  PB_TRY(std::string hex, image_id_hex(image_id));
  return m_dir / ("probe-" + hex + ".json");
}

std::optional<ProbeReport> ProbeCache::load(const std::string& image_id, const std::string& knowledge_version) const {
  auto file = file_for(image_id);
  if (!file) return std::nullopt;
  std::error_code ec;
  if (!std::filesystem::exists(*file, ec)) return std::nullopt;
  if (!check_private_dir(m_dir, "probe cache").ok()) return std::nullopt;
  auto bytes = read_file(*file, 1024 * 1024);
  if (!bytes) return std::nullopt;
  auto report = report_from_json(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
  if (!report || report->image_id != image_id || report->knowledge_version != knowledge_version) return std::nullopt;
  // Written before reports said what overrides a mounted login: probe again rather than miss it.
  if (!report->login_overrides) return std::nullopt;
  return std::move(report).value();
}

Status ProbeCache::store(const ProbeReport& report) const {
  PB_TRY(auto file, file_for(report.image_id));
  PB_TRY_STATUS(ensure_private_dir(m_dir, "probe cache"));
  // Protects: the report files; under it, temp files of killed writers are not of a write in progress.
  PB_TRY(FileLock lock, FileLock::acquire(m_dir / ".probe.lock", FileLock::Mode::exclusive));
  remove_temp_files(m_dir, "probe-");
  PB_CRASH_POINT("probe_cache.before_write");
  return write_file_atomic(file, as_bytes(report_to_json(report, -1)), 0600);
}

}  // namespace pb::probes
