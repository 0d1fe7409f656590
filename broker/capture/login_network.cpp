#include "broker/capture/login_network.hpp"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "core/c_handles.hpp"
#include "core/files.hpp"
#include "core/names.hpp"
#include "core/text.hpp"

namespace pb::broker::capture {
namespace detail {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool host_label(std::string_view l) {
  if (l.empty() || l.size() > 63 || l.front() == '-' || l.back() == '-') return false;
  return std::all_of(l.begin(), l.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-'; });
}

using BioPtr = CPtr<BIO, BIO_free_all>;

}  // namespace

bool valid_network_name(std::string_view name) {
  // Docker's own rule for names ([a-zA-Z0-9][a-zA-Z0-9_.-]*), bounded; no ':'
  // so "container:<id>" (another container's namespace) is not a network.
  if (name.empty() || name.size() > 128) return false;
  if (std::isalnum(static_cast<unsigned char>(name.front())) == 0) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-';
  });
}

bool valid_env_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  if (std::isdigit(static_cast<unsigned char>(name.front())) != 0) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::optional<std::string> refused_env_name(std::string_view name) {
  const std::string n = upper(name);
  // Where Claude Code writes its login: the broker sets these itself, and the
  // capture reads the files where the probe predicted them.
  static const std::set<std::string> k_moves_login{"CLAUDE_CONFIG_DIR", "CLAUDE_SECURESTORAGE_CONFIG_DIR", "HOME",
                                                   "XDG_CONFIG_HOME", "USER"};
  if (k_moves_login.count(n) != 0) return "it moves where Claude Code writes the login, which para-broker decides";
  // Another way to authenticate: the login would not be a subscription login.
  static const std::set<std::string> k_other_auth{"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN",
                                                  "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_CODE_USE_BEDROCK",
                                                  "CLAUDE_CODE_USE_VERTEX"};
  if (k_other_auth.count(n) != 0) return "it makes Claude Code authenticate another way than the login";
  // Secrets have no business in a login container (and would show in `docker inspect`).
  for (const char* word : {"TOKEN", "SECRET", "PASSWORD", "PASSWD", "API_KEY", "APIKEY", "CREDENTIAL", "PRIVATE_KEY"})
    if (n.find(word) != std::string::npos) return "its name says it holds a secret";
  return std::nullopt;
}

bool valid_env_value(std::string_view value) {
  if (value.size() > 8192 || !valid_utf8(value)) return false;
  return std::none_of(value.begin(), value.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

bool valid_extra_host(std::string_view entry) {
  const auto colon = entry.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view host = entry.substr(0, colon);
  const std::string ip(entry.substr(colon + 1));
  if (host.empty() || host.size() > 253) return false;
  for (std::size_t start = 0;;) {
    const auto dot = host.find('.', start);
    if (!host_label(host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start)))
      return false;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (ip == "host-gateway") return true;
  unsigned char buf[16];
  return inet_pton(AF_INET, ip.c_str(), buf) == 1 || inet_pton(AF_INET6, ip.c_str(), buf) == 1;
}

Result<std::string> certificates_only(std::string_view pem, const std::string& what) {
  auto refuse = [&](const std::string& why) {
    ERR_clear_error();
    return fail(ErrorKind::usage, what + " " + why);
  };
  if (pem.find("PRIVATE KEY") != std::string_view::npos)
    return refuse("holds a private key; give only the CA certificates");
  BioPtr in(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!in || !out) return fail(ErrorKind::failure, "cannot allocate a buffer for " + what);
  int count = 0;
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    if (PEM_read_bio(in.get(), &name, &header, &data, &len) != 1) break;
    const std::string block = name != nullptr ? name : "";
    const unsigned char* p = data;
    X509Ptr cert(block == "CERTIFICATE" ? d2i_X509(nullptr, &p, len) : nullptr);
    const bool whole = cert && p == data + len;
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    if (block != "CERTIFICATE") return refuse("holds a PEM block that is not a certificate");
    if (!whole) return refuse("holds a certificate that does not parse");
    if (PEM_write_bio_X509(out.get(), cert.get()) != 1)
      return fail(ErrorKind::failure, "cannot re-encode the certificates of " + what);
    ++count;
  }
  ERR_clear_error();
  if (count == 0) return refuse("holds no PEM certificate");
  char* bytes = nullptr;
  const long n = BIO_get_mem_data(out.get(), &bytes);
  return std::string(bytes, static_cast<std::size_t>(n));
}

}  // namespace detail

