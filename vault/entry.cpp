#include "vault/entry.hpp"

#include <nlohmann/json.hpp>

#include "core/json.hpp"

namespace pb::vault {
namespace {

constexpr std::uint8_t k_magic[4] = {'P', 'B', 'V', 'E'};

void put_u32(Bytes& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}

std::uint32_t get_u32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | std::uint32_t{p[3]};
}

Bytes aad_for(ByteSpan header, std::string_view section) {
  Bytes aad(header.begin(), header.end());
  aad.insert(aad.end(), section.begin(), section.end());
  return aad;
}

Error corrupt(std::string_view why) {
  return fail(ErrorKind::integrity, std::string(why));
}

}  // namespace

bool is_entry_id(std::string_view id) {
  if (id.size() != k_entry_id_size) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string EntryMeta::to_json_text() const {
  nlohmann::json j = {{"schema", 1},
                      {"id", id},
                      {"name", name},
                      {"kind", kind},
                      {"account", account},
                      {"account_uuid", account_uuid},
                      {"identity", identity},
                      {"plan", plan},
                      {"expires_at", expires_at ? nlohmann::json(*expires_at) : nlohmann::json()},
                      {"source", source},
                      {"fingerprint", fingerprint},
                      {"created", created},
                      {"updated", updated},
                      {"last_used", last_used ? nlohmann::json(*last_used) : nlohmann::json()},
                      {"files", nlohmann::json::array()}};
  for (const auto& f : files) j["files"].push_back({{"name", f.name}, {"sha256", f.sha256}, {"size", f.size}});
  if (previous)
    j["previous"] = {
        {"fingerprint", previous->fingerprint}, {"source", previous->source}, {"replaced_at", previous->replaced_at}};
  return j.dump();
}

Result<EntryMeta> EntryMeta::from_json_text(std::string_view text) {
  try {
    auto j = nlohmann::json::parse(text);
    if (!j.is_object() || !j.contains("schema") || whole_number<int>(j["schema"]) != 1)
      return corrupt("meta.json has an unknown schema");
    EntryMeta m;
    m.id = j.at("id").get<std::string>();
    m.name = j.at("name").get<std::string>();
    m.kind = j.at("kind").get<std::string>();
    m.account = j.at("account").get<std::string>();
    m.account_uuid = j.at("account_uuid").get<std::string>();
    m.identity = j.at("identity").get<std::string>();
    m.plan = j.at("plan").get<std::string>();
    if (!j.at("expires_at").is_null()) m.expires_at = whole_number_or_throw<std::int64_t>(j.at("expires_at"));
    m.source = j.at("source").get<std::string>();
    m.fingerprint = j.at("fingerprint").get<std::string>();
    m.created = whole_number_or_throw<std::int64_t>(j.at("created"));
    m.updated = whole_number_or_throw<std::int64_t>(j.at("updated"));
    if (!j.at("last_used").is_null()) m.last_used = whole_number_or_throw<std::int64_t>(j.at("last_used"));
    for (const auto& f : j.at("files"))
      m.files.push_back({f.at("name").get<std::string>(), f.at("sha256").get<std::string>(),
                         whole_number_or_throw<std::uint64_t>(f.at("size"))});
    // Entries written before a previous login was kept have no such key.
    if (auto p = j.find("previous"); p != j.end() && !p->is_null())
      m.previous = Previous{p->at("fingerprint").get<std::string>(), p->at("source").get<std::string>(),
                            whole_number_or_throw<std::int64_t>(p->at("replaced_at"))};
    return m;
  } catch (const nlohmann::json::exception&) {
    return corrupt("meta.json is malformed");
  }
}

Result<EntryFileHeader> parse_entry_header(ByteSpan file) {
  if (file.empty()) return corrupt("the file is empty");
  if (file.size() < 6 || !std::equal(std::begin(k_magic), std::end(k_magic), file.begin()))
    return corrupt("the file is not a para-broker vault entry (bad magic)");
  EntryFileHeader h;
  h.version = file[4];
  if (h.version != k_entry_version && h.version != k_entry_version_without_generation)
    return corrupt("the entry has format version " + std::to_string(h.version) + ", this para-broker reads versions " +
                   std::to_string(k_entry_version_without_generation) + " and " + std::to_string(k_entry_version));
  const std::size_t id_len = file[5];
  const std::size_t gen_len = h.version == k_entry_version ? 8 : 0;
  if (id_len != k_entry_id_size || file.size() < 6 + id_len + gen_len + 4)
    return corrupt("the entry header is truncated or malformed");
  h.id.assign(reinterpret_cast<const char*>(file.data() + 6), id_len);
  if (!is_entry_id(h.id)) return corrupt("the entry id is malformed");
  for (std::size_t i = 0; i < gen_len; ++i) h.generation = h.generation << 8 | file[6 + id_len + i];
  if (gen_len > 0 && h.generation == 0) return corrupt("the entry's generation is 0");
  h.header_size = 6 + id_len + gen_len;
  std::size_t pos = h.header_size;
  h.meta_box_size = get_u32(file.data() + pos);
  pos += 4;
  if (h.meta_box_size < k_box_overhead || h.meta_box_size > k_max_meta_box || file.size() - pos < h.meta_box_size + 4)
    return corrupt("the entry's metadata section is truncated or malformed");
  pos += h.meta_box_size;
  h.payload_box_size = get_u32(file.data() + pos);
  pos += 4;
  if (h.payload_box_size < k_box_overhead || h.payload_box_size > k_max_payload_box ||
      file.size() - pos != h.payload_box_size)
    return corrupt("the entry's payload section is truncated or has trailing bytes");
  return h;
}

Result<Bytes> encode_entry(ByteSpan entry_key, const EntryMeta& meta, const std::vector<ArchiveFile>& files,
                           const RandomSource& random) {
  if (!is_entry_id(meta.id)) return fail(ErrorKind::failure, "entry id '" + meta.id + "' is malformed");
  if (meta.generation == 0) return fail(ErrorKind::failure, "entry " + meta.id + " has no generation");
  Bytes out(std::begin(k_magic), std::end(k_magic));
  out.push_back(k_entry_version);
  out.push_back(static_cast<std::uint8_t>(meta.id.size()));
  out.insert(out.end(), meta.id.begin(), meta.id.end());
  for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(meta.generation >> s));
  const Bytes header = out;

  const std::string meta_text = meta.to_json_text();
  PB_TRY(Bytes meta_box, seal(entry_key, as_bytes(meta_text), aad_for(header, "meta"), random));

  std::vector<ArchiveFile> all;
  all.reserve(files.size() + 1);
  for (const auto& f : files) all.push_back({f.name, f.data});
  all.push_back({k_meta_file, SecureBytes(meta_text.begin(), meta_text.end())});
  PB_TRY(SecureBytes tar, write_tar(all));
  PB_TRY(Bytes payload_box, seal(entry_key, tar, aad_for(header, "payload"), random));
  if (meta_box.size() > k_max_meta_box || payload_box.size() > k_max_payload_box)
    return fail(ErrorKind::unsafe_input, "the credential's files are too large for a vault entry");

  put_u32(out, static_cast<std::uint32_t>(meta_box.size()));
  out.insert(out.end(), meta_box.begin(), meta_box.end());
  put_u32(out, static_cast<std::uint32_t>(payload_box.size()));
  out.insert(out.end(), payload_box.begin(), payload_box.end());
  return out;
}

