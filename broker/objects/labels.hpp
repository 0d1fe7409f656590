#pragma once
// The labels para-broker puts on every Docker object it creates. Labels, not
// names, decide what belongs to whom (audit, gc, release after a crash).

#include <optional>
#include <string>
#include <string_view>

#include "broker/docker/docker_client.hpp"

namespace pb::broker {

/// What an object para-broker made is for. Its label para-broker.role says so
/// (role_label()); the values on the wire are those of every release, so the
/// objects of an earlier release keep their meaning.
enum class Role {
  login,        ///< volume: a login, shared by one user's sessions of a credential (label "session")
  hold,         ///< volume: one session's config; names its login volume
  lock,         ///< volume: the refresh lock of a credential's sessions, beside their login volumes
  staging,      ///< volume and container of a `login` in progress
  keeper,       ///< container: keeps a login volume and seeds it (label "helper", with para-broker.volume)
  reader,       ///< container: `import --from-image` reads a login out of it (label "helper", no volume)
  probe,        ///< container: a probe of an image
  relay,        ///< container: copies a refreshed login between the login volumes of a credential's users
  relay_image,  ///< image: the relay's program
  demo,         ///< image and container of `para-broker demo`
};

}  // namespace pb::broker

namespace pb::broker::labels {

inline constexpr const char* k_managed = "para-broker.managed";
inline constexpr const char* k_role = "para-broker.role";
inline constexpr const char* k_credential = "para-broker.credential";
inline constexpr const char* k_session = "para-broker.session";
inline constexpr const char* k_image = "para-broker.image";
inline constexpr const char* k_uid = "para-broker.uid";
inline constexpr const char* k_gid = "para-broker.gid";
inline constexpr const char* k_volume = "para-broker.volume";
inline constexpr const char* k_target = "para-broker.target";
/// login volume: the directory below its target that holds the login (absent
/// on volumes of earlier releases, which hold the whole <cfg> at claude/)
inline constexpr const char* k_login_dir = "para-broker.login-dir";
/// hold: where the hold is mounted as the session's <cfg> (absent on the
/// empty holds of earlier releases)
inline constexpr const char* k_config = "para-broker.config";
inline constexpr const char* k_mounted_at = "para-broker.mounted-at";  ///< hold: Unix seconds of the mount
inline constexpr const char* k_created_at = "para-broker.created-at";  ///< staging volume: Unix seconds

/// Names of the containers para-broker names start with this, never with
/// `para-`: para counts `docker ps --filter name=^para-` against its limit and
/// its orphan cleanup removes every `para-*` container that is not a session.
inline constexpr const char* k_container_prefix = "pb-";

/// How long a hold counts as live without a container: para creates the
/// session's container right after mount, and gc must not take the volume
/// from under a session that is starting.
inline constexpr long long k_default_grace_seconds = 300;

/// The value of label `key`, or "" when absent.
std::string label_of(const Labels& labels, const char* key);

/// Whether a hold was mounted less than `grace` seconds before `now` (a hold
/// without the label, or with a date in the future beyond a minute, is not young).
bool is_young_hold(const Labels& hold, long long now, long long grace);

/// The same rule for any object whose label `key` holds Unix seconds.
bool is_young(const Labels& labels, const char* key, long long now, long long grace);

/// {managed=1, role=<role>} plus the labels of PARA_BROKER_EXTRA_LABELS
/// ("k=v,k2=v2"; lets a caller such as a test suite tag what it makes).
Labels managed(Role role);

/// The value of para-broker.role for `role`.
std::string_view role_label(Role role);

/// The role of an object para-broker made (para-broker.managed=1 and a role
/// it knows), else nullopt. "helper" is a keeper when it names a volume, else a reader.
std::optional<Role> role_of(const Labels& labels);

/// Whether `labels` are those of an object para-broker made for `role`.
inline bool has_role(const Labels& labels, Role role) {
  return role_of(labels) == role;
}

/// Whether `labels` carry every label of PARA_BROKER_EXTRA_LABELS (always,
/// when it is unset): what a caller that tags its objects may clean up.
bool carries_extra(const Labels& labels);

/// What a killed probe, import or login leaves behind, as `gc` judges it.
enum class Leftover { none, probe, login, import, running_login };

/// A para-broker container (carrying this installation's extra labels) of a
/// probe, a login (role staging) or an import (a helper without a volume),
/// created more than `grace` seconds before `now`: each removes its own on
/// every path but a kill. A login container that still runs is
/// `running_login`, whatever its age: someone may still be logging in.
Leftover leftover(const ContainerSummary& c, long long now, long long grace);

/// Filter that selects objects of one role: {"para-broker.managed=1", "para-broker.role=<role>"}.
LabelFilters filter(Role role);

/// Docker copies an image's labels onto every container made from it, so a
/// container's para-broker labels prove nothing when its image carries them
/// all, with the same values: an image labelled like a keeper or a probe would
/// otherwise have gc remove its sessions' containers, or hide what they mount.
/// Such containers lose their managed and role labels here and are judged as
/// the user's; what para-broker makes always carries labels of its own. One
/// image inspect per image among the containers that claim a role.
void disown_inherited_roles(DockerClient& docker, std::vector<ContainerSummary>& containers);

}  // namespace pb::broker::labels
