#pragma once
// The login container's network and environment, as a user behind a proxy
// needs them (`login --network --env --add-host --ca-file`): what the user
// asked, checked strictly, into what goes into Docker's create body. Nothing
// here runs a shell, but every value still reaches another program's
// configuration, so each is held to the shape its field has: a Docker network
// name, NAME=VALUE with a plain name and a printable value, host:IP, and PEM
// certificates only.
//
// Values are never put into an error message (a proxy URL may carry a
// password); names are.

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace pb::broker::capture {

/// What the user gave on the command line, unchecked.
struct LoginNetworkRequest {
  std::string network;                 ///< --network: "" = Docker's default bridge
  std::vector<std::string> env;        ///< --env NAME=VALUE, or NAME (the caller's value)
  std::vector<std::string> add_hosts;  ///< --add-host HOST:IP
  std::string ca_file;                 ///< --ca-file: a PEM file on this machine, "" = none
};

/// Checked: what the login container gets.
struct LoginNetwork {
  std::string network_mode;              ///< HostConfig.NetworkMode ("" = default)
  std::vector<std::string> env;          ///< "NAME=VALUE", in the order given
  std::vector<std::string> extra_hosts;  ///< HostConfig.ExtraHosts, "host:ip"
  std::string ca_pem;                    ///< the certificates, re-encoded; "" = none
  std::vector<std::string> unset;        ///< names given without a value that the caller has not set (left out)
};

/// Where the extra CA lands in the login container; NODE_EXTRA_CA_CERTS points here.
inline constexpr const char* k_login_ca_dir = "/para-broker-login";
inline constexpr const char* k_login_ca_path = "/para-broker-login/extra-ca.pem";

/// The caller's environment, for `--env NAME` (std::getenv in real use).
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

/// Checks every part of `request` (ErrorKind::usage, one sentence naming the
/// option and the name, never a value) and reads the CA file (at most 1 MiB of
/// PEM certificates; a private key or anything but certificates is refused).
Result<LoginNetwork> resolve_login_network(const LoginNetworkRequest& request, const EnvLookup& caller_env);

/// The proxy variables the docker CLI adds to every container it creates, from
/// `proxies` in its config.json (`cli_config`): the entry named `docker_host`
/// (the endpoint, e.g. "unix:///var/run/docker.sock"), else "default";
/// httpProxy, httpsProxy, noProxy, ftpProxy, allProxy as HTTP_PROXY … and
/// http_proxy …, leaving out every name `given` ("NAME=VALUE") already sets.
/// ErrorKind::usage, naming the key, when a value is not a plain string
/// `valid_env_value` accepts.
Result<std::vector<std::string>> docker_cli_proxy_env(const nlohmann::json& cli_config, const std::string& docker_host,
                                                      const std::vector<std::string>& given);

namespace detail {

/// A Docker network name, or host / bridge / none. Not "container:…".
bool valid_network_name(std::string_view name);
/// A plain environment variable name: [A-Za-z_][A-Za-z0-9_]*, at most 128 characters.
bool valid_env_name(std::string_view name);
/// Why `name` may not be set in the login container, or nullopt when it may.
std::optional<std::string> refused_env_name(std::string_view name);
/// A value without control characters, valid UTF-8, at most 8 KiB.
bool valid_env_value(std::string_view value);
/// "host:ip" with a DNS host name and an IPv4/IPv6 address or host-gateway.
bool valid_extra_host(std::string_view entry);
/// The certificates of a PEM text, re-encoded (only CERTIFICATE blocks survive);
/// ErrorKind::usage when there is none, something else, or a private key.
Result<std::string> certificates_only(std::string_view pem, const std::string& what);

}  // namespace detail
}  // namespace pb::broker::capture
