// No function of the product is longer than 80 lines: a function that does
// one thing fits on a screen, and what it calls has a name that says what it
// does.
//
// Functions are found by their braces in the code with comments and literals
// blanked: a '{' outside any function whose text since the last ';', '{' or
// '}' holds a ')' and is not a namespace, class, struct, union or enum opens
// one, and everything to its matching '}' counts (lambdas inside included).

#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/source_text.hpp"

namespace pb {
namespace {

namespace fs = std::filesystem;

constexpr int k_max_lines = 80;

/// `code` with comments, string and character literals and preprocessor
/// lines blanked; newlines are kept, so line numbers hold.
std::string code_only(const std::string& code) {
  return test::blanked(code, test::Blank::code_only);
}

struct Function {
  std::string name;
  int line = 0;
  int lines = 0;
};

/// The name of the function whose head (text before its '{') is `head`.
std::string name_of(const std::string& head) {
  const std::size_t paren = head.find('(');
  std::string before = head.substr(0, paren);
  while (!before.empty() && std::isspace(static_cast<unsigned char>(before.back()))) before.pop_back();
  std::size_t start = before.size();
  while (start > 0) {
    const char c = before[start - 1];
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':' || c == '~')) break;
    --start;
  }
  return before.substr(start);
}

std::vector<Function> functions_of(const std::string& source) {
  static const std::regex scope_re(R"(\b(namespace|class|struct|union|enum)\b[^()]*$)");
  const std::string code = code_only(source);
  struct Open {
    bool function;
    bool scope;
    int line;
    std::string name;
  };
  std::vector<Open> stack;
  std::vector<Function> out;
  int line = 1;
  std::size_t head_from = 0;
  auto in_function = [&] {
    for (const auto& o : stack)
      if (o.function) return true;
    return false;
  };
  for (std::size_t i = 0; i < code.size(); ++i) {
    const char c = code[i];
    if (c == '\n') {
      ++line;
    } else if (c == ';') {
      head_from = i + 1;
    } else if (c == '{') {
      const std::string head = code.substr(head_from, i - head_from);
      head_from = i + 1;
      if (in_function()) {
        stack.push_back({false, false, line, {}});
      } else if (std::regex_search(head, scope_re) || head.find("extern") != std::string::npos) {
        stack.push_back({false, true, line, {}});
      } else if (head.find(')') != std::string::npos) {
        stack.push_back({true, false, line, name_of(head)});
      } else {
        stack.push_back({false, false, line, {}});
      }
    } else if (c == '}') {
      head_from = i + 1;
      if (stack.empty()) continue;
      const Open o = stack.back();
      stack.pop_back();
      if (o.function) out.push_back({o.name, o.line, line - o.line + 1});
    }
  }
  return out;
}

TEST(FunctionLength, TheScannerFindsFunctionsMethodsAndTheirLength) {
  const std::string code =
      "#define PB_X(a) do { a; } while (0)\n"      // 1: preprocessor, not counted
      "namespace pb {\n"                           // 2
      "struct S {\n"                               // 3
      "  int f() const { return 1; }\n"            // 4: one line
      "};\n"                                       // 5
      "int S::g(int a,\n"                          // 6
      "         int b) {\n"                        // 7: opens
      "  auto l = [&] { return \"}\"; };  // }\n"  // 8
      "  if (a) { /* { */ return b; }\n"           // 9
      "  return 0;\n"                              // 10
      "}\n"                                        // 11
      "const int k[] = {1, 2};\n"                  // 12: not a function
      "}  // namespace pb\n";
  const auto found = functions_of(code);
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].name, "f");
  EXPECT_EQ(found[0].lines, 1);
  EXPECT_EQ(found[1].name, "S::g");
  EXPECT_EQ(found[1].line, 7);
  EXPECT_EQ(found[1].lines, 5);
}

TEST(FunctionLength, NoFunctionOfTheProductIsOver80Lines) {
  const fs::path root = PB_SOURCE_DIR;
  std::vector<std::string> problems;
  std::size_t scanned = 0;
  for (const std::string& rel : test::product_sources(root, {"core", "vault", "probes", "broker", "relay"})) {
    for (const auto& f : functions_of(test::read_source(root / rel))) {
      ++scanned;
      if (f.lines > k_max_lines)
        problems.push_back(rel + ":" + std::to_string(f.line) + ": " + f.name + " is " + std::to_string(f.lines) +
                           " lines long (at most " + std::to_string(k_max_lines) + ")");
    }
  }
  EXPECT_GT(scanned, 500u);
  std::ostringstream all;
  for (const auto& p : problems) all << p << "\n";
  EXPECT_TRUE(problems.empty()) << all.str();
}

}  // namespace
}  // namespace pb
