#include "broker/capture/host.hpp"

#include <algorithm>

#include "core/paths.hpp"
#include "core/platform.hpp"

namespace fs = std::filesystem;

namespace pb::broker::capture {
namespace {

int hex_value(std::uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// `security -w` prints a password that is not printable text as hex digits.
std::optional<SecureBytes> decode_hex(const SecureBytes& in) {
  if (in.empty() || in.size() % 2 != 0) return std::nullopt;
  SecureBytes out(in.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_value(in[2 * i]), lo = hex_value(in[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return out;
}

std::string item_name() {
  return std::string("the Keychain item '") + k_keychain_service + "'";
}

}  // namespace

Result<HostSource> host_source_from_environment() {
  HostSource s;
  auto home = env_var("HOME");
  if (!home) return fail(ErrorKind::not_found, "HOME is not set, so the host's Claude Code login cannot be found");
  s.home = *home;
  if (auto c = env_var("CLAUDE_CONFIG_DIR")) s.config_dir = fs::path(*c);
  s.keychain = platform::name() == "macos";
  if (auto k = env_var("PARA_BROKER_KEYCHAIN")) {
    if (*k != "0" && *k != "1") return fail(ErrorKind::usage, "PARA_BROKER_KEYCHAIN must be 1 or 0");
    s.keychain = *k == "1";
  }
  return s;
}

Result<SecureBytes> read_keychain_credentials(const HostSource& source) {
  // Nothing secret in argv: the service name only. -w prints the password alone.
  PB_TRY(ChildOutput child,
         run_for_output({source.security, "find-generic-password", "-s", k_keychain_service, "-w"}, source.limits));
  if (child.exit_code == k_security_item_not_found)
    return fail(ErrorKind::not_found, "the login Keychain holds no item '" + std::string(k_keychain_service) + "'");
  if (child.exit_code != 0)
    return fail(ErrorKind::failure, "reading " + item_name() + " with " + source.security + " failed (exit " +
                                        std::to_string(child.exit_code) +
                                        "); unlock the login Keychain or allow the access, then try again");
  SecureBytes out = std::move(child.out);
  if (!out.empty() && out.back() == '\n') out.pop_back();
  if (!out.empty() && out.front() != '{') {
    auto decoded = decode_hex(out);
    if (!decoded) return fail(ErrorKind::unsafe_input, item_name() + " was refused: it is not a JSON object");
    out = std::move(*decoded);
  }
  if (out.empty()) return fail(ErrorKind::unsafe_input, item_name() + " was refused: it is empty");
  if (out.size() > vault::k_max_credentials_json)
    return fail(ErrorKind::unsafe_input, item_name() + " was refused: it is larger than 1 MiB");
  // The same validation as the credentials file gets (bounded, one JSON object, a login in it).
  auto summary = vault::summarise_login(out, {});
  if (!summary && summary.error().kind == ErrorKind::unsafe_input)
    return fail(ErrorKind::unsafe_input, item_name() + " was refused: " + summary.error().message);
  if (!summary) return fail(summary.error().kind, item_name() + " holds no Claude Code login");
  return out;
}

Result<vault::Capture> capture_host(const HostSource& source) {
  const std::string where = source.config_dir ? source.config_dir->string() : source.home.string();
  if (!source.keychain) return vault::capture_from_dir(source.home, source.config_dir, "host:" + where);
  auto creds = read_keychain_credentials(source);
  if (!creds && creds.error().kind != ErrorKind::not_found) return std::move(creds).error();
  if (!creds) {
    // No item: an older build, or one that fell back to the file, keeps it there.
    auto files = vault::capture_from_dir(source.home, source.config_dir, "host:" + where);
    if (!files && files.error().kind == ErrorKind::not_found)
      return fail(ErrorKind::not_found, "no Claude Code login on this machine: the login Keychain holds no item '" +
                                            std::string(k_keychain_service) + "', and " + files.error().message);
    return files;
  }
  // The Keychain wins over a credentials file, as it does for Claude Code; .claude.json is a file either way.
  vault::Capture c;
  auto files = vault::capture_from_dir(source.home, source.config_dir, "host:" + where);
  if (files) {
    c = std::move(*files);
  } else if (files.error().kind != ErrorKind::not_found) {
    return std::move(files).error();
  }
  c.credentials_json = std::move(*creds);
  c.source = "host:keychain:" + where;
  return c;
}

}  // namespace pb::broker::capture
