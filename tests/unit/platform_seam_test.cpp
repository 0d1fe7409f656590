// Everything of one operating system only stays behind the platform seam
// (core/platform.hpp): a call, header, flag or path of Linux only may appear
// in core/platform_linux.cpp and nowhere else in the product, and likewise
// for macOS in core/platform_macos.cpp. Comments may mention them; code and
// string literals may not.

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/source_text.hpp"

namespace pb {
namespace {

namespace fs = std::filesystem;

/// `code` with comments blanked (newlines kept, so line numbers hold);
/// string, character and raw string literals are kept as they are.
std::string without_comments(const std::string& code) {
  return test::blanked(code, test::Blank::comments);
}

struct Finding {
  std::size_t line;
  std::string what;
};

/// Calls, headers, flags and paths of one platform only.
const std::regex& linux_only() {
  static const std::regex re(
      R"(#\s*include\s*<(keyutils\.h|linux/[^>]*|gnu/[^>]*|features\.h|mntent\.h|)"
      R"(sys/(prctl|epoll|inotify|signalfd|eventfd|timerfd|sendfile|sysinfo|sysmacros|vfs|fsuid|personality|capability|auxv)\.h)>)"
      R"(|\b(prctl|PR_SET_\w+|keyctl\w*|add_key|request_key|KEY_SPEC_\w+|KEY_POS_\w+|key_serial_t|O_PATH|O_TMPFILE|)"
      R"(O_NOATIME|O_DIRECT|MSG_NOSIGNAL|MSG_MORE|SOCK_CLOEXEC|SOCK_NONBLOCK|accept4|pipe2|dup3|epoll_\w+|inotify_\w+|)"
      R"(memfd_create|getrandom|renameat2|statx|SO_PEERCRED|signalfd|eventfd|timerfd_\w+|sendfile|fallocate|syncfs|)"
      R"(secure_getenv|explicit_bzero|strchrnul|execvpe|program_invocation_\w+|get_nprocs\w*|sched_getaffinity|)"
      R"(CLOCK_BOOTTIME|pidfd_\w+|close_range|TEMP_FAILURE_RETRY|MADV_DONTDUMP|MADV_WIPEONFORK|MAP_POPULATE|gettid|)"
      R"(getauxval|__linux__|__gnu_linux__|__GLIBC__)\b)"
      R"(|"/proc/|"/sys/)");
  return re;
}

const std::regex& macos_only() {
  static const std::regex re(
      R"(#\s*include\s*<(Security/[^>]*|CoreFoundation/[^>]*|mach/[^>]*|mach-o/[^>]*|libproc\.h|TargetConditionals\.h)>)"
      R"(|\b(PT_DENY_ATTACH|F_FULLFSYNC|F_BARRIERFSYNC|SecItem\w+|SecKeychain\w+|kSec\w+|CF[A-Z]\w+|_NSGetEnviron|)"
      R"(__APPLE__|__MACH__|TARGET_OS_\w+)\b)");
  return re;
}

std::vector<Finding> find(const std::string& code, const std::regex& re) {
  const std::string stripped = without_comments(code);
  std::vector<Finding> found;
  for (auto it = std::sregex_iterator(stripped.begin(), stripped.end(), re); it != std::sregex_iterator(); ++it) {
    const auto at = static_cast<std::size_t>(it->position());
    const std::size_t line = 1 + static_cast<std::size_t>(std::count(stripped.begin(), stripped.begin() + at, '\n'));
    found.push_back({line, it->str()});
  }
  return found;
}

std::string read(const fs::path& p) {
  return test::read_source(p);
}

TEST(PlatformSeam, TheScannerSeesCodeAndStringsButNotComments) {
  EXPECT_EQ(find("  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);\n", linux_only()).size(), 2u);
  EXPECT_EQ(find("#include <sys/prctl.h>\n#include <keyutils.h>\n#include <linux/fs.h>\n", linux_only()).size(), 3u);
  EXPECT_EQ(find("std::ifstream keys(\"/proc/keys\");", linux_only()).size(), 1u);
  EXPECT_EQ(find("int fd = open(p, O_PATH | O_CLOEXEC);\nsend(s, b, n, MSG_NOSIGNAL);", linux_only()).size(), 2u);
  const auto at = find("int a;\n\n// prctl here is prose\n/* and /proc/ too */ int b = O_PATH;", linux_only());
  ASSERT_EQ(at.size(), 1u);
  EXPECT_EQ(at[0].line, 4u);
  EXPECT_EQ(at[0].what, "O_PATH");
  // Longer names, members and prose inside literals' neighbours are not calls.
  EXPECT_TRUE(find("int O_PATHS = 1; x.prctl_like(); \"a // b\"; int c;", linux_only()).empty());
  EXPECT_EQ(find("auto s = \"http://x\"; int fd = accept4(a, b, c, 0);", linux_only()).size(), 1u);
  EXPECT_TRUE(find("auto s = R\"X(// not a comment)X\"; int ok;", linux_only()).empty());
  EXPECT_EQ(find("auto s = R\"X(\"/proc/self)X\";", linux_only()).size(), 1u);
  EXPECT_EQ(find("#include <Security/Security.h>\nSecItemAdd(q, nullptr);\n#ifdef __APPLE__", macos_only()).size(), 3u);
  EXPECT_TRUE(find("std::uint64_t k = 0x1000'0000; int fd = ::open(\"/dev/null\", O_RDONLY);", linux_only()).empty());
}

TEST(PlatformSeam, CallsOfOnePlatformStayInItsFileOfTheSeam) {
  const fs::path root = PB_SOURCE_DIR;
  const fs::path linux_file = root / "core" / "platform_linux.cpp";
  const fs::path macos_file = root / "core" / "platform_macos.cpp";
  ASSERT_TRUE(fs::exists(linux_file));
  ASSERT_TRUE(fs::exists(macos_file));
  // The scanner recognises what the seam holds, so a miss below is not a blind spot.
  EXPECT_FALSE(find(read(linux_file), linux_only()).empty());
  EXPECT_FALSE(find(read(macos_file), macos_only()).empty());

  std::vector<std::string> problems;
  std::size_t scanned = 0;
  for (const char* dir : {"core", "vault", "probes", "broker"}) {
    for (const auto& e : fs::recursive_directory_iterator(root / dir)) {
      if (!e.is_regular_file()) continue;
      const fs::path& p = e.path();
      const auto ext = p.extension();
      if (ext != ".cpp" && ext != ".hpp" && ext != ".h" && ext != ".cc" && ext != ".in") continue;
      if (p.filename().string().ends_with(".sh.in")) continue;
      const std::string code = read(p);
      ++scanned;
      const std::string rel = fs::relative(p, root).string();
      if (p != linux_file)
        for (const auto& f : find(code, linux_only()))
          problems.push_back(rel + ":" + std::to_string(f.line) + ": " + f.what + " (Linux only)");
      if (p != macos_file)
        for (const auto& f : find(code, macos_only()))
          problems.push_back(rel + ":" + std::to_string(f.line) + ": " + f.what + " (macOS only)");
    }
  }
  EXPECT_GT(scanned, 50u);
  std::string all;
  for (const auto& p : problems) all += "  " + p + "\n";
  EXPECT_TRUE(problems.empty()) << "platform-specific code outside core/platform_<os>.cpp (put it behind "
                                   "core/platform.hpp):\n"
                                << all;
}

}  // namespace
}  // namespace pb
