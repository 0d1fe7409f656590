// Fuzzes the vault's files other than entries (entry has its own target):
// the key header vault.json, the key file, and the access log with its head
// and its pending lines, each read by the real code from a private vault
// directory. The first byte picks the file:
//   0 vault.json (key-file or passphrase provider; the passphrase is never given,
//     so no scrypt runs)
//   1 the key file
//   2 access.log, access.head and access.pending (split at the first two
//     0xFF bytes), then open, verify and append
// Nothing may crash, hang or leak.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "fuzz/support/scratch_dir.hpp"
#include "vault/vault.hpp"

using namespace pb;
using namespace pb::vault;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  ::chmod(p.c_str(), 0600);
}

Options options_for(const fs::path& home, const fs::path& key_file) {
  Options o;
  o.home = home;
  o.key_file = key_file;
  o.clock = [] { return std::int64_t{1700000000000}; };
  o.random = [](std::span<std::uint8_t> out) {
    for (auto& b : out) b = 0x5a;
  };
  o.passphrase = [](std::string_view, bool) -> Result<SecureString> {
    return fail(ErrorKind::locked, "no passphrase in a fuzz run");
  };
  o.key_cache_ttl = std::chrono::seconds(0);
  return o;
}

/// A valid vault made once (header, key file, log), copied for each input.
struct Fixture {
  fuzz::ScratchDir dir{"pb-fuzz-vault"};
  fs::path root = dir.path();
  fs::path pristine = root / "pristine";

  Fixture() {
    fs::create_directory(pristine);
    ::chmod(pristine.c_str(), 0700);
    auto v = Vault::init(options_for(pristine, root / "pristine.key"), Provider::key_file);
    if (!v.ok()) std::abort();
    if (!v->log({.op = "mount", .credential = "0123456789abcdef", .name = "work"}).ok()) std::abort();
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

/// A fresh copy of the pristine vault (and its key file) under `name`.
Options fresh(const std::string& name) {
  const Fixture& f = fixture();
  const fs::path home = f.root / name;
  std::error_code ec;
  fs::remove_all(home, ec);
  fs::copy(f.pristine, home, fs::copy_options::recursive, ec);
  ::chmod(home.c_str(), 0700);
  const fs::path key = f.root / (name + ".key");
  fs::copy_file(f.root / "pristine.key", key, fs::copy_options::overwrite_existing, ec);
  ::chmod(key.c_str(), 0600);
  return options_for(home, key);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0: {
      Options o = fresh("header");
      write(o.home / "vault.json", in);
      auto v = Vault::open(o);
      if (v.ok()) (void)v->verify();
      break;
    }
    case 1: {
      Options o = fresh("key");
      write(o.key_file, in);
      (void)Vault::open(o);
      break;
    }
    default: {
      Options o = fresh("log");
      const auto a = in.find('\xff');
      const auto b = a == std::string_view::npos ? a : in.find('\xff', a + 1);
      write(o.home / "access.log", in.substr(0, a));
      if (a != std::string_view::npos) write(o.home / "access.head", in.substr(a + 1, b == a ? b : b - a - 1));
      if (b != std::string_view::npos) write(o.home / "access.pending", in.substr(b + 1));
      auto v = Vault::open(o);
      if (!v.ok()) break;
      (void)v->verify();
      (void)v->log({.op = "release", .credential = "0123456789abcdef", .name = "work"});
      auto after = v->verify();
      (void)after;
      break;
    }
  }
  return 0;
}
