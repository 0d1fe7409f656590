#pragma once
// EngineClient, the Docker Engine API implementation of DockerClient, for the
// files of broker/docker that define it (private: everyone else gets one from
// make_engine_client() or connect()). Its methods live by what they do:
//
//   engine_client.cpp   one request, one whole answer: images, containers,
//                       volumes, the API version's negotiation
//   engine_streams.cpp  bodies read or written as streams: image export and
//                       import, archive downloads and uploads, container logs
//   engine_exec.cpp     the hijacked connections: exec and an attached terminal

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "broker/docker/engine_client.hpp"

namespace pb::broker::docker::detail {

/// The bound on a whole answer read into memory.
inline constexpr std::size_t k_json_limit = 64 * 1024 * 1024;

/// What an upload's answer body says besides its status (an import answers
/// 200 and says in its progress stream whether it failed); empty: nothing.
using BodyVerdict = std::function<Status(const std::string& body)>;

class EngineClient final : public DockerClient {
 public:
  EngineClient(EngineConfig config, ChannelFactory open, EngineClock clock)
      : m_config(std::move(config)), m_open(std::move(open)), m_clock(std::move(clock)) {}

  std::string endpoint() const override { return m_config.host; }
  std::string endpoint_origin() const override { return m_config.origin; }
  std::optional<std::string> insecure_transport() const override { return m_config.insecure_reason(); }

  Status ping() override;
  Result<DockerVersion> version() override;

  // engine_client.cpp
  Result<ImageInfo> image_inspect(const std::string& name) override;
  Result<std::vector<ImageSummary>> image_list(const LabelFilters& labels) override;
  Status image_remove(const std::string& name, bool force) override;
  Result<std::string> container_create(const ContainerSpec& spec) override;
  Status container_start(const std::string& id) override;
  Result<WaitResult> container_wait(const std::string& id, std::chrono::seconds timeout) override;
  Status container_kill(const std::string& id, const std::string& signal) override;
  Status container_remove(const std::string& id, bool force, bool volumes) override;
  Result<std::vector<FileChange>> container_changes(const std::string& id) override;
  Result<std::vector<ContainerSummary>> container_list(const LabelFilters& labels) override;
  Result<ContainerInfo> container_inspect(const std::string& id) override;
  Result<PathStat> archive_stat(const std::string& id, const std::string& path) override;
  Result<VolumeInfo> volume_create(const std::string& name, const Labels& labels) override;
  Result<VolumeInfo> volume_inspect(const std::string& name) override;
  Result<std::vector<VolumeInfo>> volume_list(const LabelFilters& labels, const std::string& name_part) override;
  Status volume_remove(const std::string& name, bool force) override;

  // engine_streams.cpp
  Result<std::unique_ptr<ByteReader>> image_export(const std::string& name) override;
  Result<std::unique_ptr<ByteWriter>> image_import(const std::string& reference,
                                                   const std::vector<std::string>& changes) override;
  Result<Logs> container_logs(const std::string& id, const LogOptions& options) override;
  Result<ArchiveDownload> archive_get(const std::string& id, const std::string& path) override;
  Result<std::unique_ptr<ByteWriter>> archive_put(const std::string& id, const std::string& path) override;

  // engine_exec.cpp
  Result<std::string> exec_create(const std::string& container_id, const ExecSpec& spec) override;
  Result<ExecResult> exec_start(const std::string& exec_id, const ExecOptions& options) override;
  Status container_resize(const std::string& id, unsigned rows, unsigned cols) override;
  Status attach_terminal(const std::string& id, const TerminalOptions& options) override;

 private:
  // engine_client.cpp
  Status create_labelled_volumes_on_podman(const ContainerSpec& spec);
  Result<std::string> negotiated();
  void learn_api_version(const HttpResponse& r);
  Result<DockerVersion> fetch_version();
  Result<std::string> api_prefix();
  Result<HttpResponse> call(const std::string& method, const std::string& path, std::string body, const std::string& op,
                            bool versioned = true);
  Result<std::string> get(const std::string& path, const std::string& op);
  Status expect(const HttpResponse& r, const std::string& op) const;

  // engine_streams.cpp
  Result<std::unique_ptr<HttpChannel>> stream_get(const std::string& path, const std::string& op, HttpResponse& head);
  Result<std::unique_ptr<ByteWriter>> upload(const std::string& method, const std::string& path, const std::string& op,
                                             BodyVerdict body_verdict);
  Status refused(HttpChannel& channel, HttpResponse& head, const std::string& op) const;

  // engine_exec.cpp
  Status upgrade(HttpChannel& channel, const HttpRequest& request, const std::string& op) const;
  Result<ExecState> exec_inspect(const std::string& exec_id);
  Result<std::unique_ptr<HttpChannel>> exec_stream(const std::string& exec_id, bool tty, const std::string& input,
                                                   std::chrono::milliseconds timeout);
  Status read_exec_output(HttpChannel& channel, const std::string& exec_id, bool tty, std::size_t max_output,
                          std::chrono::steady_clock::time_point deadline, std::chrono::milliseconds timeout,
                          ExecResult& result);

  EngineConfig m_config;
  ChannelFactory m_open;
  EngineClock m_clock;
  std::mutex m_mutex;
  std::string m_api;                  ///< negotiated version, empty until the first call
  std::atomic<bool> m_libpod{false};  ///< the engine is Podman (its responses carry Libpod-Api-Version)
};

}  // namespace pb::broker::docker::detail
