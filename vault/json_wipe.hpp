#pragma once
// Wiping parsed JSON that holds secrets (tokens in .credentials.json, keys in
// .claude.json) before nlohmann frees it: its strings are plain std::strings.

#include <nlohmann/json.hpp>

#include "core/secure_buffer.hpp"

namespace pb::vault {

/// Wipes every string value of `j` in place (object keys are not secret).
inline void wipe_json(nlohmann::json& j) noexcept {
  if (j.is_string()) {
    auto& s = j.get_ref<std::string&>();
    secure_wipe(s.data(), s.size());
  } else if (j.is_structured()) {
    for (auto& v : j) wipe_json(v);
  }
}

/// Wipes a document when the scope that parsed it ends, on every path out.
struct JsonWiper {
  nlohmann::json& j;
  ~JsonWiper() { wipe_json(j); }
};

}  // namespace pb::vault
