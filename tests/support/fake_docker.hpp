#pragma once
// A recording, in-memory DockerClient for unit tests: every call is appended
// to `calls` as one line ("container_start c1"), state lives in plain maps the
// test can seed and inspect, and any method can be made to fail.
//
//   auto docker = std::make_shared<pb::test::FakeDocker>();
//   docker->images["app:1"] = {.id = "sha256:abc", .user = "node"};
//   docker->failures["container_start"] = pb::fail(pb::ErrorKind::api, "boom");
//   ... run the code under test with ctx.docker = docker->factory() ...
//   EXPECT_THAT(docker->calls, Contains(HasSubstr("container_create app:1")));

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "broker/commands/command.hpp"
#include "broker/docker/docker_client.hpp"

namespace pb::test {

class FakeDocker : public broker::DockerClient, public std::enable_shared_from_this<FakeDocker> {
 public:
  struct Container {
    broker::ContainerSpec spec;
    broker::ContainerInfo info;
    broker::Logs logs;
    std::vector<broker::FileChange> changes;
    /// What archive_get returns per path: tar bytes, and its stat.
    std::map<std::string, std::string> archives;
    std::map<std::string, broker::PathStat> stats;
    /// Per path: the error a read of archive_get's body returns once half of its bytes are read
    /// (the connection to the daemon lost in the middle of a download).
    std::map<std::string, Error> archive_read_errors;
    /// What archive_put received, in order: (directory, tar bytes).
    std::vector<std::pair<std::string, std::string>> uploads;
    std::vector<broker::ExecSpec> execs;
    unsigned rows = 0, cols = 0;
    std::int64_t created = 0;  ///< what container_list reports as Created
  };

  // ---- recorded calls and scripted failures
  std::vector<std::string> calls;
  /// Method name ("image_inspect", "archive_put", …) -> error it returns (every time).
  std::map<std::string, Error> failures;

  // ---- state (seed it, then inspect it)
  std::string endpoint_value = "unix:///fake/docker.sock";
  std::optional<std::string> insecure_value;  ///< what insecure_transport() says (nullopt: a safe transport)
  broker::DockerVersion version_value{"24.0.7", "1.43", "1.43", "1.12", "linux", "amd64"};
  std::map<std::string, broker::ImageInfo> images;    ///< by reference ("app:1") or ID
  std::map<std::string, std::string> image_exports;   ///< reference -> `docker save` tar bytes
  std::map<std::string, Container> containers;        ///< by ID ("c1", "c2", …)
  std::map<std::string, broker::VolumeInfo> volumes;  ///< by name
  /// What every container created from an image starts with.
  struct ImageFiles {
    std::map<std::string, std::string> archives;
    std::map<std::string, broker::PathStat> stats;
    std::map<std::string, Error> archive_read_errors;
  };
  std::map<std::string, ImageFiles> image_files;  ///< by image ID

  /// Answers exec_start; default: exit 0, no output.
  std::function<broker::ExecResult(const std::string& container_id, const broker::ExecSpec&,
                                   const broker::ExecOptions&)>
      on_exec;
  /// Answers container_wait; default: exit 0 and state "exited".
  std::function<Result<broker::WaitResult>(const std::string& id, std::chrono::seconds timeout)> on_wait;
  /// Runs for attach_terminal; default: nothing, success.
  std::function<Status(const std::string& id, const broker::TerminalOptions&)> on_attach;

  /// A Context::docker factory returning this fake.
  std::function<Result<std::shared_ptr<broker::DockerClient>>()> factory();

  /// Calls whose line starts with `prefix` (e.g. "container_create").
  std::vector<std::string> calls_starting(const std::string& prefix) const;

  std::string endpoint() const override { return endpoint_value; }
  std::string endpoint_origin() const override { return "a test's fake"; }
  std::optional<std::string> insecure_transport() const override { return insecure_value; }
  Status ping() override;
  Result<broker::DockerVersion> version() override;
  Result<broker::ImageInfo> image_inspect(const std::string& name) override;
  Result<std::vector<broker::ImageSummary>> image_list(const broker::LabelFilters& labels) override;
  Result<std::unique_ptr<broker::ByteReader>> image_export(const std::string& name) override;
  Status image_remove(const std::string& name, bool force) override;
  /// Records "image_import <ref> <changes…>"; finish() adds images[ref] (LABEL changes become labels).
  Result<std::unique_ptr<broker::ByteWriter>> image_import(const std::string& reference,
                                                           const std::vector<std::string>& changes) override;
  /// Root file system tars received by image_import, by reference.
  std::map<std::string, std::string> imports;
  Result<std::string> container_create(const broker::ContainerSpec& spec) override;
  Status container_start(const std::string& id) override;
  Result<broker::WaitResult> container_wait(const std::string& id, std::chrono::seconds timeout) override;
  Status container_kill(const std::string& id, const std::string& signal) override;
  Status container_remove(const std::string& id, bool force, bool volumes) override;
  Result<broker::Logs> container_logs(const std::string& id, const broker::LogOptions& options) override;
  Result<std::vector<broker::FileChange>> container_changes(const std::string& id) override;
  Result<std::vector<broker::ContainerSummary>> container_list(const broker::LabelFilters& labels) override;
  Result<broker::ContainerInfo> container_inspect(const std::string& id) override;
  Result<broker::PathStat> archive_stat(const std::string& id, const std::string& path) override;
  Result<broker::ArchiveDownload> archive_get(const std::string& id, const std::string& path) override;
  Result<std::unique_ptr<broker::ByteWriter>> archive_put(const std::string& id, const std::string& path) override;
  Result<std::string> exec_create(const std::string& container_id, const broker::ExecSpec& spec) override;
  Result<broker::ExecResult> exec_start(const std::string& exec_id, const broker::ExecOptions& options) override;
  Result<broker::VolumeInfo> volume_create(const std::string& name, const broker::Labels& labels) override;
  Result<broker::VolumeInfo> volume_inspect(const std::string& name) override;
  Result<std::vector<broker::VolumeInfo>> volume_list(const broker::LabelFilters& labels,
                                                      const std::string& name_part = "") override;
  Status volume_remove(const std::string& name, bool force) override;
  Status container_resize(const std::string& id, unsigned rows, unsigned cols) override;
  Status attach_terminal(const std::string& id, const broker::TerminalOptions& options) override;

  /// Whether `labels` carries every filter ("key" or "key=value").
  static bool matches(const broker::Labels& labels, const broker::LabelFilters& filters);

 private:
  /// Records the call; returns the scripted failure for `method`, if any.
  std::optional<Error> record(const std::string& method, const std::string& args);
  Result<Container*> find(const std::string& id, const std::string& what);

  mutable std::recursive_mutex m_mutex;
  int m_next_id = 1;
  std::map<std::string, std::pair<std::string, broker::ExecSpec>> m_execs;  ///< exec ID -> (container, spec)
};

}  // namespace pb::test
