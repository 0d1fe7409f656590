#include "tests/e2e/capture_support.hpp"

#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "vault/vault.hpp"

namespace fs = std::filesystem;

namespace pb::test {
namespace {

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> v;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) v.push_back(l);
  return v;
}

}  // namespace

LabelledEnv::LabelledEnv() : label(env.unique("capture")) {
  env.set_env("PARA_BROKER_EXTRA_LABELS", std::string(k_test_label) + "=" + label);
}

LabelledEnv::~LabelledEnv() {
  remove_labelled(label);
}

std::vector<std::string> LabelledEnv::leftovers() const {
  std::vector<std::string> out;
  std::string filter = "label=" + std::string(k_test_label) + "=" + label;
  std::string managed = "label=para-broker.managed=1";
  for (const auto& id : lines(docker_cli({"ps", "-aq", "--filter", filter, "--filter", managed}).out))
    out.push_back("container " + id);
  for (const auto& v : lines(docker_cli({"volume", "ls", "-q", "--filter", filter, "--filter", managed}).out))
    out.push_back("volume " + v);
  return out;
}

nlohmann::json LabelledEnv::list() const {
  auto r = env.cli({"list", "--json"});
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded()) return nlohmann::json::object();
  return j;
}

std::map<std::string, std::map<std::string, std::string>> LabelledEnv::decoded() const {
  std::map<std::string, std::map<std::string, std::string>> out;
  vault::Options o;
  o.home = env.vault_home();
  o.key_file = env.key_file();
  if (!vault::Vault::exists(o)) return out;
  auto v = vault::Vault::open(o);
  if (!v.ok()) {
    ADD_FAILURE() << v.error().message;
    return out;
  }
  auto listing = v->list();
  if (!listing.ok()) return out;
  for (const auto& meta : listing->entries) {
    auto e = v->read(meta.id);
    if (!e.ok()) {
      ADD_FAILURE() << e.error().message;
      continue;
    }
    for (const auto& f : e->files) out[meta.name][f.name] = std::string(f.data.begin(), f.data.end());
  }
  return out;
}

std::map<std::string, std::string> LabelledEnv::snapshot() const {
  std::map<std::string, std::string> out;
  std::error_code ec;
  if (!fs::exists(env.vault_home(), ec)) return out;
  for (const auto& e : fs::recursive_directory_iterator(env.vault_home(), ec)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    out[fs::relative(e.path(), env.vault_home()).string()] = s.str();
  }
  return out;
}

PtyProcess::PtyProcess(const TestEnv& env, const std::vector<std::string>& args) {
  winsize ws{};
  ws.ws_row = 40;
  ws.ws_col = 120;
  auto vars = env.env();
  m_pid = ::forkpty(&m_master, nullptr, nullptr, &ws);
  if (m_pid == 0) {
    for (const auto& [k, v] : vars) ::setenv(k.c_str(), v.c_str(), 1);
    ::setenv("TERM", "xterm-256color", 1);
    std::vector<std::string> a{PB_BINARY};
    a.insert(a.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
}

PtyProcess::~PtyProcess() {
  if (m_pid > 0 && !m_exited) {
    ::kill(m_pid, SIGKILL);
    ::waitpid(m_pid, &m_status, 0);
  }
  if (m_master >= 0) ::close(m_master);
}

void PtyProcess::pump(int timeout_ms) {
  pollfd p{m_master, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) > 0) {
    char buf[4096];
    ssize_t n = ::read(m_master, buf, sizeof buf);
    if (n > 0)
      m_raw.append(buf, static_cast<std::size_t>(n));
    else if (n <= 0)
      ::usleep(20000);  // EIO once the child closed its side
  }
  if (!m_exited && ::waitpid(m_pid, &m_status, WNOHANG) == m_pid) m_exited = true;
}

std::string PtyProcess::screen() const {
  std::string out;
  for (std::size_t i = 0; i < m_raw.size(); ++i) {
    char c = m_raw[i];
    if (c == '\x1b' && i + 1 < m_raw.size()) {
      if (m_raw[i + 1] == '[') {
        i += 2;
        while (i < m_raw.size() && !(m_raw[i] >= '@' && m_raw[i] <= '~')) ++i;
        continue;
      }
      if (m_raw[i + 1] == ']') {
        while (i < m_raw.size() && m_raw[i] != '\x07') ++i;
        continue;
      }
      ++i;
      continue;
    }
    out += c;
  }
  return out;
}

bool PtyProcess::wait_for(const std::string& text, int timeout_s) {
  // A full-screen program moves the cursor instead of printing spaces, so
  // words are compared without the blanks between them.
  auto squeeze = [](std::string s) {
    std::erase_if(s, [](char c) { return c == ' ' || c == '\r' || c == '\n'; });
    return s;
  };
  const std::string want = squeeze(text);
  auto shown = [&] { return squeeze(screen()).find(want) != std::string::npos; };
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < end) {
    if (shown()) return true;
    if (m_exited) {
      pump(50);
      return shown();
    }
    pump(100);
  }
  return false;
}

void PtyProcess::write(const std::string& bytes) {
  (void)!::write(m_master, bytes.data(), bytes.size());
}

void PtyProcess::signal(int sig) {
  if (!m_exited) ::kill(m_pid, sig);
}

int PtyProcess::wait_exit(int timeout_s) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (!m_exited && std::chrono::steady_clock::now() < end) pump(100);
  for (int i = 0; i < 5; ++i) pump(20);  // the last output
  if (!m_exited) return -1;
  return WIFEXITED(m_status) ? WEXITSTATUS(m_status) : 128 + WTERMSIG(m_status);
}

}  // namespace pb::test
