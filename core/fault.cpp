#include "core/fault.hpp"

#if defined(PB_FAULT_INJECTION)

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace pb::fault {
namespace {

struct Config {
  std::size_t index = k_point_count;  ///< k_point_count: no point is armed
  std::uint64_t nth = 1;
  std::string trace;
};

Config read_config() {
  Config c;
  if (const char* t = std::getenv("PARA_BROKER_CRASH_TRACE"); t != nullptr) c.trace = t;
  const char* at = std::getenv("PARA_BROKER_CRASH_AT");
  if (at == nullptr || *at == '\0') return c;
  std::string_view spec = at;
  std::string_view name = spec;
  if (auto colon = spec.rfind(':'); colon != std::string_view::npos) {
    name = spec.substr(0, colon);
    const std::string n(spec.substr(colon + 1));
    char* end = nullptr;
    const unsigned long long v = std::strtoull(n.c_str(), &end, 10);
    if (end == n.c_str() || *end != '\0' || v == 0) {
      const std::string msg = "para-broker: PARA_BROKER_CRASH_AT='" + std::string(spec) + "' has no valid count\n";
      (void)!::write(2, msg.data(), msg.size());
      std::_Exit(2);
    }
    c.nth = v;
  }
  for (std::size_t i = 0; i < k_point_count; ++i)
    if (k_points[i].name == name) c.index = i;
  if (c.index == k_point_count) {
    // A misspelt point would make a crash test pass without crashing anything.
    const std::string msg = "para-broker: PARA_BROKER_CRASH_AT names no crash point: '" + std::string(name) + "'\n";
    (void)!::write(2, msg.data(), msg.size());
    std::_Exit(2);
  }
  return c;
}

const Config& config() {
  static const Config c = read_config();
  return c;
}

std::array<std::atomic<std::uint64_t>, k_point_count> g_hits{};

void trace(std::size_t index) {
  const std::string& path = config().trace;
  if (path.empty()) return;
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  const std::string line = std::string(k_points[index].name) + "\n";
  (void)!::write(fd, line.data(), line.size());  // one O_APPEND write: lines of concurrent processes do not mix
  ::close(fd);
}

}  // namespace

bool armed(std::size_t index) noexcept {
  const Config& c = config();
  const std::uint64_t hit = g_hits[index].fetch_add(1) + 1;
  trace(index);
  return index == c.index && hit == c.nth;
}

void crash(std::size_t index) noexcept {
  const std::string msg = "para-broker: crash point " + std::string(k_points[index].name) + " (pass " +
                          std::to_string(config().nth) + "): killing the process\n";
  (void)!::write(2, msg.data(), msg.size());
  ::kill(::getpid(), SIGKILL);
  for (;;) ::pause();
}

}  // namespace pb::fault

#endif
