#include "broker/audit/image_scan.hpp"

#include <algorithm>
#include <cerrno>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "broker/docker/archive_source.hpp"
#include "core/c_handles.hpp"

namespace pb::broker::audit {
namespace {

constexpr std::size_t k_read_block = 1u << 20;         ///< from the Docker socket
constexpr std::uint64_t k_progress_every = 32u << 20;  ///< bytes between progress calls
constexpr std::size_t k_max_path = 4096;               ///< longer reported paths are cut

/// "./a/b/" -> "a/b"; "/a" -> "a".
std::string normalize(std::string_view p) {
  while (true) {
    if (p.starts_with("./")) {
      p.remove_prefix(2);
    } else if (p.starts_with("/")) {
      p.remove_prefix(1);
    } else {
      break;
    }
  }
  while (p.ends_with("/")) p.remove_suffix(1);
  if (p == ".") return {};
  return std::string(p);
}

std::string_view dirname_of(std::string_view p) {
  auto slash = p.rfind('/');
  return slash == std::string_view::npos ? std::string_view{} : p.substr(0, slash);
}

std::string join(std::string_view dir, std::string_view name) {
  return dir.empty() ? std::string(name) : std::string(dir) + "/" + std::string(name);
}

/// Resolves a symlink target written in the save stream relative to its directory.
std::string resolve_link(std::string_view link_dir, std::string_view target) {
  std::vector<std::string> parts;
  const std::string joined = target.starts_with("/") ? std::string(target) : join(link_dir, target);
  std::string_view rest = joined;
  while (!rest.empty()) {
    auto slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.emplace_back(part);
  }
  std::string out;
  for (const auto& part : parts) out = join(out, part);
  return out;
}

std::uint64_t path_hash(std::string_view p) {
  return std::hash<std::string_view>{}(p);
}

std::string cut(std::string p) {
  if (p.size() > k_max_path) {
    p.resize(k_max_path);
    p += "...";
  }
  return p;
}

struct FileHit {
  std::string path;
  MarkSet marks = 0;
};

/// What one layer tar holds that matters, kept until the layer order is known.
struct LayerRecord {
  std::vector<FileHit> hits;
  std::size_t hits_dropped = 0;
  std::vector<std::string> whiteouts;  ///< paths deleted from lower layers
  std::vector<std::string> opaque;     ///< directories whose lower content is hidden
  std::vector<std::uint64_t> written;  ///< hashes of every path this layer writes (sorted at the end)
  bool written_complete = true;
  bool whiteouts_complete = true;
  std::string error;  ///< set when the layer could not be read to its end
};

// ---------------------------------------------------------------- libarchive sources

/// The export stream, calling `progress` with the bytes read so far every
/// k_progress_every bytes.
class ProgressReader final : public ByteReader {
 public:
  ProgressReader(ByteReader& reader, const std::function<void(std::uint64_t)>& progress)
      : m_reader(reader), m_progress(progress) {}
  Result<std::size_t> read(std::span<std::byte> out) override {
    auto n = m_reader.read(out);
    if (!n) return n;
    m_total += *n;
    if (m_progress && m_total >= m_next) {
      m_progress(m_total);
      m_next = m_total + k_progress_every;
    }
    return n;
  }

