#pragma once
// The relay of a credential (docs/dispatch.md, "Sessions of different users"):
// a container `pb-relay-<credential id>` that runs para-broker-relay over the
// login volumes of every user whose sessions use the credential now, so that a
// login one user's session refreshed reaches the others' files before their
// sessions look (under the refresh lock they share in the lock volume).
//
// It exists while two or more users' login volumes are live and is made again
// whenever that set changes (Docker cannot add a mount to a container): a
// login volume can be removed only once no relay mounts it. Created from an
// image of its own, `para-broker-relay:<content hash>`, that holds the static
// program alone (imported through the API once per engine, so it works with
// remote engines and no session image's configuration comes along); it runs
// as 0:0 with no capability but CHOWN and DAC_OVERRIDE, a read-only root, no
// network and no new privileges.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace pb::broker {
class DockerClient;
}

namespace pb::broker::dispatch {

/// One login volume the relay serves, with the owner its files must have.
struct RelayMember {
  std::string volume;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
};

/// The relay container's name for a credential.
std::string relay_name(const std::string& credential_id);

/// Where the relay program is: PARA_BROKER_RELAY when set, else
/// ../libexec/para-broker/para-broker-relay from the directory this
/// executable is in; nullopt when neither can be told.
std::optional<std::string> relay_binary_path();

/// Docker's name (GOARCH) of the architecture this build runs on, the one the
/// relay binary beside it was built for ("amd64", "arm64", …).
std::string build_arch();

/// The arguments the relay gets, one `DIR:UID:GID` per member, in order: the
/// member's volume is mounted at /pb-logins/<index>.
std::vector<std::string> relay_args(const std::vector<RelayMember>& members);

/// Makes the relay of `credential_id` serve exactly `members`: none when
/// fewer than two (a relay found is removed); otherwise the running relay is
/// kept if it serves this set, else replaced. Must be called under the
/// credential's lock. Returns a sentence for the user when the relay could not
/// be run (binary missing, another architecture, the engine refused): the
/// sessions still work, as copies that `sync` keeps up to date. An error only
/// when a relay that must go could not be removed (its volumes would stay).
Result<std::optional<std::string>> reconcile_relay(DockerClient& docker, const std::string& credential_id,
                                                   std::vector<RelayMember> members);

}  // namespace pb::broker::dispatch
