// EngineClient (engine_internal.hpp): bodies read or written as streams. An
// image's export and import, a container's archives and its logs; a refused
// stream's bounded error body.

#include <array>

#include "broker/docker/engine_internal.hpp"

namespace pb::broker::docker::detail {

namespace {

/// The body of an error answer to a streamed request, bounded (16 reads of 4 KiB):
/// the daemon's message, not a stream someone could make endless.
std::string drain_error_body(HttpChannel& channel) {
  std::string text;
  std::array<std::byte, 4096> buf{};
  for (int i = 0; i < 16; ++i) {
    auto n = channel.read_body(buf);
    if (!n.ok() || *n == 0) break;
    text.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  return text;
}

/// A streamed response body, read straight off the connection.
class BodyReader final : public ByteReader {
 public:
  explicit BodyReader(std::unique_ptr<HttpChannel> channel) : m_channel(std::move(channel)) {}
  Result<std::size_t> read(std::span<std::byte> out) override { return m_channel->read_body(out); }

 private:
  std::unique_ptr<HttpChannel> m_channel;
};

/// A request body sent in chunks: a tar stream into a container (PUT
/// /containers/{id}/archive), a root file system for a new image (POST
/// /images/create?fromSrc=-). The verdict is the answer's status, then, when
/// given, `body_verdict` of its body (an import answers 200 and says in its
/// progress stream whether it failed).
class ChunkedUpload final : public ByteWriter {
 public:
  ChunkedUpload(std::unique_ptr<HttpChannel> channel, std::string op, std::string host, BodyVerdict body_verdict)
      : m_channel(std::move(channel)),
        m_op(std::move(op)),
        m_host(std::move(host)),
        m_body_verdict(std::move(body_verdict)) {}

  Status write(std::span<const std::byte> bytes) override {
    if (m_done) return already_finished();
    Status s = m_channel->write_chunk(bytes);
    if (!s.ok()) return early_answer(std::move(s).error());
    return {};
  }

  Status finish() override {
    if (m_done) return already_finished();
    m_done = true;
    auto r = m_channel->finish_chunked(k_json_limit);
    if (!r.ok()) return early_answer(std::move(r).error());
    PB_TRY_STATUS(answer_status(r->status, r->body, m_op, m_host));
    if (m_body_verdict) return m_body_verdict(r->body);
    return {};
  }

 private:
  Error already_finished() const { return fail(ErrorKind::failure, "the upload to " + m_op + " is already finished"); }

  /// The daemon may refuse (404, 400) before reading the body; its answer says why.
  Error early_answer(Error transport) {
    m_done = true;
    auto r = m_channel->read_early_response(k_json_limit);
    if (r.ok()) {
      Status s = answer_status(r->status, r->body, m_op, m_host);
      if (!s.ok()) return std::move(s).error();
    }
    return transport;
  }

  std::unique_ptr<HttpChannel> m_channel;
  std::string m_op;
  std::string m_host;
  BodyVerdict m_body_verdict;
  bool m_done = false;
};

}  // namespace

Result<std::unique_ptr<ByteReader>> EngineClient::image_export(const std::string& name) {
  const std::string op = "export image '" + printable(name) + "'";
  HttpResponse head;
  PB_TRY(auto channel, stream_get("/images/" + name_segment(name) + "/get", op, head));
  return std::unique_ptr<ByteReader>(std::make_unique<BodyReader>(std::move(channel)));
}

Result<std::unique_ptr<ByteWriter>> EngineClient::image_import(const std::string& reference,
                                                               const std::vector<std::string>& changes) {
  const std::string op = "import image '" + printable(reference) + "'";
  return upload("POST", image_import_path(reference, changes), op,
                [op](const std::string& body) { return import_verdict(body, op); });
}

Result<Logs> EngineClient::container_logs(const std::string& id, const LogOptions& options) {
  const std::string op = "read the logs of container " + short_id(id);
  PB_TRY(ContainerInfo info, container_inspect(id));
  HttpResponse head;
  PB_TRY(auto channel, stream_get(container_logs_path(id, options), op, head));
  OutputCollector output(info.tty, options.max_bytes);
  std::array<std::byte, 65536> buf{};
  for (;;) {
    PB_TRY(std::size_t n, channel->read_body(buf));
    if (n == 0) break;
    output.feed(std::span<const std::byte>(buf.data(), n));
  }
  Logs logs;
  output.take(logs.out, logs.err, logs.truncated);
  return logs;
}

Result<ArchiveDownload> EngineClient::archive_get(const std::string& id, const std::string& path) {
  const std::string op = "copy '" + printable(path) + "' out of container " + short_id(id);
  HttpResponse head;
  PB_TRY(auto channel, stream_get(archive_path(id, path), op, head));
  PB_TRY(PathStat stat, parse_path_stat(head.headers, op));
  return ArchiveDownload{std::move(stat), std::make_unique<BodyReader>(std::move(channel))};
}

Result<std::unique_ptr<ByteWriter>> EngineClient::archive_put(const std::string& id, const std::string& path) {
  const std::string op = "copy into '" + printable(path) + "' in container " + short_id(id);
  return upload("PUT", archive_path(id, path), op, {});
}

/// A GET whose body is then read off the returned connection; `head` is the answer's head.
Result<std::unique_ptr<HttpChannel>> EngineClient::stream_get(const std::string& path, const std::string& op,
                                                              HttpResponse& head) {
  PB_TRY(std::string prefix, api_prefix());
  PB_TRY(auto channel, m_open(m_config, op));
  PB_TRY(head, channel->send_and_read_head({"GET", prefix + path, {}, {}, false}));
  if (head.status >= 300) PB_TRY_STATUS(refused(*channel, head, op));
  return channel;
}

/// A request whose body is pushed through the returned writer.
Result<std::unique_ptr<ByteWriter>> EngineClient::upload(const std::string& method, const std::string& path,
                                                         const std::string& op, BodyVerdict body_verdict) {
  PB_TRY(std::string prefix, api_prefix());
  PB_TRY(auto channel, m_open(m_config, op));
  PB_TRY_STATUS(channel->send_chunked_head({method, prefix + path, {}, "application/x-tar", false}));
  return std::unique_ptr<ByteWriter>(
      std::make_unique<ChunkedUpload>(std::move(channel), op, m_config.host, std::move(body_verdict)));
}

/// A streamed request the daemon refused: the bounded error body read for its message, as an Error.
Status EngineClient::refused(HttpChannel& channel, HttpResponse& head, const std::string& op) const {
  head.body = drain_error_body(channel);
  return expect(head, op);
}

}  // namespace pb::broker::docker::detail
