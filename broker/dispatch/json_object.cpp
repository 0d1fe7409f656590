#include "broker/dispatch/json_object.hpp"

#include <nlohmann/json.hpp>

namespace pb::broker::dispatch {

Result<nlohmann::json> parse_json_object(ByteSpan bytes, const std::string& what) {
  try {
    nlohmann::json::parser_callback_t depth_guard = [](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
      if (depth > static_cast<int>(k_max_json_depth)) throw std::length_error("too deep");
      return true;
    };
    auto j = nlohmann::json::parse(bytes.begin(), bytes.end(), depth_guard);
    if (!j.is_object()) return fail(ErrorKind::unsafe_input, what + " is not a JSON object");
    return j;
  } catch (const std::exception&) {
    return fail(ErrorKind::unsafe_input, what + " is not well-formed JSON (or nests too deep)");
  }
}

}  // namespace pb::broker::dispatch
