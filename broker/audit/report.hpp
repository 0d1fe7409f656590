#pragma once
// The audit report: what the vault stores and when it expires, which Docker
// volumes hold which credential right now (found through labels, so it is
// true after a crash too), which local images carry baked login state, and
// whether the vault is intact. Assembled here, rendered as a table or as the
// JSON documented in docs/audit.md.

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "broker/audit/image_scan.hpp"
#include "broker/objects/labels.hpp"
#include "vault/vault.hpp"

namespace pb::broker {
class DockerClient;
}

namespace pb::broker::audit {

enum class ExpiryState {
  valid,      ///< not expired (and, for tokens that are never renewed, not within the warning window)
  expiring,   ///< a token that is never renewed (setup-token) expires within the warning window
  expired,    ///< the stored token's expiry has passed
  no_expiry,  ///< an API key
  unknown,    ///< no expiry recorded
};
std::string_view expiry_state_name(ExpiryState s);

/// The state of a credential's stored token at `now_ms` (see docs/audit.md:
/// OAuth access tokens live ~8 hours and Claude Code renews them itself, so
/// the warning window applies to setup tokens, expiry to both).
ExpiryState expiry_state(const vault::EntryMeta& meta, std::int64_t now_ms, int warn_days);

/// A volume para-broker made, as Docker's labels describe it.
struct VolumeUse {
  std::string name;
  std::optional<Role> role;  ///< nullopt: a role this release does not know
  std::string role_label;    ///< as the label says: "session", "hold", "staging", …
  std::string credential;    ///< entry id
  std::string session;       ///< holds
  std::string shared;        ///< holds: the shared volume they hold
  std::string image;
  std::vector<std::string> containers;  ///< names of containers that use it (or its session)
  bool stale = false;                   ///< gc removes it (unless gc_leaves)
  std::string why;                      ///< when stale
  bool gc_leaves = false;               ///< stale, but of a credential another vault holds: gc leaves it
};

/// A container a killed probe, import or login left behind (gc removes it).
struct LeftoverContainer {
  std::string name;
  std::string left_by;  ///< "probe", "login" or "import"
  std::string state;    ///< Docker's: "created", "exited", …
  std::string why;
};

struct DockerPart {
  bool looked = false;
  std::string endpoint;
  std::string error;  ///< why Docker could not be asked
  std::vector<VolumeUse> volumes;
  /// relays (pb-relay-<credential>) that do not run: "name (state)"
  std::vector<std::string> relays_down;
  std::vector<LeftoverContainer> leftovers;
};

struct ImageEntry {
  std::string id;
  std::vector<std::string> tags;
  std::optional<ImageScan> scan;
  std::string error;  ///< the export could not be scanned
};

struct ImagesPart {
  bool looked = false;
  std::string error;  ///< Docker could not be asked at all
  std::size_t scanned = 0;
  std::uint64_t bytes = 0;
  std::vector<ImageEntry> images;  ///< every image with a finding, a warning or an error
};

struct CredentialRow {
  vault::EntryMeta meta;
  ExpiryState state = ExpiryState::unknown;
  std::vector<std::string> volumes;   ///< shared volumes of this credential
  std::vector<std::string> sessions;  ///< sessions holding it ("s1", "s2 (stale)")
};

struct Report {
  std::int64_t now_ms = 0;
  int warn_days = 0;
  bool vault_exists = false;
  std::vector<CredentialRow> credentials;
  std::vector<vault::Problem> damaged;
  DockerPart docker;
  std::optional<ImagesPart> images;
  std::optional<vault::VerifyReport> verify;

  /// One sentence per thing that needs attention; empty when all is well.
  std::vector<std::string> attention() const;
};

/// Volumes, holds and the containers that use them, from labels.
DockerPart collect_docker(DockerClient& docker);

/// Progress of an image scan: image reference, bytes of it read so far.
using ImageProgress = std::function<void(const std::string& image, std::uint64_t bytes)>;

/// Exports every local image (or only `only`, references or IDs) and scans it
/// layer by layer; never runs it.
ImagesPart scan_local_images(DockerClient& docker, const ImageProgress& progress,
                             const std::vector<std::string>& only = {});

/// Joins the vault listing with the Docker part.
void attach_credentials(Report& report, const vault::Listing& listing);

void write_table(const Report& report, std::ostream& out);
void write_json(const Report& report, std::ostream& out);

/// The reference to give `import --from-image`: the first tag, else the ID.
std::string image_reference(const ImageEntry& image);

}  // namespace pb::broker::audit
