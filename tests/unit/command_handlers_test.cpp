// Every command registers named parts (its options, `declare` and a
// `run_<command>` handler) through `handle<>`, never a lambda written inside
// its `*_spec()`: a reader finds what `para-broker X` does under `run_X`.

#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "tests/support/source_text.hpp"

namespace pb {
namespace {

namespace fs = std::filesystem;

struct Spec {
  std::string name;
  bool named_handler = false;
  bool lambda = false;
};

/// The `CommandSpec x_spec() { ... }` definitions of one file, with comments
/// and literals blanked, so a `[` left in a body is a lambda (or a subscript,
/// which a spec has no use for).
std::vector<Spec> specs_of(const std::string& source) {
  const std::string code = test::blanked(source, test::Blank::code_only);
  std::vector<Spec> out;
  static const std::regex head(R"(CommandSpec (\w+)_spec\(\) \{)");
  for (auto it = std::sregex_iterator(code.begin(), code.end(), head); it != std::sregex_iterator(); ++it) {
    const std::size_t open = static_cast<std::size_t>(it->position(0) + it->length(0)) - 1;
    int depth = 0;
    std::size_t end = open;
    for (std::size_t i = open; i < code.size(); ++i) {
      if (code[i] == '{') ++depth;
      if (code[i] == '}' && --depth == 0) {
        end = i;
        break;
      }
    }
    const std::string body = code.substr(open, end - open);
    out.push_back({(*it)[1].str(), body.find("&handle<") != std::string::npos, body.find('[') != std::string::npos});
  }
  return out;
}

TEST(CommandHandlers, TheCheckerFindsALambdaAndANamedHandler) {
  const auto planted = specs_of(
      "CommandSpec a_spec() {\n  return {\"a\", \"s\", \"e\", [](CLI::App&) -> Handler { return {}; }};\n}\n"
      "CommandSpec b_spec() {\n  return {\"b\", \"[x]\", \"e\", &handle<Options, declare, run_b>};\n}\n");
  ASSERT_EQ(planted.size(), 2u);
  EXPECT_EQ(planted[0].name, "a");
  EXPECT_TRUE(planted[0].lambda);
  EXPECT_FALSE(planted[0].named_handler);
  EXPECT_EQ(planted[1].name, "b");
  EXPECT_FALSE(planted[1].lambda);  // the bracket is inside a literal
  EXPECT_TRUE(planted[1].named_handler);
}

TEST(CommandHandlers, EveryCommandRegistersNamedPartsAndNoLambda) {
  const fs::path root = PB_SOURCE_DIR;
  std::size_t specs = 0;
  for (const std::string& rel : test::product_sources(root, {"broker/commands"})) {
    for (const Spec& s : specs_of(test::read_source(root / rel))) {
      ++specs;
      EXPECT_TRUE(s.named_handler) << rel << ": " << s.name << "_spec() does not register handle<Options, declare, run_"
                                   << s.name << ">";
      EXPECT_FALSE(s.lambda) << rel << ": " << s.name << "_spec() writes a lambda; name it run_" << s.name;
    }
  }
  EXPECT_GE(specs, 15u) << "the checker found fewer commands than para-broker has";
}

}  // namespace
}  // namespace pb
