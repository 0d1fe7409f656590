#pragma once
// The one path from a captured login into the vault, shared by `import` (every
// source) and `login`: name check, reduction and validation before the vault
// is touched, then Vault::capture (same account updates its entry, the newer
// expiry wins), then the report line or JSON.

#include <optional>
#include <string>

#include "broker/commands/command.hpp"
#include "vault/vault.hpp"

namespace pb::broker::commands {

/// Refuses a bad --name before any work is done (usage error).
Status check_credential_name(const std::optional<std::string>& name);

/// Validates `capture` (bounded, reduced, holding a login) and stores it.
/// not_found when the capture holds no login; unsafe_input on hostile JSON.
Result<vault::CaptureOutcome> store_capture(const Context& ctx, const vault::Capture& capture,
                                            const std::optional<std::string>& name);

/// Prints what store_capture did (one line, or JSON schema 1).
void print_capture_outcome(Context& ctx, const vault::CaptureOutcome& outcome, bool json);

}  // namespace pb::broker::commands
