#pragma once
// The Docker Engine API's wire formats as pure functions: the request paths
// and query strings, the JSON bodies sent, the answers read into the structs
// of docker_client.hpp, the API version chosen, the sentence an error answer
// becomes, the framing of attach and log streams. No I/O here: the client
// (engine_internal.hpp) sends and receives, these only translate, and
// tests/unit/engine_wire_test.cpp checks them without a daemon.
//
// Answers are read tolerantly: a field that is missing, null or of another
// type reads as empty (0, false, ""), as any daemon may leave one out.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/docker/docker_client.hpp"
#include "core/error.hpp"

namespace pb::broker::docker {

/// The newest API version this client speaks and the oldest it accepts.
inline constexpr const char* k_client_api_version = "1.43";
inline constexpr const char* k_min_api_version = "1.25";

/// Compares dotted API versions numerically ("1.9" < "1.41"): <0, 0, >0.
int compare_api_versions(const std::string& a, const std::string& b);

/// Appends as much of `piece` to `target` as keeps it within `max` bytes;
/// true when some of it was dropped. One rule for logs, exec output and the demuxer.
bool append_capped(std::string& target, std::span<const std::byte> piece, std::size_t max);

/// Splits a multiplexed attach/logs stream (8-byte frame headers) into
/// stdout and stderr, each capped at `max` bytes (the rest is dropped).
class StreamDemuxer {
 public:
  explicit StreamDemuxer(std::size_t max) : m_max(max) {}
  void feed(std::span<const std::byte> bytes);
  std::string out;
  std::string err;
  bool truncated = false;

 private:
  std::size_t m_max;
  unsigned char m_header[8]{};
  std::size_t m_header_fill = 0;
  std::size_t m_remaining = 0;
  int m_stream = 1;
};

/// A container's output as it arrives (logs, an exec's stream): as it is
/// for a TTY, else demultiplexed; each stream capped at `max` bytes.
class OutputCollector {
 public:
  OutputCollector(bool tty, std::size_t max) : m_tty(tty), m_max(max), m_demux(max) {}
  void feed(std::span<const std::byte> piece);
  /// What arrived: stdout, stderr (empty for a TTY), and whether any was dropped.
  void take(std::string& out, std::string& err, bool& truncated);

 private:
  bool m_tty;
  std::size_t m_max;
  StreamDemuxer m_demux;
};

namespace detail {

// ------------------------------------------------------------ paths

/// Percent-encodes everything but RFC 3986's unreserved characters.
std::string url_encode(std::string_view s);
/// A path segment naming an image ("registry:5000/org/name:tag" keeps its '/', ':' and '@').
std::string name_segment(std::string_view s);
/// "filters=<encoded JSON>" for objects carrying all `labels` and (when not
/// empty) whose name contains `name_part`; "" when neither is asked.
std::string filters_query(const LabelFilters& labels, const std::string& name_part = {});

/// GET /images/json with label filters.
std::string image_list_path(const LabelFilters& labels);
/// GET /containers/json: all containers, running or not, with label filters.
std::string container_list_path(const LabelFilters& labels);
/// GET /volumes with label and name filters.
std::string volume_list_path(const LabelFilters& labels, const std::string& name_part);
/// POST /containers/create, named when `name` is not empty.
std::string container_create_path(const std::string& name);
/// DELETE /containers/{id} with its force and anonymous-volume switches.
std::string container_remove_path(const std::string& id, bool force, bool volumes);
/// GET /containers/{id}/logs of the streams asked for.
std::string container_logs_path(const std::string& id, const LogOptions& options);
/// /containers/{id}/archive?path= (HEAD, GET and PUT).
std::string archive_path(const std::string& id, const std::string& path);
/// POST /images/create?fromSrc=-: `reference` split into repo and tag (a ':'
/// after the last '/'), then each Dockerfile change.
std::string image_import_path(const std::string& reference, const std::vector<std::string>& changes);

// ------------------------------------------------------------ bodies

/// The body of POST /containers/create.
std::string container_create_body(const ContainerSpec& spec);
/// The body of POST /containers/{id}/exec: every stream attached.
std::string exec_create_body(const ExecSpec& spec);
/// The body of POST /exec/{id}/start: attached, with the exec's TTY setting.
std::string exec_start_body(bool tty);
/// The body of POST /volumes/create.
std::string volume_create_body(const std::string& name, const Labels& labels);

// ------------------------------------------------------------ answers
// Each takes the answer's body and the operation, for the sentence when the
// body is not JSON ("Docker's answer to <op> is not valid JSON", ErrorKind::api).

Result<DockerVersion> parse_version(const std::string& body, const std::string& op);
Result<ImageInfo> parse_image_inspect(const std::string& body, const std::string& op);
Result<std::vector<ImageSummary>> parse_image_list(const std::string& body, const std::string& op);
Result<ContainerInfo> parse_container_inspect(const std::string& body, const std::string& op);
Result<std::vector<ContainerSummary>> parse_container_list(const std::string& body, const std::string& op);
Result<std::vector<FileChange>> parse_container_changes(const std::string& body, const std::string& op);
Result<WaitResult> parse_container_wait(const std::string& body, const std::string& op);
Result<VolumeInfo> parse_volume(const std::string& body, const std::string& op);
Result<std::vector<VolumeInfo>> parse_volume_list(const std::string& body, const std::string& op);

/// The "Id" of a create answer; its absence is an api error saying Docker
/// returned no `what` ("an ID", "an exec ID").
Result<std::string> parse_created_id(const std::string& body, const std::string& op, const std::string& what);

/// What GET /exec/{id}/json says of an exec.
struct ExecState {
  bool tty = false;  ///< ProcessConfig.tty
  bool running = false;
  std::int64_t exit_code = 0;
};
Result<ExecState> parse_exec_inspect(const std::string& body, const std::string& op);

/// The X-Docker-Container-Path-Stat header (base64 of JSON) of an archive answer.
Result<PathStat> parse_path_stat(const std::map<std::string, std::string>& headers, const std::string& op);

/// Standard base64, with or without its '=' padding; nullopt when it is not base64.
std::optional<std::string> base64_decode(const std::string& in);

/// The progress stream of an image import: a line carrying "error" is the
/// daemon's refusal, though the answer was 200.
Status import_verdict(const std::string& body, const std::string& op);

// ------------------------------------------------------------ versions and errors

/// The newest API both sides speak, from the daemon's newest (`server_api`)
/// and oldest (`server_min`, may be empty), or why there is none; `host`
/// names the daemon in the sentence.
Result<std::string> choose_api(const std::string& host, const std::string& server_api, const std::string& server_min);

/// The daemon's message in an error answer: its JSON "message", else the body
/// itself, without trailing newlines, printable; "" when there is none.
std::string error_message(const std::string& body);

/// An HTTP status as success (2xx) or the matching Error: not_found (404),
/// conflict (409), api (anything else, and a daemon refusing our API version
/// as too old), naming the operation and the daemon's message.
Status answer_status(unsigned status, const std::string& body, const std::string& op, const std::string& host);

/// An object's ID as messages print it: quoted, a full 64-digit ID shortened to 12.
std::string short_id(const std::string& id);

}  // namespace detail
}  // namespace pb::broker::docker
