#pragma once
// Errors as values. Every layer returns pb::Result<T>; only broker::run()
// turns an Error into an exit code and one sentence on stderr.

#include <string>
#include <utility>
#include <variant>

namespace pb {

/// What went wrong, in terms a caller can branch on. The exit code is derived
/// from the kind (see exit_code()), so one table decides the outside contract.
enum class ErrorKind {
  failure,       ///< generic failure (exit 1)
  usage,         ///< bad command line (exit 2)
  not_found,     ///< image, credential, session, Claude Code (exit 3)
  locked,        ///< vault locked or wrong key (exit 4)
  unreachable,   ///< Docker daemon not reachable (exit 5)
  timeout,       ///< Docker daemon too slow (exit 5)
  conflict,      ///< Docker 409 or a busy resource (exit 1)
  api,           ///< Docker answered an error (exit 1)
  integrity,     ///< tampered or corrupt data (exit 6)
  unsafe_input,  ///< hostile or oversized input refused (exit 7)
  attention,     ///< audit found something (exit 10)
};

struct Error {
  ErrorKind kind = ErrorKind::failure;
  /// One plain sentence naming the operation and the object, never a secret.
  std::string message;
};

/// The documented process exit code for an error kind.
int exit_code(ErrorKind kind) noexcept;

/// Convenience constructor: `return pb::fail(ErrorKind::not_found, "...");`
inline Error fail(ErrorKind kind, std::string message) {
  return Error{kind, std::move(message)};
}

/// A small expected-like type (std::expected is C++23).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : m_v(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : m_v(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const noexcept { return m_v.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(m_v); }
  const T& value() const& { return std::get<0>(m_v); }
  T&& value() && { return std::get<0>(std::move(m_v)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(m_v); }
  Error&& error() && { return std::get<1>(std::move(m_v)); }

 private:
  std::variant<T, Error> m_v;
};

/// Result of an operation that yields nothing but may fail.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : m_error(std::move(error)), m_failed(true) {}  // NOLINT

  bool ok() const noexcept { return !m_failed; }
  explicit operator bool() const noexcept { return ok(); }
  const Error& error() const& { return m_error; }
  Error&& error() && { return std::move(m_error); }

 private:
  Error m_error;
  bool m_failed = false;
};

using Status = Result<void>;

}  // namespace pb

/// Propagate an error: `PB_TRY(auto x, f());` or `PB_TRY_STATUS(g());`
#define PB_CONCAT_INNER(a, b) a##b
#define PB_CONCAT(a, b) PB_CONCAT_INNER(a, b)
#define PB_TRY_IMPL(tmp, decl, expr)            \
  auto tmp = (expr);                            \
  if (!tmp.ok()) return std::move(tmp).error(); \
  decl = std::move(tmp).value()
#define PB_TRY(decl, expr) PB_TRY_IMPL(PB_CONCAT(pb_try_, __LINE__), decl, expr)
#define PB_TRY_STATUS(expr)                                             \
  do {                                                                  \
    auto pb_try_status_ = (expr);                                       \
    if (!pb_try_status_.ok()) return std::move(pb_try_status_).error(); \
  } while (0)
