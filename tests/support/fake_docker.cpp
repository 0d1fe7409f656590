#include "tests/support/fake_docker.hpp"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <optional>
#include <sstream>

namespace pb::test {

using namespace pb::broker;

namespace {

class StringReader final : public ByteReader {
 public:
  explicit StringReader(std::string data, std::optional<Error> half_way = std::nullopt)
      : m_data(std::move(data)), m_end(half_way ? m_data.size() / 2 : m_data.size()), m_error(std::move(half_way)) {}
  Result<std::size_t> read(std::span<std::byte> out) override {
    if (m_pos == m_end && m_error) return *m_error;
    std::size_t n = std::min(out.size(), m_end - m_pos);
    std::memcpy(out.data(), m_data.data() + m_pos, n);
    m_pos += n;
    return n;
  }

 private:
  std::string m_data;
  std::size_t m_end;
  std::optional<Error> m_error;
  std::size_t m_pos = 0;
};

class RecordingWriter final : public ByteWriter {
 public:
  RecordingWriter(std::shared_ptr<FakeDocker> fake, std::string id, std::string path)
      : m_fake(std::move(fake)), m_id(std::move(id)), m_path(std::move(path)) {}
  Status write(std::span<const std::byte> bytes) override {
    if (m_finished) return fail(ErrorKind::failure, "upload already finished");
    m_data.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return {};
  }
  Status finish() override {
    if (m_finished) return fail(ErrorKind::failure, "upload already finished");
    m_finished = true;
    auto it = m_fake->containers.find(m_id);
    if (it == m_fake->containers.end()) return fail(ErrorKind::not_found, "No such container: " + m_id);
    it->second.uploads.emplace_back(m_path, std::move(m_data));
    return {};
  }

 private:
  std::shared_ptr<FakeDocker> m_fake;
  std::string m_id, m_path, m_data;
  bool m_finished = false;
};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

}  // namespace

std::function<Result<std::shared_ptr<DockerClient>>()> FakeDocker::factory() {
  auto self = shared_from_this();
  return [self]() -> Result<std::shared_ptr<DockerClient>> { return std::shared_ptr<DockerClient>(self); };
}

std::vector<std::string> FakeDocker::calls_starting(const std::string& prefix) const {
  std::lock_guard lock(m_mutex);
  std::vector<std::string> out;
  for (const auto& c : calls)
    if (c.rfind(prefix, 0) == 0) out.push_back(c);
  return out;
}

bool FakeDocker::matches(const Labels& labels, const LabelFilters& filters) {
  for (const auto& f : filters) {
    auto eq = f.find('=');
    auto it = labels.find(f.substr(0, eq));
    if (it == labels.end()) return false;
    if (eq != std::string::npos && it->second != f.substr(eq + 1)) return false;
  }
  return true;
}

std::optional<Error> FakeDocker::record(const std::string& method, const std::string& args) {
  calls.push_back(args.empty() ? method : method + " " + args);
  auto it = failures.find(method);
  if (it != failures.end()) return it->second;
  return std::nullopt;
}

Result<FakeDocker::Container*> FakeDocker::find(const std::string& id, const std::string& what) {
  auto it = containers.find(id);
  if (it == containers.end())
    for (auto c = containers.begin(); c != containers.end(); ++c)
      if (c->second.info.name == id) it = c;
  if (it == containers.end())
    return fail(ErrorKind::not_found, "Docker could not " + what + ": No such container: " + id);
  return &it->second;
}

Status FakeDocker::ping() {
  std::lock_guard lock(m_mutex);
  if (auto e = record("ping", "")) return *e;
  return {};
}

Result<DockerVersion> FakeDocker::version() {
  std::lock_guard lock(m_mutex);
  if (auto e = record("version", "")) return *e;
  return version_value;
}

Result<ImageInfo> FakeDocker::image_inspect(const std::string& name) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("image_inspect", name)) return *e;
  auto it = images.find(name);
  if (it == images.end())
    return fail(ErrorKind::not_found, "Docker could not inspect image '" + name + "': No such image: " + name);
  return it->second;
}

Result<std::vector<ImageSummary>> FakeDocker::image_list(const LabelFilters& labels) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("image_list", join(labels))) return *e;
  std::vector<ImageSummary> out;
  for (const auto& [name, i] : images)
    if (matches(i.labels, labels))
      out.push_back({i.id, i.repo_tags.empty() ? std::vector{name} : i.repo_tags, i.labels, i.size, 0});
  return out;
}

