#pragma once
// Ctrl-C, SIGTERM and SIGHUP while para-broker owns Docker objects (a login
// container, a staging volume, a helper container): instead of dying with the
// objects left behind, the process notes the signal, the current step ends
// (every Docker call is bounded), and the RAII guards remove what was made.

namespace pb::broker::capture {

class InterruptGuard {
 public:
  /// Installs the handlers (SIGINT, SIGTERM, SIGHUP); the destructor restores the previous ones.
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  /// Installs the handlers again (after code that set its own, such as the terminal attach).
  void reinstall();
  /// Whether a signal arrived since the guard was made; its number, 0 if none.
  static int signal_received();
};

}  // namespace pb::broker::capture
