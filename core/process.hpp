#pragma once
// Running a helper program whose output is a secret (macOS's `security`,
// which prints a Keychain item): its argv holds no secret, stdin and stderr
// are /dev/null, and stdout comes through a pipe into a wiped buffer, bounded
// in size and in time. Plain POSIX (posix_spawn, poll), the same on every platform.

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/secure_buffer.hpp"

namespace pb {

struct ChildOutput {
  int exit_code = -1;  ///< the child's exit status; -1 when a signal ended it
  SecureBytes out;     ///< everything it wrote to stdout
};

struct ChildLimits {
  std::size_t max_output = 1u << 20;
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};
};

/// Runs `argv` (argv[0] looked up on PATH, the environment inherited) and
/// collects its stdout. not_found when the program cannot be started;
/// unsafe_input when it writes more than `limits.max_output` bytes, failure
/// when it outlives `limits.timeout` (in both cases it is killed, and what it
/// wrote is wiped). Messages name argv[0] only.
Result<ChildOutput> run_for_output(const std::vector<std::string>& argv, const ChildLimits& limits = {});

}  // namespace pb