Result<std::unique_ptr<ByteReader>> FakeDocker::image_export(const std::string& name) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("image_export", name)) return *e;
  auto it = image_exports.find(name);
  if (it == image_exports.end())
    return fail(ErrorKind::not_found, "Docker could not export image '" + name + "': No such image: " + name);
  return std::unique_ptr<ByteReader>(std::make_unique<StringReader>(it->second));
}

Status FakeDocker::image_remove(const std::string& name, bool force) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("image_remove", name + (force ? " force" : ""))) return *e;
  if (images.erase(name) == 0)
    return fail(ErrorKind::not_found, "Docker could not remove image '" + name + "': No such image: " + name);
  return {};
}

namespace {
/// Collects an imported root file system; finish() registers the image.
class ImportWriter final : public ByteWriter {
 public:
  ImportWriter(std::shared_ptr<FakeDocker> docker, std::string reference, std::vector<std::string> changes)
      : m_docker(std::move(docker)), m_reference(std::move(reference)), m_changes(std::move(changes)) {}
  Status write(std::span<const std::byte> bytes) override {
    m_data.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return {};
  }
  Status finish() override {
    ImageInfo info;
    info.id = "sha256:imported-" + std::to_string(m_docker->imports.size() + 1);
    info.repo_tags = {m_reference};
    for (const auto& c : m_changes) {
      if (c.starts_with("LABEL ")) {
        std::istringstream words(c.substr(6));
        for (std::string kv; words >> kv;)
          if (auto eq = kv.find('='); eq != std::string::npos) {
            std::string value = kv.substr(eq + 1);  // LABEL k="v" as the daemon reads it: without the quotes
            if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
              value = value.substr(1, value.size() - 2);
            info.labels[kv.substr(0, eq)] = value;
          }
      } else if (c.starts_with("USER ")) {
        info.user = c.substr(5);
      }
    }
    m_docker->imports[m_reference] = m_data;
    m_docker->images[m_reference] = info;
    return {};
  }

 private:
  std::shared_ptr<FakeDocker> m_docker;
  std::string m_reference;
  std::vector<std::string> m_changes;
  std::string m_data;
};
}  // namespace

Result<std::unique_ptr<ByteWriter>> FakeDocker::image_import(const std::string& reference,
                                                             const std::vector<std::string>& changes) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("image_import", reference + " " + join(changes))) return *e;
  return std::unique_ptr<ByteWriter>(std::make_unique<ImportWriter>(shared_from_this(), reference, changes));
}

Result<std::string> FakeDocker::container_create(const ContainerSpec& spec) {
  std::lock_guard lock(m_mutex);
  std::string args = spec.image + " cmd=" + join(spec.cmd) + " network=" + spec.network_mode + " user=" + spec.user +
                     " tty=" + (spec.tty ? "1" : "0");
  for (const auto& m : spec.mounts) args += " mount=" + m.source + ":" + m.target + (m.read_only ? ":ro" : "");
  if (auto e = record("container_create", args)) return *e;
  if (images.find(spec.image) == images.end())
    return fail(ErrorKind::not_found,
                "Docker could not create a container from image '" + spec.image + "': No such image: " + spec.image);
  if (!spec.name.empty())
    for (const auto& [other, c] : containers)
      if (c.info.name == spec.name)
        return fail(ErrorKind::conflict, "Docker could not create a container from image '" + spec.image +
                                             "': Conflict. The container name \"/" + spec.name +
                                             "\" is already in use by container \"" + other + "\"");
  std::string id = "c" + std::to_string(m_next_id++);
  Container c;
  c.spec = spec;
  c.info.id = id;
  c.info.name = spec.name.empty() ? "fake_" + id : spec.name;
  c.info.image = images[spec.image].id;
  c.info.state.status = "created";
  c.created = static_cast<std::int64_t>(std::time(nullptr));
  c.info.labels = spec.labels;
  c.info.user = spec.user;
  c.info.tty = spec.tty;
  if (auto f = image_files.find(c.info.image); f != image_files.end()) {
    c.archives = f->second.archives;
    c.stats = f->second.stats;
    c.archive_read_errors = f->second.archive_read_errors;
  }
  // Docker creates a named volume that does not exist yet, with the mount's volume labels.
  for (const auto& m : spec.mounts)
    if (m.type == MountSpec::Type::volume && !m.source.empty() && volumes.find(m.source) == volumes.end())
      volumes[m.source] =
          VolumeInfo{m.source, "local", "/var/lib/docker/volumes/" + m.source + "/_data", m.volume_labels};
  for (const auto& m : spec.mounts)
    c.info.mounts.push_back({m.type == MountSpec::Type::volume ? "volume"
                             : m.type == MountSpec::Type::bind ? "bind"
                                                               : "tmpfs",
                             m.type == MountSpec::Type::volume ? m.source : "", m.source, m.target, !m.read_only});
  containers[id] = std::move(c);
  return id;
}