namespace {

struct OpenedMeta {
  EntryMeta meta;
  SecureBytes text;
};

Result<OpenedMeta> open_meta(ByteSpan entry_key, ByteSpan file, const EntryFileHeader& h,
                             std::string_view expected_id) {
  if (!expected_id.empty() && h.id != expected_id)
    return corrupt("the entry file carries id " + h.id + " but is stored as " + std::string(expected_id));
  ByteSpan header = file.first(h.header_size);
  ByteSpan box = file.subspan(h.header_size + 4, h.meta_box_size);
  auto plain = open(entry_key, box, aad_for(header, "meta"));
  if (!plain) return corrupt("the entry's metadata failed authentication");
  PB_TRY(EntryMeta meta, EntryMeta::from_json_text(as_chars(*plain)));
  if (meta.id != h.id) return corrupt("the entry's metadata names another id");
  meta.generation = h.generation;
  return OpenedMeta{std::move(meta), std::move(*plain)};
}

}  // namespace

Result<EntryMeta> decode_entry_meta(ByteSpan entry_key, ByteSpan file, std::string_view expected_id) {
  PB_TRY(EntryFileHeader h, parse_entry_header(file));
  PB_TRY(OpenedMeta m, open_meta(entry_key, file, h, expected_id));
  return std::move(m.meta);
}

Result<DecodedEntry> decode_entry(ByteSpan entry_key, ByteSpan file, std::string_view expected_id) {
  PB_TRY(EntryFileHeader h, parse_entry_header(file));
  PB_TRY(OpenedMeta opened, open_meta(entry_key, file, h, expected_id));
  ByteSpan header = file.first(h.header_size);
  ByteSpan box = file.subspan(h.header_size + 4 + h.meta_box_size + 4, h.payload_box_size);
  auto tar = open(entry_key, box, aad_for(header, "payload"));
  if (!tar) return corrupt("the entry's payload failed authentication");
  auto files = read_tar(*tar);
  if (!files) return corrupt("the entry's payload archive is malformed");
  DecodedEntry out;
  bool saw_meta = false;
  for (auto& f : *files) {
    if (f.name == k_meta_file) {
      if (!equal_ct(f.data, opened.text)) return corrupt("the entry's two metadata copies differ");
      saw_meta = true;
      continue;
    }
    out.files.push_back(std::move(f));
  }
  if (!saw_meta) return corrupt("the entry's payload lacks meta.json");
  if (out.files.size() != opened.meta.files.size()) return corrupt("the entry's payload does not match its file list");
  for (const auto& d : opened.meta.files) {
    auto it = std::find_if(out.files.begin(), out.files.end(), [&](const ArchiveFile& f) { return f.name == d.name; });
    if (it == out.files.end() || it->data.size() != d.size || to_hex(sha256(it->data)) != d.sha256)
      return corrupt("the entry's file " + d.name + " does not match its checksum");
  }
  out.meta = std::move(opened.meta);
  return out;
}

}  // namespace pb::vault
