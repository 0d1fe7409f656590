#pragma once
// The one seam to the Docker Engine. The Engine-API implementation
// (broker/docker/engine_internal.hpp, made by connect_from_environment()) talks
// HTTP to a real daemon; tests/support/fake_docker.hpp is a recording fake.
//
// Every method returns pb::Result; Error kinds: unreachable (no daemon at the
// endpoint, TLS refused), timeout (daemon too slow), not_found (HTTP 404),
// conflict (HTTP 409), api (any other refusal, with the daemon's message).
//
// Bodies of any size (container archives, image exports) are never buffered
// whole: downloads are pulled through a ByteReader, uploads pushed through a
// ByteWriter. Both fit libarchive's callbacks directly: a reader through
// ArchiveSource (broker/docker/archive_source.hpp), which keeps its error;
//   archive_write_open(a, &writer, nullptr, write_cb, nullptr) where write_cb
//     calls writer.write(bytes); after archive_write_close(), writer.finish().

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace pb::broker {

using Labels = std::map<std::string, std::string>;

/// Label filters for list calls: "key" (label present) or "key=value".
using LabelFilters = std::vector<std::string>;

struct DockerVersion {
  std::string server_version;      ///< e.g. "20.10.24"
  std::string api_version;         ///< negotiated API version in use, e.g. "1.41"
  std::string server_api_version;  ///< the newest the daemon speaks
  std::string min_api_version;     ///< oldest the daemon accepts
  std::string os;                  ///< "linux"
  std::string arch;                ///< "amd64"
  std::string engine = "Docker";   ///< "Docker", or "Podman" (its Docker-compatible API)
};

// ---------------------------------------------------------------- streams

/// A response body pulled piece by piece. Holds the connection open until
/// destroyed; destroying it early aborts the transfer.
class ByteReader {
 public:
  virtual ~ByteReader() = default;
  /// Fills up to out.size() bytes; returns how many, 0 only at the end of the body.
  virtual Result<std::size_t> read(std::span<std::byte> out) = 0;
};

/// A request body pushed piece by piece (sent with chunked encoding).
/// Destroying it without finish() aborts the request.
class ByteWriter {
 public:
  virtual ~ByteWriter() = default;
  /// Sends `bytes` (may block until the daemon takes them).
  virtual Status write(std::span<const std::byte> bytes) = 0;
  /// Ends the body and returns the daemon's verdict on the whole request.
  virtual Status finish() = 0;
};

// ---------------------------------------------------------------- images

struct ImageInfo {
  std::string id;  ///< "sha256:…"
  std::vector<std::string> repo_tags;
  std::string user;                     ///< Config.User ("" = root)
  std::vector<std::string> env;         ///< Config.Env, "KEY=value"
  std::vector<std::string> entrypoint;  ///< Config.Entrypoint
  std::vector<std::string> cmd;         ///< Config.Cmd
  Labels labels;                        ///< Config.Labels
  std::string working_dir;              ///< Config.WorkingDir
  std::vector<std::string> layers;      ///< RootFS.Layers (diff IDs), bottom first
  std::int64_t size = 0;
  std::string created;  ///< RFC 3339
};

struct ImageSummary {
  std::string id;
  std::vector<std::string> repo_tags;
  Labels labels;
  std::int64_t size = 0;
  std::int64_t created = 0;  ///< seconds since the epoch
};

// ---------------------------------------------------------------- containers

struct MountSpec {
  enum class Type { volume, bind, tmpfs };
  Type type = Type::volume;
  std::string source;  ///< volume name or host path; empty for tmpfs
  std::string target;  ///< path in the container
  bool read_only = false;
  bool no_copy = false;  ///< volume: do not copy the image's content into a new volume
  /// volume: the labels of the volume when the container's creation creates it
  /// (Docker creates a named volume that does not exist; an existing one keeps its own).
  Labels volume_labels;
};

struct ContainerSpec {
  std::string image;
  std::string name;                                    ///< "" = let Docker choose
  std::vector<std::string> cmd;                        ///< empty = image's Cmd
  std::optional<std::vector<std::string>> entrypoint;  ///< set (even empty) overrides the image's
  std::vector<std::string> env;                        ///< "KEY=value"; never put a secret here
  std::string user;                                    ///< "" = image's user
  std::string working_dir;
  Labels labels;
  std::string network_mode;              ///< "none", "host", "" = default bridge
  std::vector<std::string> extra_hosts;  ///< "host:ip" lines added to the container's /etc/hosts
  std::vector<MountSpec> mounts;
  bool tty = false;
  bool open_stdin = false;        ///< keep stdin open (also attaches it)
  std::int64_t memory_bytes = 0;  ///< 0 = no limit
  std::int64_t pids_limit = 0;    ///< 0 = no limit
  bool read_only_rootfs = false;
  std::vector<std::string> cap_drop;      ///< e.g. {"ALL"}
  std::vector<std::string> cap_add;       ///< e.g. {"CHOWN"}, after cap_drop
  std::vector<std::string> security_opt;  ///< e.g. {"no-new-privileges"}
  bool auto_remove = false;
  // No restart policy: a container the engine is restarting reads as running, so a crashed relay would
  // never be made again nor reported.
  std::string log_max_size;  ///< "" = the engine's logging; else the json-file driver kept under this ("1m")
};

struct ContainerState {
  std::string status;  ///< "created", "running", "exited", …
  bool running = false;
  bool oom_killed = false;
  std::int64_t exit_code = 0;
  std::int64_t pid = 0;
  std::string error;
};

struct MountInfo {
  std::string type;  ///< "volume", "bind", "tmpfs"
  std::string name;  ///< volume name
  std::string source;
  std::string destination;
  bool rw = true;
};

struct ContainerInfo {
  std::string id;
  std::string name;   ///< without the leading '/'
  std::string image;  ///< image ID
  ContainerState state;
  std::vector<MountInfo> mounts;
  Labels labels;
  std::string user;
  bool tty = false;
};

struct ContainerSummary {
  std::string id;
  std::vector<std::string> names;
  std::string image;
  std::string state;   ///< "running", "exited", …
  std::string status;  ///< human text, "Up 2 minutes"
  Labels labels;
  std::int64_t created = 0;  ///< seconds since the epoch (0: not said)
  std::string image_id;      ///< the image it was made from, by id ("" if not said)
};

struct WaitResult {
  std::int64_t exit_code = 0;
  std::string error;  ///< the daemon's Error.Message, usually empty
};

struct LogOptions {
  bool stdout_stream = true;
  bool stderr_stream = true;
  std::size_t max_bytes = 16 * 1024 * 1024;  ///< per stream; more is dropped and flagged
};

struct Logs {
  std::string out;
  std::string err;
  bool truncated = false;
};

struct FileChange {
  enum class Kind { modified = 0, added = 1, deleted = 2 };
  std::string path;
  Kind kind = Kind::modified;
};

/// What HEAD /containers/{id}/archive reports (X-Docker-Container-Path-Stat).
struct PathStat {
  std::string name;
  std::int64_t size = 0;
  std::uint32_t mode = 0;  ///< Go os.FileMode bits as sent by the daemon
  std::string mtime;
  std::string link_target;
  bool is_dir() const noexcept { return (mode & 0x80000000u) != 0; }
  bool is_symlink() const noexcept { return (mode & 0x08000000u) != 0; }
};

struct ArchiveDownload {
  PathStat stat;
  std::unique_ptr<ByteReader> body;  ///< an uncompressed tar stream
};

// ---------------------------------------------------------------- exec

struct ExecSpec {
  std::vector<std::string> cmd;
  std::vector<std::string> env;  ///< never put a secret here
  std::string user;
  std::string working_dir;
  bool tty = false;
};

struct ExecResult {
  std::int64_t exit_code = 0;
  std::string out;
  std::string err;
  bool truncated = false;
};

struct ExecOptions {
  std::string input;  ///< sent on the process's stdin, then stdin is closed (left open for a TTY exec)
  std::size_t max_output = 16 * 1024 * 1024;    ///< per stream; more is dropped and flagged
  std::optional<std::chrono::seconds> timeout;  ///< whole run; default: the client's request timeout
};

// ---------------------------------------------------------------- volumes

struct VolumeInfo {
  std::string name;
  std::string driver;
  std::string mountpoint;
  Labels labels;
};

// ---------------------------------------------------------------- attach

struct TerminalOptions {
  int in_fd = 0;  ///< the user's terminal (raw mode while attached, restored on every exit)
  int out_fd = 1;
  bool start = false;  ///< start the container once attached, so no output is lost
};

// ---------------------------------------------------------------- client

class DockerClient {
 public:
  virtual ~DockerClient() = default;

  /// Where this client connects, for messages ("unix:///var/run/docker.sock").
  virtual std::string endpoint() const = 0;
  /// Why that endpoint was chosen ("DOCKER_HOST", "context 'x' (DOCKER_CONTEXT)", …), for doctor.
  virtual std::string endpoint_origin() const = 0;
  /// Why a login must not travel over this connection (plain tcp://, TLS
  /// that does not verify the daemon), or nullopt when it may (a unix socket,
  /// verified TLS). See require_login_transport() in connect.hpp.
  virtual std::optional<std::string> insecure_transport() const = 0;

  /// GET /_ping: whether the daemon answers.
  virtual Status ping() = 0;
  /// GET /version: the daemon's version and the API version in use.
  virtual Result<DockerVersion> version() = 0;

  /// GET /images/{name}/json.
  virtual Result<ImageInfo> image_inspect(const std::string& name) = 0;
  /// GET /images/json, optionally only images carrying all the labels.
  virtual Result<std::vector<ImageSummary>> image_list(const LabelFilters& labels) = 0;
  /// GET /images/{name}/get: the image as a `docker save` tar stream.
  virtual Result<std::unique_ptr<ByteReader>> image_export(const std::string& name) = 0;
  /// DELETE /images/{name}.
  virtual Status image_remove(const std::string& name, bool force) = 0;
  /// POST /images/create?fromSrc=-: a new image `reference` ("repo:tag") from the
  /// root file system tar pushed through the writer, with Dockerfile `changes`
  /// ("CMD [\"sh\"]", "USER demo", "LABEL k=v"); finish() reports the daemon's verdict.
  virtual Result<std::unique_ptr<ByteWriter>> image_import(const std::string& reference,
                                                           const std::vector<std::string>& changes) = 0;

  /// POST /containers/create; returns the container ID.
  virtual Result<std::string> container_create(const ContainerSpec& spec) = 0;
  /// POST /containers/{id}/start.
  virtual Status container_start(const std::string& id) = 0;
  /// POST /containers/{id}/wait; timeout error when it has not exited in time.
  virtual Result<WaitResult> container_wait(const std::string& id, std::chrono::seconds timeout) = 0;
  /// POST /containers/{id}/kill with a signal name ("SIGKILL", "SIGTERM").
  virtual Status container_kill(const std::string& id, const std::string& signal) = 0;
  /// DELETE /containers/{id}; volumes=true also removes anonymous volumes.
  virtual Status container_remove(const std::string& id, bool force, bool volumes) = 0;
  /// GET /containers/{id}/logs, demultiplexed into stdout and stderr.
  virtual Result<Logs> container_logs(const std::string& id, const LogOptions& options) = 0;
  /// GET /containers/{id}/changes: the filesystem diff against the image.
  virtual Result<std::vector<FileChange>> container_changes(const std::string& id) = 0;
  /// GET /containers/json?all=1, optionally only containers carrying all the labels.
  virtual Result<std::vector<ContainerSummary>> container_list(const LabelFilters& labels) = 0;
  /// GET /containers/{id}/json.
  virtual Result<ContainerInfo> container_inspect(const std::string& id) = 0;

  /// HEAD /containers/{id}/archive?path=: not_found when the path does not exist.
  virtual Result<PathStat> archive_stat(const std::string& id, const std::string& path) = 0;
  /// GET /containers/{id}/archive?path=: a tar stream of the path.
  virtual Result<ArchiveDownload> archive_get(const std::string& id, const std::string& path) = 0;
  /// PUT /containers/{id}/archive?path=: push a tar stream extracted into directory `path`.
  virtual Result<std::unique_ptr<ByteWriter>> archive_put(const std::string& id, const std::string& path) = 0;

  /// POST /containers/{id}/exec; returns the exec ID.
  virtual Result<std::string> exec_create(const std::string& container_id, const ExecSpec& spec) = 0;
  /// POST /exec/{id}/start, feeding options.input and collecting the output; then the exit code.
  virtual Result<ExecResult> exec_start(const std::string& exec_id, const ExecOptions& options) = 0;

  /// POST /volumes/create.
  virtual Result<VolumeInfo> volume_create(const std::string& name, const Labels& labels) = 0;
  /// GET /volumes/{name}.
  virtual Result<VolumeInfo> volume_inspect(const std::string& name) = 0;
  /// GET /volumes, optionally only volumes carrying all the labels and (name_part
  /// not empty) whose name contains name_part.
  virtual Result<std::vector<VolumeInfo>> volume_list(const LabelFilters& labels,
                                                      const std::string& name_part = "") = 0;
  /// DELETE /volumes/{name}.
  virtual Status volume_remove(const std::string& name, bool force) = 0;

  /// POST /containers/{id}/resize.
  virtual Status container_resize(const std::string& id, unsigned rows, unsigned cols) = 0;
  /// Attaches the terminal to the container's TTY (hijacked connection) until the
  /// container's output ends: raw mode (Ctrl-C reaches the container as a byte),
  /// window size forwarded on SIGWINCH; SIGTERM/SIGHUP end it. The terminal mode
  /// is restored on every path.
  virtual Status attach_terminal(const std::string& id, const TerminalOptions& options) = 0;

  /// Convenience: exec_create + exec_start.
  Result<ExecResult> exec_run(const std::string& container_id, const ExecSpec& spec, const ExecOptions& options = {}) {
    PB_TRY(std::string exec_id, exec_create(container_id, spec));
    return exec_start(exec_id, options);
  }
};

}  // namespace pb::broker
