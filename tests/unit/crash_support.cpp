#include "tests/unit/crash_support.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace fs = std::filesystem;

namespace pb::test::crash {
namespace {

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

}  // namespace

Sandbox::Sandbox() : m_env(std::make_unique<TestEnv>()) {
  m_env->set_env("PARA_BROKER_PASSPHRASE", k_passphrase);
  m_env->set_env("PARA_BROKER_NEW_PASSPHRASE", k_passphrase);
  m_env->set_env("PARA_BROKER_KEY_CACHE_TTL", "0");
  m_env->set_env("DOCKER_HOST", "unix://" + (m_env->root() / "no-docker.sock").string());
}

CommandResult Sandbox::run(const std::vector<std::string>& args,
                           const std::map<std::string, std::string>& extra) const {
  std::vector<std::string> argv{PB_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  auto env = m_env->env();
  for (const auto& [k, v] : extra) env[k] = v;
  return run_process(argv, env, "", 120);
}

std::map<std::string, std::string> Sandbox::wrong_key() const {
  const fs::path file = m_env->root() / "wrong.key";
  if (!fs::exists(file)) {
    write(file, std::string(64, 'e') + "\n");
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  }
  return {{"PARA_BROKER_KEY_FILE", file.string()}};
}

fs::path Sandbox::login(const std::string& account, long long expires) {
  const fs::path home = m_env->root() / ("login-" + account + "-" + std::to_string(expires));
  // Fake tokens: test values only.
  write(home / ".claude" / ".credentials.json",
        R"({"claudeAiOauth":{"accessToken":"sk-ant-oat01-fake-test-)" + std::to_string(expires) +
            R"(","refreshToken":"sk-ant-ort01-fake-test-refresh","expiresAt":)" + std::to_string(expires) +
            R"(,"scopes":["user:inference"],"subscriptionType":"pro"}})");
  write(home / ".claude.json", R"({"hasCompletedOnboarding":true,"oauthAccount":{"emailAddress":")" + account +
                                   R"(","accountUuid":"uuid-)" + account + R"("}})");
  return home;
}

bool is_temp_name(const std::string& name) {
  const auto pos = name.rfind(".tmp-");
  return !name.empty() && name.front() == '.' && pos != std::string::npos && name.size() == pos + 5 + 10;
}

VaultState inspect(const Sandbox& box) {
  VaultState s;
  const TestEnv& env = box.env();
  std::error_code ec;
  s.exists = fs::exists(env.vault_home() / "vault.json", ec);
  for (const fs::path& dir : {env.vault_home(), env.key_file().parent_path()}) {
    if (!fs::exists(dir, ec)) continue;
    for (const auto& e : fs::recursive_directory_iterator(dir, ec))
      if (is_temp_name(e.path().filename().string())) s.temp_files.push_back(e.path().string());
  }
  if (!s.exists) return s;
  auto v = box.run({"vault", "verify", "--json"});
  s.verify_output = v.out + v.err;
  s.verified = v.exit_code == 0;
  auto l = box.run({"list", "--json"});
  if (l.exit_code == 0) {
    auto j = nlohmann::json::parse(l.out, nullptr, false);
    if (j.is_object() && j.contains("credentials"))
      for (const auto& c : j["credentials"])
        s.expiry_by_name[c.value("name", "")] = c["expires_at"].is_number() ? c["expires_at"].get<long long>() : 0;
  } else {
    s.verified = false;
    s.verify_output += "\nlist failed: " + l.err;
  }
  std::ifstream log(env.vault_home() / "access.log");
  for (std::string line; std::getline(log, line);) {
    auto r = nlohmann::json::parse(line, nullptr, false);
    if (r.is_object() && r.value("op", "") == "unlock" && r.value("result", "") == "failed") ++s.failed_unlocks;
  }
  return s;
}

}  // namespace pb::test::crash
