#pragma once
// Whether sessions hold a credential right now, for the commands that change a
// stored login under them (rm, vault restore).

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace pb::vault {
class Vault;
}

namespace pb::broker {
struct Context;
}

namespace pb::broker::commands {

/// ErrorKind::conflict naming the sessions when sessions hold credential
/// `name` (their release would write a login back over what `action` did);
/// without Docker, a note on stderr that it was not checked, and no error.
Status refuse_while_mounted(Context& ctx, const vault::Vault& v, const std::string& name, std::string_view action);

}  // namespace pb::broker::commands
