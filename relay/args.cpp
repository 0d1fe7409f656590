#include "relay/args.hpp"

#include <algorithm>
#include <cstdint>

namespace pb::relay {
namespace {

constexpr std::size_t k_max_path = 1024;
constexpr std::uint64_t k_max_id = 4294967294u;  // 4294967295 is (uid_t)-1: chown's "unchanged"

Error usage_error(std::string message) {
  return fail(ErrorKind::usage, std::move(message));
}

bool component_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-' || c == '@' || c == '+';
}

bool valid_dir(std::string_view p) {
  if (p.size() < 2 || p.size() > k_max_path || p.front() != '/') return false;
  std::size_t start = 1;
  while (start <= p.size()) {
    std::size_t end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    const auto part = p.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || !std::all_of(part.begin(), part.end(), component_char))
      return false;
    start = end + 1;
  }
  return true;
}

/// A decimal id without sign, leading zero or excess.
bool parse_id(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 10 || (s.size() > 1 && s.front() == '0')) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > k_max_id) return false;
  out = v;
  return true;
}

bool valid_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

/// Whether `inner` is `outer` or lies inside it.
bool within(std::string_view inner, std::string_view outer) {
  return inner == outer ||
         (inner.size() > outer.size() && inner.substr(0, outer.size()) == outer && inner[outer.size()] == '/');
}

Result<LoginDirSpec> parse_dir(std::string_view arg) {
  const auto shown = std::string(arg.substr(0, 80));
  const auto second = arg.rfind(':');
  const auto first =
      second == std::string_view::npos || second == 0 ? std::string_view::npos : arg.rfind(':', second - 1);
  if (first == std::string_view::npos) return usage_error("'" + shown + "' is not DIR:UID:GID");
  LoginDirSpec spec;
  spec.path = std::string(arg.substr(0, first));
  if (!valid_dir(spec.path))
    return usage_error("'" + shown + "': the directory must be an absolute path of plain components");
  std::uint64_t uid = 0, gid = 0;
  if (!parse_id(arg.substr(first + 1, second - first - 1), uid) || !parse_id(arg.substr(second + 1), gid))
    return usage_error("'" + shown + "': UID and GID must be decimal numbers up to 4294967294");
  spec.uid = static_cast<uid_t>(uid);
  spec.gid = static_cast<gid_t>(gid);
  return spec;
}

}  // namespace

std::string usage() {
  return "usage: para-broker-relay [--account-uuid UUID] DIR:UID:GID DIR:UID:GID...\n"
         "\n"
         "Copies a refreshed Claude Code login (DIR/.credentials.json) into every other\n"
         "DIR whose login is older, owned by that DIR's UID:GID, mode 0600: once at start,\n"
         "then on every change. Runs until SIGTERM or SIGINT (exit 0).\n"
         "\n"
         "  --account-uuid UUID  refuse a login whose accountUuid names another account\n"
         "                       (case aside). Claude Code's .credentials.json normally has\n"
         "                       no accountUuid, so this alone does not keep another\n"
         "                       account's login out: the account of a login is in each\n"
         "                       session's .claude.json, which the relay does not see.\n"
         "  --help, --version\n"
         "\n"
         "Run it as root with no more than: --cap-drop ALL --cap-add CHOWN\n"
         "--cap-add DAC_OVERRIDE --network none --read-only\n"
         "--security-opt no-new-privileges --log-opt max-size=1m\n";
}

Result<Options> parse_args(std::span<const std::string_view> args) {
  Options o;
  bool options_end = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (!options_end && a.size() > 1 && a.front() == '-') {
      if (a == "--") {
        options_end = true;
      } else if (a == "--help" || a == "-h") {
        o.help = true;
      } else if (a == "--version") {
        o.version = true;
      } else if (a == "--account-uuid" || a.starts_with("--account-uuid=")) {
        std::string_view v;
        if (a == "--account-uuid") {
          if (i + 1 == args.size()) return usage_error("--account-uuid needs a value");
          v = args[++i];
        } else {
          v = a.substr(std::string_view("--account-uuid=").size());
        }
        if (!o.account_uuid.empty()) return usage_error("--account-uuid is given twice");
        if (!valid_uuid(v)) return usage_error("--account-uuid must be a UUID (8-4-4-4-12 hexadecimal digits)");
        o.account_uuid = std::string(v);
        for (char& c : o.account_uuid)
          if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');  // compared case-insensitively
      } else {
        return usage_error("unknown option '" + std::string(a.substr(0, 40)) + "'");
      }
      continue;
    }
    auto spec = parse_dir(a);
    if (!spec) return std::move(spec).error();
    for (const auto& d : o.dirs)
      if (within(spec->path, d.path) || within(d.path, spec->path))
        return usage_error("'" + spec->path + "' and '" + d.path + "' overlap");
    o.dirs.push_back(std::move(*spec));
  }
  if (o.help || o.version) return o;
  if (o.dirs.size() < 2) return usage_error("give at least two login directories (DIR:UID:GID)");
  return o;
}

}  // namespace pb::relay
