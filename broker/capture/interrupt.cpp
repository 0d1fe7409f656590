#include "broker/capture/interrupt.hpp"

#include <array>
#include <csignal>

namespace pb::broker::capture {
namespace {

volatile std::sig_atomic_t g_signal = 0;
constexpr std::array<int, 3> k_signals{SIGINT, SIGTERM, SIGHUP};
std::array<struct sigaction, 3> g_previous{};

extern "C" void note_signal(int sig) {
  g_signal = sig;
}

void install(bool save) {
  struct sigaction sa {};
  sa.sa_handler = note_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocking read sees EINTR and the step ends sooner
  for (std::size_t i = 0; i < k_signals.size(); ++i) ::sigaction(k_signals[i], &sa, save ? &g_previous[i] : nullptr);
}

}  // namespace

InterruptGuard::InterruptGuard() {
  g_signal = 0;
  install(true);
}

InterruptGuard::~InterruptGuard() {
  for (std::size_t i = 0; i < k_signals.size(); ++i) ::sigaction(k_signals[i], &g_previous[i], nullptr);
}

void InterruptGuard::reinstall() {
  install(false);
}

int InterruptGuard::signal_received() {
  return g_signal;
}

}  // namespace pb::broker::capture
