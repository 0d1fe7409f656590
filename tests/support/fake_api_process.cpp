#include "tests/support/fake_api_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace fs = std::filesystem;

namespace pb::test {

namespace {

std::optional<std::string> optional_string(const nlohmann::json& line, const char* key) {
  auto it = line.find(key);
  if (it == line.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::string string_or_empty(const nlohmann::json& line, const char* key) {
  return optional_string(line, key).value_or("");
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

}  // namespace

FakeApi::FakeApi(int max_seconds) {
  start({"--port", "0", "--max-seconds", std::to_string(max_seconds)});
}

FakeApi::FakeApi(int max_seconds, const OAuthService& oauth) {
  std::vector<std::string> args{"--port",
                                std::to_string(oauth.port),
                                "--max-seconds",
                                std::to_string(max_seconds),
                                "--oauth-prefix",
                                oauth.prefix,
                                "--oauth-expires-in",
                                std::to_string(oauth.expires_in)};
  if (!oauth.refresh_token.empty()) args.insert(args.end(), {"--oauth-refresh-token", oauth.refresh_token});
  for (const auto& code : oauth.login_codes) args.insert(args.end(), {"--oauth-login-code", code});
  if (oauth.tls) args.insert(args.end(), {"--tls-port", std::to_string(oauth.tls_port), "--tls-ca-file", "CA"});
  start(std::move(args));
}

void FakeApi::start(std::vector<std::string> args) {
  std::random_device rd;
  m_dir = fs::temp_directory_path() / ("pb-fake-api-" + std::to_string(rd()) + std::to_string(::getpid()));
  fs::create_directories(m_dir);
  // A constructor that throws runs no destructor: the directory goes here.
  try {
    spawn(std::move(args));
  } catch (...) {
    std::error_code ec;
    fs::remove_all(m_dir, ec);
    throw;
  }
}

void FakeApi::spawn(std::vector<std::string> args) {
  m_record = m_dir / "requests.jsonl";
  std::ofstream(m_record).flush();
  const fs::path errors = m_dir / "stderr.txt";
  for (auto& a : args)
    if (a == "CA") a = (m_ca_file = m_dir / "ca.pem").string();

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, errors.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  args.insert(args.begin(), {PB_FAKE_API_BINARY, "--record", m_record.string()});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int rc = posix_spawn(&m_pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    m_pid = -1;
    throw std::runtime_error("cannot start " + std::string(PB_FAKE_API_BINARY));
  }
  // The first line on stdout is the port; wait for it at most 10 s.
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{out[0], POLLIN, 0};
    if (poll(&pfd, 1, 200) <= 0) continue;
    char buf[64];
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<std::size_t>(n));
  }
  close(out[0]);
  // "<port>" or "<port> <tls port>"
  try {
    std::size_t end = 0;
    m_port = static_cast<unsigned short>(std::stoi(line, &end));
    if (!m_ca_file.empty()) m_tls_port = static_cast<unsigned short>(std::stoi(line.substr(end)));
  } catch (const std::exception&) {
    m_port = 0;
  }
  if (m_port == 0 || (!m_ca_file.empty() && m_tls_port == 0)) {
    stop();
    std::string said = read_text(errors);
    while (!said.empty() && said.back() == '\n') said.pop_back();
    throw std::runtime_error("pb_fake_api did not report its port" + (said.empty() ? "" : ": " + said));
  }
}

FakeApi::~FakeApi() {
  stop();
  std::error_code ec;
  fs::remove_all(m_dir, ec);
}

std::string FakeApi::base_url() const {
  return "http://127.0.0.1:" + std::to_string(m_port);
}

void FakeApi::stop() {
  if (m_pid <= 0) return;
  kill(m_pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 50; ++i) {
    if (waitpid(m_pid, &status, WNOHANG) == m_pid) {
      m_pid = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(m_pid, SIGKILL);
  waitpid(m_pid, &status, 0);
  m_pid = -1;
}

std::vector<RecordedRequest> FakeApi::requests() const {
  std::vector<RecordedRequest> result;
  std::ifstream in(m_record);
  std::string text;
  while (std::getline(in, text)) {
    auto line = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!line.is_object()) continue;  // a line still being written
    RecordedRequest r;
    r.method = string_or_empty(line, "method");
    r.target = string_or_empty(line, "target");
    r.host = string_or_empty(line, "host");
    r.authorization = optional_string(line, "authorization");
    r.x_api_key = optional_string(line, "x_api_key");
    r.oauth_presented = optional_string(line, "oauth_presented");
    r.oauth_issued = optional_string(line, "oauth_issued");
    r.login_issued = optional_string(line, "login_issued");
    r.login_refused = line.value("login_refused", false);
    r.login_page = optional_string(line, "login_page");
    if (auto v = line.find("login_pkce_verified"); v != line.end() && v->is_boolean())
      r.login_pkce_verified = v->get<bool>();
    if (auto f = line.find("login_fields"); f != line.end() && f->is_array())
      for (const auto& name : *f)
        if (name.is_string()) r.login_fields.push_back(name.get<std::string>());
    r.session = optional_string(line, "session");
    r.tls = line.value("tls", false);
    r.status = line.value("status", 0);
    r.time_ms = line.value("time_ms", 0LL);
    result.push_back(std::move(r));
  }
  return result;
}

std::size_t FakeApi::refreshes_granted() const {
  std::size_t n = 0;
  for (const auto& r : requests()) n += r.oauth_issued.has_value();
  return n;
}

std::size_t FakeApi::refreshes_refused() const {
  std::size_t n = 0;
  for (const auto& r : requests()) n += r.oauth_presented.has_value() && !r.oauth_issued.has_value();
  return n;
}

std::string FakeApi::sign_in(const std::string& url) const {
  namespace http = boost::beast::http;
  const std::size_t scheme = url.find("://");
  if (scheme == std::string::npos) return "";
  const std::size_t path = url.find('/', scheme + 3);
  if (path == std::string::npos) return "";
  try {
    boost::asio::io_context io;
    boost::beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(10));
    stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), m_port));
    http::request<http::empty_body> req(http::verb::get, url.substr(path), 11);
    req.set(http::field::host, url.substr(scheme + 3, path - scheme - 3));
    http::write(stream, req);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    boost::beast::error_code ignored;
    stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    return res.result() == http::status::ok ? res.body() : "";
  } catch (const std::exception&) {
    return "";
  }
}

