#pragma once
// The relay's command line:
//
//   para-broker-relay [--account-uuid UUID] DIR:UID:GID DIR:UID:GID...
//   para-broker-relay --help | --version
//
// DIR is a login directory inside the relay's container (an absolute path of
// plain components: letters, digits, '.', '_', '-', '@', '+'; no '.' or '..'
// component, no empty one); UID:GID the owner its .credentials.json must
// have, decimal, at most 4294967294 (4294967295 is chown's "leave it"). At
// least two directories, none equal to or inside another. UUID is
// 8-4-4-4-12 hexadecimal digits, kept in lower case (compared case-insensitively).

#include <sys/types.h>

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"  // header only: Result and Error

namespace pb::relay {

struct LoginDirSpec {
  std::string path;
  uid_t uid = 0;
  gid_t gid = 0;
};

struct Options {
  std::vector<LoginDirSpec> dirs;
  std::string account_uuid;  ///< empty: no account check
  bool help = false;
  bool version = false;
};

/// The usage text (--help, and after a usage error).
std::string usage();

/// Parses the arguments after argv[0]; a usage error says what is wrong in one sentence.
Result<Options> parse_args(std::span<const std::string_view> args);

}  // namespace pb::relay