 private:
  ByteReader& m_reader;
  const std::function<void(std::uint64_t)>& m_progress;
  std::uint64_t m_total = 0;
  std::uint64_t m_next = k_progress_every;
};

/// Feeds a nested archive with the data of the outer archive's current entry,
/// block by block, without copying.
struct InnerSource {
  struct archive* outer = nullptr;
  la_int64_t expected = 0;
};

la_ssize_t inner_read(struct archive* a, void* data, const void** out) {
  auto* s = static_cast<InnerSource*>(data);
  const void* block = nullptr;
  std::size_t size = 0;
  la_int64_t offset = 0;
  const int r = archive_read_data_block(s->outer, &block, &size, &offset);
  if (r == ARCHIVE_EOF) return 0;
  if (r < ARCHIVE_WARN) {
    archive_set_error(a, EIO, "%s", archive_error_string(s->outer) ? archive_error_string(s->outer) : "read error");
    return -1;
  }
  if (offset != s->expected) {
    archive_set_error(a, EIO, "sparse layer entry");
    return -1;
  }
  s->expected += static_cast<la_int64_t>(size);
  *out = block;
  return static_cast<la_ssize_t>(size);
}

std::string archive_message(struct archive* a, std::string_view fallback) {
  const char* m = archive_error_string(a);
  return m != nullptr ? std::string(m) : std::string(fallback);
}

/// Reads the outer archive's current entry as a layer tar. nullopt when it is
/// not a tar at all (a config or manifest blob).
std::optional<LayerRecord> scan_layer(struct archive* outer, std::uint64_t& files) {
  ArchiveRead inner(archive_read_new());
  if (!inner) return std::nullopt;
  archive_read_support_format_tar(inner.get());
  archive_read_support_filter_gzip(inner.get());
  InnerSource src{outer, 0};
  if (archive_read_open(inner.get(), &src, nullptr, inner_read, nullptr) != ARCHIVE_OK) return std::nullopt;

  LayerRecord rec;
  std::vector<std::uint64_t>& written = rec.written;
  struct archive_entry* e = nullptr;
  while (true) {
    const int r = archive_read_next_header(inner.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      rec.error = archive_message(inner.get(), "unreadable entry header");
      break;
    }
    const char* raw = archive_entry_pathname(e);
    if (raw == nullptr) continue;
    const std::string path = normalize(raw);
    if (path.empty()) continue;
    const std::string_view dir = dirname_of(path);
    const std::string_view base = std::string_view(path).substr(dir.empty() ? 0 : dir.size() + 1);
    if (base.starts_with(".wh.")) {
      if (rec.whiteouts.size() + rec.opaque.size() >= k_max_whiteouts) {
        rec.whiteouts_complete = false;
      } else if (base == ".wh..wh..opq") {
        rec.opaque.emplace_back(dir);
      } else {
        rec.whiteouts.push_back(join(dir, base.substr(4)));
      }
      continue;
    }
    if (written.size() < k_max_tracked_paths) {
      written.push_back(path_hash(path));
    } else {
      rec.written_complete = false;
    }
    const bool hardlink = archive_entry_hardlink(e) != nullptr;
    if (archive_entry_filetype(e) != AE_IFREG && !hardlink) continue;
    ++files;
    MarkSet marks = is_credentials_name(path) ? mark_bit(MarkKind::credentials_file) : 0;
    if (!hardlink) {
      ContentMatcher matcher(is_claude_json_name(path));
      const void* block = nullptr;
      std::size_t size = 0;
      la_int64_t offset = 0;
      int d = ARCHIVE_OK;
      while ((d = archive_read_data_block(inner.get(), &block, &size, &offset)) == ARCHIVE_OK || d == ARCHIVE_WARN)
        matcher.feed(std::span(static_cast<const std::byte*>(block), size));
      matcher.finish();
      marks |= matcher.found();
      if (d != ARCHIVE_EOF)
        rec.error = archive_message(inner.get(), "unreadable file data") + " (in " + cut(path) + ")";
    }
    if (marks != 0) {
      if (rec.hits.size() < k_max_findings) {
        rec.hits.push_back({cut(path), marks});
      } else {
        ++rec.hits_dropped;
      }
    }
    if (!rec.error.empty()) break;
  }
  std::sort(written.begin(), written.end());
  return rec;
}

/// Reads the outer archive's current entry (manifest.json) and returns its first image.
std::optional<nlohmann::json> read_manifest(struct archive* outer, std::string& warning) {
  std::string text;
  char buf[64 * 1024];
  la_ssize_t n = 0;
  while ((n = archive_read_data(outer, buf, sizeof buf)) > 0) {
    if (text.size() + static_cast<std::size_t>(n) > k_max_manifest) {
      warning = "manifest.json is larger than 4 MiB; layer order unknown";
      return std::nullopt;
    }
    text.append(buf, static_cast<std::size_t>(n));
  }
  if (n < 0) {
    warning = "manifest.json could not be read: " + archive_message(outer, "read error");
    return std::nullopt;
  }
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array() || j.empty() || !j[0].is_object()) {
    warning = "manifest.json is not a docker save manifest; layer order unknown";
    return std::nullopt;
  }
  return j[0];
}

std::vector<std::string> strings_of(const nlohmann::json& obj, const char* key) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_array()) return out;
  for (const auto& v : *it)
    if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