Status FakeDocker::container_start(const std::string& id) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("container_start", id)) return *e;
  PB_TRY(Container * c, find(id, "start container " + id));
  c->info.state.status = "running";
  c->info.state.running = true;
  return {};
}

Result<WaitResult> FakeDocker::container_wait(const std::string& id, std::chrono::seconds timeout) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("container_wait", id)) return *e;
  PB_TRY(Container * c, find(id, "wait for container " + id));
  WaitResult w;
  if (on_wait) {
    PB_TRY(w, on_wait(id, timeout));
  }
  c->info.state.status = "exited";
  c->info.state.running = false;
  c->info.state.exit_code = w.exit_code;
  return w;
}

Status FakeDocker::container_kill(const std::string& id, const std::string& signal) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("container_kill", id + " " + signal)) return *e;
  PB_TRY(Container * c, find(id, "kill container " + id));
  if (!c->info.state.running)
    return fail(ErrorKind::conflict, "Docker could not kill container " + id + ": Container " + id + " is not running");
  c->info.state = {"exited", false, false, 137, 0, ""};
  return {};
}

Status FakeDocker::container_remove(const std::string& id, bool force, bool remove_volumes) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("container_remove", id + (force ? " force" : "") + (remove_volumes ? " volumes" : ""))) return *e;
  PB_TRY(Container * c, find(id, "remove container " + id));
  if (c->info.state.running && !force)
    return fail(ErrorKind::conflict, "Docker could not remove container " + id + ": container is running");
  containers.erase(c->info.id);
  return {};
}

Result<Logs> FakeDocker::container_logs(const std::string& id, const LogOptions&) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("container_logs", id)) return *e;
  PB_TRY(Container * c, find(id, "read the logs of container " + id));
  return c->logs;
}

Result<std::vector<FileChange>> FakeDocker::container_changes(const std::string& id) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("container_changes", id)) return *e;
  PB_TRY(Container * c, find(id, "list the changes in container " + id));
  return c->changes;
}

Result<std::vector<ContainerSummary>> FakeDocker::container_list(const LabelFilters& labels) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("container_list", join(labels))) return *e;
  std::vector<ContainerSummary> out;
  for (const auto& [id, c] : containers)
    if (matches(c.info.labels, labels))
      out.push_back({id,
                     {c.info.name},
                     c.spec.image,
                     c.info.state.status,
                     c.info.state.status,
                     c.info.labels,
                     c.created,
                     c.info.image});
  return out;
}

Result<ContainerInfo> FakeDocker::container_inspect(const std::string& id) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("container_inspect", id)) return *e;
  PB_TRY(Container * c, find(id, "inspect container " + id));
  return c->info;
}

Result<PathStat> FakeDocker::archive_stat(const std::string& id, const std::string& path) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("archive_stat", id + " " + path)) return *e;
  PB_TRY(Container * c, find(id, "look at '" + path + "' in container " + id));
  auto it = c->stats.find(path);
  if (it == c->stats.end())
    return fail(ErrorKind::not_found, "Docker could not look at '" + path + "' in container " + id +
                                          ": Could not find the file " + path + " in container " + id);
  return it->second;
}

Result<ArchiveDownload> FakeDocker::archive_get(const std::string& id, const std::string& path) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("archive_get", id + " " + path)) return *e;
  PB_TRY(Container * c, find(id, "copy '" + path + "' out of container " + id));
  auto it = c->archives.find(path);
  if (it == c->archives.end())
    return fail(ErrorKind::not_found, "Docker could not copy '" + path + "' out of container " + id +
                                          ": Could not find the file " + path + " in container " + id);
  PathStat stat = c->stats.count(path) != 0 ? c->stats[path] : PathStat{path, 0, 0x80000000u | 0755, "", ""};
  auto broken = c->archive_read_errors.find(path);
  std::optional<Error> half_way;
  if (broken != c->archive_read_errors.end()) half_way = broken->second;
  return ArchiveDownload{stat, std::make_unique<StringReader>(it->second, std::move(half_way))};
}