std::string FakeApi::last_login_issued() const {
  std::string last;
  for (const auto& r : requests())
    if (r.login_issued) last = *r.login_issued;
  return last;
}

std::string FakeApi::last_issued() const {
  std::string last;
  for (const auto& r : requests())
    if (r.oauth_issued) last = *r.oauth_issued;
  return last;
}

bool FakeApi::saw_authorization(const std::string& value) const {
  for (const auto& r : requests()) {
    if (r.authorization == value) return true;
  }
  return false;
}

std::vector<std::string> docker_client_args(const FakeApi& api, const std::string& name, const std::string& tag) {
  std::vector<std::string> a{"--network", "host", "--name",
                             name,        "-e",   "ANTHROPIC_CUSTOM_HEADERS=X-Pb-Session: " + tag};
  if (api.ca_file().empty()) {
    a.insert(a.end(), {"-e", "USE_LOCAL_OAUTH=1", "-e", "ANTHROPIC_BASE_URL=http://localhost:3000", "-e",
                       "NO_PROXY=127.0.0.1,localhost"});
  } else {
    const std::string proxy = api.base_url();
    a.insert(a.end(), {"--add-host", "platform.claude.com:127.0.0.1",
                       "--add-host", "api.anthropic.com:127.0.0.1",
                       "-v",         api.ca_file().string() + ":/pb-test-ca.pem:ro",
                       "-e",         "NODE_EXTRA_CA_CERTS=/pb-test-ca.pem",
                       "-e",         "HTTPS_PROXY=" + proxy,
                       "-e",         "HTTP_PROXY=" + proxy,
                       "-e",         "https_proxy=" + proxy,
                       "-e",         "http_proxy=" + proxy,
                       "-e",         "NO_PROXY=platform.claude.com,api.anthropic.com,127.0.0.1,localhost",
                       "-e",         "no_proxy=platform.claude.com,api.anthropic.com,127.0.0.1,localhost"});
  }
  a.insert(a.end(), {"-e", "DISABLE_AUTOUPDATER=1", "-e", "DISABLE_TELEMETRY=1", "-e", "DISABLE_ERROR_REPORTING=1",
                     "-e", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"});
  return a;
}

}  // namespace pb::test