bool under(std::string_view path, std::string_view dir) {
  if (dir.empty()) return true;
  return path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/';
}

bool deletes(const LayerRecord& upper, std::string_view path) {
  for (const auto& w : upper.whiteouts)
    if (path == w || under(path, w)) return true;
  for (const auto& d : upper.opaque)
    if (under(path, d)) return true;
  return false;
}

bool writes(const LayerRecord& upper, std::string_view path) {
  return std::binary_search(upper.written.begin(), upper.written.end(), path_hash(path));
}

}  // namespace

std::string_view fate_name(Fate fate) {
  switch (fate) {
    case Fate::present:
      return "present";
    case Fate::deleted:
      return "deleted";
    case Fate::replaced:
      return "replaced";
  }
  return "present";
}

namespace {

/// What the outer tar of a save stream holds: the layers scanned, the links
/// between its paths, and the manifest.
struct ExportContents {
  std::map<std::string, LayerRecord> layers;   // by path in the save stream
  std::map<std::string, std::string> aliases;  // link path -> target path in the save stream
  std::optional<nlohmann::json> manifest;
  std::string manifest_warning = "the export has no manifest.json; layer order unknown";
};

/// Whether an entry of the save stream is metadata rather than a layer.
bool is_metadata(const std::string& name) {
  const std::string_view base =
      std::string_view(name).substr(name.rfind('/') == std::string::npos ? 0 : name.rfind('/') + 1);
  return base.ends_with(".json") || base == "json" || base == "VERSION" || base == "repositories" ||
         base == "oci-layout";
}

Status read_export(struct archive* outer, const ArchiveSource& src, ImageScan& scan, ExportContents& c) {
  struct archive_entry* e = nullptr;
  while (true) {
    const int r = archive_read_next_header(outer, &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      if (src.error()) return *src.error();
      return fail(ErrorKind::integrity,
                  "the image export is not a readable tar: " + archive_message(outer, "read error"));
    }
    const char* raw = archive_entry_pathname(e);
    if (raw == nullptr) continue;
    const std::string name = normalize(raw);
    if (const char* hl = archive_entry_hardlink(e); hl != nullptr) {
      c.aliases[name] = normalize(hl);
      continue;
    }
    if (archive_entry_filetype(e) == AE_IFLNK) {
      const char* target = archive_entry_symlink(e);
      if (target != nullptr) c.aliases[name] = resolve_link(dirname_of(name), target);
      continue;
    }
    if (archive_entry_filetype(e) != AE_IFREG) continue;
    if (name == "manifest.json") {
      c.manifest_warning.clear();
      c.manifest = read_manifest(outer, c.manifest_warning);
      continue;
    }
    if (is_metadata(name)) continue;
    try {
      if (auto rec = scan_layer(outer, scan.files)) c.layers.emplace(name, std::move(*rec));
    } catch (const std::bad_alloc&) {
      return fail(ErrorKind::failure, "out of memory while scanning layer " + name);
    }
    if (src.error()) return *src.error();
  }
  return {};
}

/// The layers' paths in the stream, bottom first, as the manifest lists them (links followed).
std::vector<std::string> layer_order(const ExportContents& c, ImageScan& scan) {
  std::vector<std::string> order;
  if (!c.manifest) {
    scan.warnings.push_back(c.manifest_warning);
    return order;
  }
  scan.repo_tags = strings_of(*c.manifest, "RepoTags");
  for (auto& p : strings_of(*c.manifest, "Layers")) {
    std::string at = normalize(p);
    for (int hops = 0; hops < 8; ++hops) {
      auto a = c.aliases.find(at);
      if (a == c.aliases.end()) break;
      at = a->second;
    }
    order.push_back(std::move(at));
  }
  return order;
}

/// The scanned record of each layer in `order` (null when it could not be read), with warnings.
std::vector<const LayerRecord*> layer_stack(const std::vector<std::string>& order, const ExportContents& c,
                                            const ScanOptions& options, ImageScan& scan) {
  std::vector<const LayerRecord*> stack;
  for (std::size_t i = 0; i < order.size(); ++i) {
    auto it = c.layers.find(order[i]);
    stack.push_back(it == c.layers.end() ? nullptr : &it->second);
    const std::string label =
        "layer " + std::to_string(i) + (i < options.diff_ids.size() ? " (" + options.diff_ids[i] + ")" : "");
    if (it == c.layers.end()) {
      scan.warnings.push_back(label + " could not be read as a tar; it was not scanned");
      continue;
    }
    const LayerRecord& rec = it->second;
    if (!rec.error.empty()) scan.warnings.push_back(label + " could not be read to its end: " + rec.error);
    if (!rec.written_complete || !rec.whiteouts_complete)
      scan.warnings.push_back(label + " has too many entries to tell which findings below it are hidden");
  }
  return stack;
}

void add_finding(ImageScan& scan, ImageFinding f) {
  if (scan.findings.size() < k_max_findings)
    scan.findings.push_back(std::move(f));
  else
    ++scan.findings_dropped;
}

/// What became of a file of layer `i` in the layers above it.
void settle_fate(const std::vector<const LayerRecord*>& stack, std::size_t i, ImageFinding& f) {
  for (std::size_t j = i + 1; j < stack.size(); ++j) {
    if (stack[j] == nullptr) continue;
    if (deletes(*stack[j], f.path)) {
      f.fate = Fate::deleted;
      f.fate_layer = static_cast<int>(j);
      return;
    }
    if (writes(*stack[j], f.path)) {
      f.fate = Fate::replaced;
      f.fate_layer = static_cast<int>(j);
      return;
    }
  }
}

void add_findings(const std::vector<std::string>& order, const std::vector<const LayerRecord*>& stack,
                  const ExportContents& c, const ScanOptions& options, ImageScan& scan) {
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (stack[i] == nullptr) continue;
    scan.findings_dropped += stack[i]->hits_dropped;
    for (const auto& hit : stack[i]->hits) {
      ImageFinding f;
      f.layer_index = static_cast<int>(i);
      if (i < options.diff_ids.size() && options.diff_ids.size() == order.size()) f.diff_id = options.diff_ids[i];
      f.layer_path = order[i];
      f.path = hit.path;
      f.marks = hit.marks;
      settle_fate(stack, i, f);
      add_finding(scan, std::move(f));
    }
  }
  // Layers in the stream that the manifest does not list (or no manifest at all).
  for (const auto& [path, rec] : c.layers) {
    if (std::find(order.begin(), order.end(), path) != order.end()) continue;
    scan.findings_dropped += rec.hits_dropped;
    for (const auto& hit : rec.hits) {
      ImageFinding f;
      f.layer_path = path;
      f.path = hit.path;
      f.marks = hit.marks;
      add_finding(scan, std::move(f));
    }
  }
}

}  // namespace

Result<ImageScan> scan_image_export(ByteReader& export_stream, const ScanOptions& options) {
  ArchiveRead outer(archive_read_new());
  if (!outer) return fail(ErrorKind::failure, "cannot allocate an archive reader");
  archive_read_support_format_tar(outer.get());
  ProgressReader reader(export_stream, options.progress);
  ArchiveSource src(reader, {.buffer_size = k_read_block});
  if (src.open(outer.get()) != ARCHIVE_OK) {
    if (src.error()) return *src.error();
    return fail(ErrorKind::integrity,
                "the image export is not a tar stream: " + archive_message(outer.get(), "unknown format"));
  }
  ImageScan scan;
  ExportContents contents;
  PB_TRY_STATUS(read_export(outer.get(), src, scan, contents));
  scan.bytes = src.total();
  if (options.progress) options.progress(src.total());
  const std::vector<std::string> order = layer_order(contents, scan);
  scan.layers = order.size();
  const auto stack = layer_stack(order, contents, options, scan);
  add_findings(order, stack, contents, options, scan);
  return scan;
}

}  // namespace pb::broker::audit
