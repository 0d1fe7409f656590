// Dependencies point one way. Every #include "…" of a product file names a
// folder; a folder may include itself and the folders below it only:
//
//   core <- vault <- probes <- broker/docker <- broker/objects <- broker/probe
//        <- broker/dispatch, broker/capture (side by side, neither uses the other)
//        <- broker/audit <- broker/commands <- broker/main.cpp
//
// relay/ stands alone: it links nothing of para-broker (relay/CMakeLists.txt),
// so it may include headers of core/ and vault/ for their inline parts only.
// A folder's <name>_internal.hpp (what its files share, e.g.
// broker/dispatch/dispatch_internal.hpp) is included from that folder alone.
// broker/CMakeLists.txt links each folder's library with the same order (a
// call that reaches up does not link); this test catches the include, and
// that every folder of broker/ has its place here and a row in README.md.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/source_text.hpp"

namespace pb {
namespace {

namespace fs = std::filesystem;

/// The folders, each with the folders it may include (besides itself).
const std::map<std::string, std::set<std::string>>& allowed() {
  static const std::map<std::string, std::set<std::string>> rules = [] {
    std::map<std::string, std::set<std::string>> r;
    const std::vector<std::string> chain = {"core",          "vault",          "probes",
                                            "broker/docker", "broker/objects", "broker/probe"};
    std::set<std::string> below;
    for (const auto& f : chain) {
      r[f] = below;
      below.insert(f);
    }
    r["broker/dispatch"] = below;
    r["broker/capture"] = below;
    below.insert("broker/dispatch");
    below.insert("broker/capture");
    r["broker/audit"] = below;
    below.insert("broker/audit");
    r["broker/commands"] = below;
    below.insert("broker/commands");
    r["broker"] = below;  // broker/main.cpp, the program
    return r;
  }();
  return rules;
}

/// The folder a path relative to the root belongs to: "broker/<dir>" for
/// files in a folder of broker/, else its first component.
std::string folder_of(const std::string& relative) {
  const auto slash = relative.find('/');
  if (slash == std::string::npos) return "";
  const std::string top = relative.substr(0, slash);
  if (top != "broker") return top;
  const auto second = relative.find('/', slash + 1);
  return second == std::string::npos ? "broker" : relative.substr(0, second);
}

/// Every include of the product under `root` that reaches where it may not:
/// "file:line: includes X".
std::vector<std::string> violations(const fs::path& root) {
  static const std::regex include_re(R"re(^\s*#\s*include\s*"([^"]+)")re");
  std::vector<std::string> out;
  for (const std::string& rel : test::product_sources(root, {"core", "vault", "probes", "broker", "relay"})) {
    const std::string from = folder_of(rel);
    std::istringstream lines(test::read_source(root / rel));
    std::string line;
    for (int n = 1; std::getline(lines, line); ++n) {
      std::smatch m;
      if (!std::regex_search(line, m, include_re)) continue;
      const std::string target = m[1];
      const std::string to = folder_of(target);
      const std::string where = rel + ":" + std::to_string(n) + ": includes " + target;
      if (from == "relay") {
        const bool header = (to == "core" || to == "vault") && fs::path(target).extension() == ".hpp";
        if (to != "relay" && !header) out.push_back(where + " (relay/ links nothing of para-broker)");
        continue;
      }
      auto rule = allowed().find(from);
      if (rule == allowed().end()) {
        out.push_back(where + " (folder " + from + " has no place in the layering)");
        continue;
      }
      if (to == from) continue;
      if (target.ends_with("_internal.hpp")) {
        out.push_back(where + " (a folder's internal header, for that folder and its tests only)");
        continue;
      }
      if (rule->second.count(to)) continue;
      out.push_back(where + (allowed().count(to) ? " (a folder above or beside it)" : " (an unknown folder)"));
    }
  }
  return out;
}

class Layering : public ::testing::Test {
 protected:
  void SetUp() override {
    m_root = fs::temp_directory_path() / ("pb-layering-" + std::to_string(::getpid()) + "-" +
                                          ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(m_root);
  }
  void TearDown() override { fs::remove_all(m_root); }
  void write(const std::string& rel, const std::string& text) {
    fs::create_directories((m_root / rel).parent_path());
    std::ofstream(m_root / rel) << text;
  }
  fs::path m_root;
};

TEST_F(Layering, AnIncludeThatReachesUpOrSidewaysIsFound) {
  write("core/error.hpp", "#pragma once\n");
  write("vault/vault.cpp", "#include \"core/error.hpp\"\n#include \"vault/vault.hpp\"\n");
  write("broker/docker/client.cpp", "#include \"vault/vault.hpp\"\n  #  include \"broker/objects/labels.hpp\"\n");
  write("broker/dispatch/mount.cpp", "#include \"broker/capture/sources.hpp\"\n#include \"broker/probe/p.hpp\"\n");
  write("broker/audit/report.cpp",
        "#include \"broker/commands/view.hpp\"\n#include \"broker/dispatch/dispatch_internal.hpp\"\n");
  write("broker/newfolder/x.cpp", "#include \"core/error.hpp\"\n");
  write("relay/main.cpp", "#include \"core/error.hpp\"\n#include \"broker/docker/c.hpp\"\n#include <vector>\n");
  write("vault/vault.hpp", "#pragma once\n");
  const auto found = violations(m_root);
  std::ostringstream all;
  for (const auto& v : found) all << v << "\n";
  ASSERT_EQ(found.size(), 6u) << all.str();
  const std::string text = all.str();
  EXPECT_NE(text.find("broker/docker/client.cpp:2: includes broker/objects/labels.hpp"), std::string::npos);
  EXPECT_NE(text.find("broker/dispatch/mount.cpp:1: includes broker/capture/sources.hpp"), std::string::npos);
  EXPECT_NE(text.find("broker/audit/report.cpp:1: includes broker/commands/view.hpp"), std::string::npos);
  EXPECT_NE(text.find("broker/audit/report.cpp:2: includes broker/dispatch/dispatch_internal.hpp (a folder's "
                      "internal header"),
            std::string::npos);
  EXPECT_NE(text.find("broker/newfolder/x.cpp:1: includes core/error.hpp (folder broker/newfolder has no place"),
            std::string::npos);
  EXPECT_NE(text.find("relay/main.cpp:2: includes broker/docker/c.hpp (relay/ links nothing"), std::string::npos);
}

TEST_F(Layering, EveryIncludeOfTheProductPointsDown) {
  const fs::path root = PB_SOURCE_DIR;
  ASSERT_TRUE(fs::exists(root / "broker" / "dispatch" / "dispatch.hpp"));
  const auto found = violations(root);
  std::ostringstream all;
  for (const auto& v : found) all << v << "\n";
  EXPECT_TRUE(found.empty()) << all.str();
}

TEST_F(Layering, EveryFolderOfBrokerHasItsPlaceAndARowInTheReadme) {
  const fs::path root = PB_SOURCE_DIR;
  const std::string readme = test::read_source(root / "README.md");
  std::size_t folders = 0;
  for (const auto& e : fs::directory_iterator(root / "broker")) {
    if (!e.is_directory()) continue;
    ++folders;
    const std::string name = "broker/" + e.path().filename().string();
    EXPECT_TRUE(allowed().count(name)) << name << " has no place in the layering (tests/unit/layering_test.cpp)";
    EXPECT_NE(readme.find("| `" + name + "/` |"), std::string::npos) << name << " has no row in README.md's layout";
  }
  EXPECT_GE(folders, 7u);
}

}  // namespace
}  // namespace pb