Result<std::unique_ptr<ByteWriter>> FakeDocker::archive_put(const std::string& id, const std::string& path) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("archive_put", id + " " + path)) return *e;
  PB_TRY(Container * c, find(id, "copy into '" + path + "' in container " + id));
  return std::unique_ptr<ByteWriter>(std::make_unique<RecordingWriter>(shared_from_this(), c->info.id, path));
}

Result<std::string> FakeDocker::exec_create(const std::string& container_id, const ExecSpec& spec) {
  std::lock_guard lock(m_mutex);
  if (auto e =
          record("exec_create", container_id + " " + join(spec.cmd) + (spec.user.empty() ? "" : " user=" + spec.user)))
    return *e;
  PB_TRY(Container * c, find(container_id, "run a command in container " + container_id));
  if (!c->info.state.running)
    return fail(ErrorKind::conflict, "Docker could not run a command in container " + container_id + ": Container " +
                                         container_id + " is not running");
  c->execs.push_back(spec);
  std::string id = "e" + std::to_string(m_next_id++);
  m_execs[id] = {c->info.id, spec};
  return id;
}

Result<ExecResult> FakeDocker::exec_start(const std::string& exec_id, const ExecOptions& options) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("exec_start", exec_id + " input=" + std::to_string(options.input.size()))) return *e;
  auto it = m_execs.find(exec_id);
  if (it == m_execs.end())
    return fail(ErrorKind::not_found, "Docker could not run exec " + exec_id + ": No such exec instance");
  if (on_exec) return on_exec(it->second.first, it->second.second, options);
  return ExecResult{};
}

Result<VolumeInfo> FakeDocker::volume_create(const std::string& name, const Labels& labels) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("volume_create", name)) return *e;
  auto it = volumes.find(name);
  if (it != volumes.end()) return it->second;  // Docker returns an existing volume as is
  VolumeInfo v{name, "local", "/var/lib/docker/volumes/" + name + "/_data", labels};
  volumes[name] = v;
  return v;
}

Result<VolumeInfo> FakeDocker::volume_inspect(const std::string& name) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("volume_inspect", name)) return *e;
  auto it = volumes.find(name);
  if (it == volumes.end())
    return fail(ErrorKind::not_found,
                "Docker could not inspect volume '" + name + "': get " + name + ": no such volume");
  return it->second;
}

Result<std::vector<VolumeInfo>> FakeDocker::volume_list(const LabelFilters& labels, const std::string& name_part) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("volume_list", join(labels) + (name_part.empty() ? "" : " name~" + name_part))) return *e;
  std::vector<VolumeInfo> out;
  for (const auto& [name, v] : volumes)
    if (matches(v.labels, labels) && name.find(name_part) != std::string::npos) out.push_back(v);
  return out;
}

Status FakeDocker::volume_remove(const std::string& name, bool force) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("volume_remove", name + (force ? " force" : ""))) return *e;
  for (const auto& [id, c] : containers)
    for (const auto& m : c.info.mounts)
      if (m.type == "volume" && m.name == name && !force)
        return fail(ErrorKind::conflict,
                    "Docker could not remove volume '" + name + "': volume is in use - [" + id + "]");
  if (volumes.erase(name) == 0)
    return fail(ErrorKind::not_found,
                "Docker could not remove volume '" + name + "': get " + name + ": no such volume");
  return {};
}

Status FakeDocker::container_resize(const std::string& id, unsigned rows, unsigned cols) {
  std::lock_guard lock(m_mutex);
  if (auto e = record("container_resize", id + " " + std::to_string(rows) + "x" + std::to_string(cols))) return *e;
  PB_TRY(Container * c, find(id, "resize the terminal of container " + id));
  c->rows = rows;
  c->cols = cols;
  return {};
}

Status FakeDocker::attach_terminal(const std::string& id, const TerminalOptions& options) {
  std::function<Status(const std::string&, const TerminalOptions&)> hook;
  {
    std::lock_guard lock(m_mutex);
    if (auto e = record("attach_terminal", id + (options.start ? " start" : ""))) return *e;
    PB_TRY(Container * c, find(id, "attach to container " + id));
    if (options.start) {
      c->info.state.status = "running";
      c->info.state.running = true;
    }
    hook = on_attach;
  }
  if (hook) return hook(id, options);
  return {};
}

}  // namespace pb::test
