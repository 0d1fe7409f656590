#pragma once
// The product's source as the source-reading tests see it (platform seam,
// function length): comments blanked, and with `Blank::code_only` literals
// and preprocessor lines too. Newlines are kept, so line numbers hold.

#include <cctype>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

namespace pb::test {

enum class Blank { comments, code_only };

inline std::string blanked(const std::string& code, Blank what) {
  std::string out = code;
  const std::size_t n = code.size();
  const bool literals = what == Blank::code_only;
  auto blank = [&](std::size_t from, std::size_t to) {
    for (std::size_t k = from; k < to && k < n; ++k)
      if (out[k] != '\n') out[k] = ' ';
  };
  // Whether only blanks stand between the line's start and `at`.
  auto first_on_line = [&](std::size_t at) {
    while (at > 0 && (code[at - 1] == ' ' || code[at - 1] == '\t')) --at;
    return at == 0 || code[at - 1] == '\n';
  };
  std::size_t i = 0;
  while (i < n) {
    const char c = code[i];
    if (literals && c == '#' && first_on_line(i)) {
      std::size_t end = i;
      while (end < n && !(code[end] == '\n' && (end == 0 || code[end - 1] != '\\'))) ++end;
      blank(i, end);
      i = end;
    } else if (c == '/' && i + 1 < n && code[i + 1] == '/') {
      const std::size_t end = std::min(code.find('\n', i), n);
      blank(i, end);
      i = end;
    } else if (c == '/' && i + 1 < n && code[i + 1] == '*') {
      const std::size_t end = code.find("*/", i + 2);
      const std::size_t stop = end == std::string::npos ? n : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c == 'R' && i + 1 < n && code[i + 1] == '"' &&
               (i == 0 || !(std::isalnum(static_cast<unsigned char>(code[i - 1])) || code[i - 1] == '_'))) {
      const std::size_t open = code.find('(', i + 2);
      if (open == std::string::npos) break;
      const std::string close = ")" + code.substr(i + 2, open - i - 2) + "\"";
      const std::size_t end = code.find(close, open);
      const std::size_t stop = end == std::string::npos ? n : end + close.size();
      if (literals) blank(i, stop);
      i = stop;
    } else if (c == '"' || (c == '\'' && !(i > 0 && std::isxdigit(static_cast<unsigned char>(code[i - 1]))))) {
      // A literal (a ' between hex digits is a digit separator).
      std::size_t k = i + 1;
      while (k < n && code[k] != c && code[k] != '\n') k += code[k] == '\\' ? 2 : 1;
      if (literals) blank(i, k + 1);
      i = k + 1;
    } else {
      ++i;
    }
  }
  return out;
}

/// The whole of a file, as bytes.
inline std::string read_source(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The .cpp and .hpp files under `dirs` of `root`, as paths relative to it ("broker/dispatch/mount.cpp").
inline std::vector<std::string> product_sources(const std::filesystem::path& root,
                                                std::initializer_list<const char*> dirs) {
  std::vector<std::string> out;
  for (const char* dir : dirs) {
    if (!std::filesystem::exists(root / dir)) continue;
    for (const auto& e : std::filesystem::recursive_directory_iterator(root / dir)) {
      const auto ext = e.path().extension();
      if (e.is_regular_file() && (ext == ".cpp" || ext == ".hpp"))
        out.push_back(std::filesystem::relative(e.path(), root).generic_string());
    }
  }
  return out;
}

}  // namespace pb::test
