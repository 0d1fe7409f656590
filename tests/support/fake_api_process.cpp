#include "tests/support/fake_api_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
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
  start(std::move(args));
}

void FakeApi::start(std::vector<std::string> args) {
  std::random_device rd;
  m_dir = fs::temp_directory_path() / ("pb-fake-api-" + std::to_string(rd()) + std::to_string(::getpid()));
  fs::create_directories(m_dir);
  m_record = m_dir / "requests.jsonl";
  std::ofstream(m_record).flush();

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
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
  try {
    m_port = static_cast<unsigned short>(std::stoi(line));
  } catch (const std::exception&) {
    m_port = 0;
  }
  if (m_port == 0) {
    stop();
    throw std::runtime_error("pb_fake_api did not report its port");
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
    if (auto f = line.find("login_fields"); f != line.end() && f->is_array())
      for (const auto& name : *f)
        if (name.is_string()) r.login_fields.push_back(name.get<std::string>());
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

}  // namespace pb::test
