#pragma once
// Whole numbers out of JSON that someone else wrote (a file on disk, the
// Docker daemon, a container). nlohmann's get<int64_t>() casts whatever number
// it holds: a float like 1e300 is undefined behaviour, 2^64-1 wraps to -1,
// and 3.7 becomes 3. These helpers take integers in range and nothing else,
// and write optional numbers back as null.

#include <concepts>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

namespace pb {

/// The value of `j` when it is an integer (not a float) that T can hold.
template <std::integral T>
std::optional<T> whole_number(const nlohmann::json& j) {
  if (j.is_number_unsigned()) {
    const auto u = j.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) return std::nullopt;
    return static_cast<T>(u);
  }
  if (j.is_number_integer()) {
    const auto i = j.get<std::int64_t>();
    if constexpr (std::is_unsigned_v<T>) {
      if (i < 0 || static_cast<std::uint64_t>(i) > std::numeric_limits<T>::max()) return std::nullopt;
    } else {
      if (i < std::numeric_limits<T>::min() || i > std::numeric_limits<T>::max()) return std::nullopt;
    }
    return static_cast<T>(i);
  }
  return std::nullopt;
}

/// whole_number() or a json::type_error, for parsers that turn every
/// json::exception into one "malformed" sentence.
template <std::integral T>
T whole_number_or_throw(const nlohmann::json& j) {
  if (auto v = whole_number<T>(j)) return *v;
  throw nlohmann::json::type_error::create(302, "expected a whole number in range", &j);
}

/// An optional number as JSON: the number, or null.
inline nlohmann::json json_or_null(const std::optional<std::int64_t>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json();
}

}  // namespace pb