Result<std::vector<std::string>> docker_cli_proxy_env(const nlohmann::json& cli_config, const std::string& docker_host,
                                                      const std::vector<std::string>& given) {
  std::vector<std::string> out;
  if (!cli_config.is_object()) return out;
  auto proxies = cli_config.find("proxies");
  if (proxies == cli_config.end() || !proxies->is_object()) return out;
  auto entry = proxies->find(docker_host);
  if (entry == proxies->end()) entry = proxies->find("default");
  if (entry == proxies->end() || !entry->is_object()) return out;
  std::set<std::string> taken;
  for (const auto& g : given) taken.insert(g.substr(0, g.find('=')));
  static const std::pair<const char*, const char*> k_keys[] = {{"httpProxy", "HTTP_PROXY"},
                                                               {"httpsProxy", "HTTPS_PROXY"},
                                                               {"noProxy", "NO_PROXY"},
                                                               {"ftpProxy", "FTP_PROXY"},
                                                               {"allProxy", "ALL_PROXY"}};
  for (const auto& [key, name] : k_keys) {
    auto v = entry->find(key);
    if (v == entry->end()) continue;
    if (!v->is_string() || !detail::valid_env_value(v->get<std::string>()))
      return fail(ErrorKind::usage, std::string("the docker CLI's proxies setting '") + key +
                                        "' must be printable UTF-8 without control characters, at most 8 KiB");
    const std::string value = v->get<std::string>();
    if (value.empty()) continue;  // as the docker CLI: an empty setting adds nothing
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const std::string& n : {std::string(name), lower})
      if (taken.count(n) == 0) out.push_back(n + "=" + value);
  }
  return out;
}

Result<LoginNetwork> resolve_login_network(const LoginNetworkRequest& request, const EnvLookup& caller_env) {
  LoginNetwork out;
  if (!request.network.empty()) {
    if (!detail::valid_network_name(request.network))
      return fail(ErrorKind::usage, "--network takes a Docker network name (host, bridge, or a network's name)");
    out.network_mode = request.network;
  }

  std::set<std::string> seen;
  for (const auto& item : request.env) {
    const auto eq = item.find('=');
    const std::string name = item.substr(0, eq);
    if (!detail::valid_env_name(name))
      return fail(ErrorKind::usage,
                  "--env takes NAME=VALUE or NAME, with a NAME of letters, digits and '_' (not starting with a digit)");
    if (auto why = detail::refused_env_name(name))
      return fail(ErrorKind::usage, "--env " + name + ": refused, " + *why);
    if (!request.ca_file.empty() && detail::upper(name) == "NODE_EXTRA_CA_CERTS")
      return fail(ErrorKind::usage, "--env NODE_EXTRA_CA_CERTS: refused with --ca-file, which sets it");
    if (!seen.insert(name).second) return fail(ErrorKind::usage, "--env " + name + " is given twice");
    std::optional<std::string> value;
    if (eq != std::string::npos)
      value = item.substr(eq + 1);
    else
      value = caller_env(name);
    if (!value) {
      out.unset.push_back(name);  // as `docker run -e NAME` does: left out
      continue;
    }
    if (!detail::valid_env_value(*value))
      return fail(ErrorKind::usage, "--env " + name +
                                        ": the value must be printable UTF-8 without control characters, at most "
                                        "8 KiB");
    out.env.push_back(name + "=" + *value);
  }

  for (const auto& h : request.add_hosts) {
    if (!detail::valid_extra_host(h))
      return fail(ErrorKind::usage,
                  "--add-host takes HOST:IP (a DNS name, and an IPv4 or IPv6 address or "
                  "host-gateway), not '" +
                      printable(h, 80) + "'");
    out.extra_hosts.push_back(h);
  }

  if (!request.ca_file.empty()) {
    const std::string what = "--ca-file " + printable(request.ca_file, 200);
    auto bytes = read_file(request.ca_file, 1u << 20);
    if (!bytes) return fail(ErrorKind::usage, what + ": " + bytes.error().message);
    PB_TRY(out.ca_pem, detail::certificates_only(
                           std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()), what));
    out.env.push_back(std::string("NODE_EXTRA_CA_CERTS=") + k_login_ca_path);
  }
  return out;
}

}  // namespace pb::broker::capture
