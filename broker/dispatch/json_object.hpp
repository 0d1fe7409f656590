#pragma once
// Untrusted JSON out of an image or a session volume (already bounded in size
// by the read that brought it) that must be one object.

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "core/error.hpp"
#include "core/secure_buffer.hpp"

namespace pb::broker::dispatch {

/// Nesting deeper than this is refused.
inline constexpr std::size_t k_max_json_depth = 64;

/// Parses `bytes` as one JSON object; ErrorKind::unsafe_input naming `what`
/// when it is not well-formed, not an object, or nests too deep.
Result<nlohmann::json> parse_json_object(ByteSpan bytes, const std::string& what);

}  // namespace pb::broker::dispatch
