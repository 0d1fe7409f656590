#include "core/error.hpp"

namespace pb {

int exit_code(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::failure:
      return 1;
    case ErrorKind::usage:
      return 2;
    case ErrorKind::not_found:
      return 3;
    case ErrorKind::locked:
      return 4;
    case ErrorKind::unreachable:
    case ErrorKind::timeout:
      return 5;
    case ErrorKind::conflict:
    case ErrorKind::api:
      return 1;
    case ErrorKind::integrity:
      return 6;
    case ErrorKind::unsafe_input:
      return 7;
    case ErrorKind::attention:
      return 10;
  }
  return 1;
}

}  // namespace pb
