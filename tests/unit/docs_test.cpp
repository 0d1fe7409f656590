// Docs that drift fail here: every `para-broker …` command line in a fenced
// ```sh block of the docs (and in the example scripts) must parse against the
// real command table (the command and every option exist, required arguments
// are there); every command has a --help example that parses and a place in
// the user guide; relative links point at files that exist; the man page and
// the completions generated from the table cover every command.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <unistd.h>

#include "broker/commands/command.hpp"
#include "broker/commands/reference.hpp"
#include "tests/support/test_env.hpp"

namespace fs = std::filesystem;
using pb::broker::command_table;
using pb::broker::commands::check_command_line;
using pb::test::run_process;
using pb::test::source_path;
using ::testing::HasSubstr;

namespace {

struct CommandLine {
  std::string where;              ///< "docs/guide.md:12"
  std::string text;               ///< the line as written
  std::vector<std::string> args;  ///< words after `para-broker`
};

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

/// The shell words from `s[pos]` to the end of the simple command: quotes are
/// removed, expansions kept as written ("$IMAGE" is one word), and an array
/// expansion ("${a[@]}", zero or more words) is left out.
std::vector<std::string> words_from(const std::string& s, std::size_t pos) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  auto flush = [&] {
    if (in_word && !std::regex_match(cur, std::regex(R"(\$\{[A-Za-z_][A-Za-z0-9_]*\[@\]\})"))) words.push_back(cur);
    cur.clear();
    in_word = false;
  };
  for (std::size_t i = pos; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\'' || c == '"') {
      std::size_t end = s.find(c, i + 1);
      if (end == std::string::npos) end = s.size();
      cur += s.substr(i + 1, end - i - 1);
      in_word = true;
      i = end;
    } else if (c == '$' && i + 1 < s.size() && s[i + 1] == '(') {
      int depth = 0;  // a nested $(…) is one opaque word
      std::size_t j = i;
      for (; j < s.size(); ++j) {
        if (s[j] == '(') ++depth;
        if (s[j] == ')' && --depth == 0) break;
      }
      cur += s.substr(i, j - i + 1);
      in_word = true;
      i = j;
    } else if (c == ' ' || c == '\t') {
      flush();
    } else if (c == ')' || c == ';' || c == '|' || c == '&' || c == '>' || c == '<' || c == '`' ||
               (c == '#' && !in_word)) {
      break;
    } else if (std::isdigit(static_cast<unsigned char>(c)) != 0 && !in_word && i + 1 < s.size() && s[i + 1] == '>') {
      break;  // 2>&1, 2>/dev/null
    } else {
      cur += c;
      in_word = true;
    }
  }
  flush();
  return words;
}

/// Every place in `line` where `para-broker` is run as a command (at the start,
/// after `$(`, `(`, `;`, `&&`, `||`, `|`, `!`, `then`, `do`, `if`, `time`), with its words.
std::vector<std::vector<std::string>> invocations(const std::string& line) {
  std::vector<std::vector<std::string>> out;
  static const std::regex k_word(R"((^|[^A-Za-z0-9_./-])para-broker(?=\s|$))");
  for (auto it = std::sregex_iterator(line.begin(), line.end(), k_word); it != std::sregex_iterator(); ++it) {
    std::size_t start = static_cast<std::size_t>(it->position(0)) + it->length(1);
    std::string before = line.substr(0, start);
    while (!before.empty() && (before.back() == ' ' || before.back() == '\t')) before.pop_back();
    static const std::regex k_command_position(R"((^|\$\(|\(|;|&&|\|\||\||!|\bthen|\bdo|\bif|\btime)$)");
    if (!std::regex_search(before, k_command_position)) continue;
    out.push_back(words_from(line, start + std::string("para-broker").size()));
  }
  return out;
}

/// Lines of ```sh blocks (continuations joined), with their line numbers.
std::vector<std::pair<int, std::string>> sh_block_lines(const std::string& text) {
  std::vector<std::pair<int, std::string>> out;
  bool in_sh = false, in_other = false;
  int n = 0, start = 0;
  std::string pending;
  for (const auto& raw : lines_of(text)) {
    ++n;
    std::string line = raw;
    std::size_t first = line.find_first_not_of(" \t");
    std::string trimmed = first == std::string::npos ? "" : line.substr(first);
    if (trimmed.starts_with("```")) {
      if (in_sh || in_other) {
        in_sh = in_other = false;
      } else {
        std::string info = trimmed.substr(3);
        in_sh = info == "sh" || info == "bash" || info == "shell" || info == "console";
        in_other = !in_sh;
      }
      continue;
    }
    if (!in_sh) continue;
    if (pending.empty()) start = n;
    if (!trimmed.empty() && trimmed.back() == '\\') {
      pending += trimmed.substr(0, trimmed.size() - 1) + " ";
      continue;
    }
    out.emplace_back(start, pending + trimmed);
    pending.clear();
  }
  return out;
}

std::vector<fs::path> doc_files() {
  std::vector<fs::path> files{source_path("README.md")};
  for (const auto& e : fs::recursive_directory_iterator(source_path("docs")))
    if (e.is_regular_file() && e.path().extension() == ".md") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<fs::path> example_scripts() {
  std::vector<fs::path> files;
  fs::path dir = source_path("docs/examples");
  if (fs::exists(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && e.path().extension() == ".sh") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::string rel_path(const fs::path& p) {
  return fs::relative(p, source_path("")).string();
}

std::vector<CommandLine> documented_commands() {
  std::vector<CommandLine> out;
  for (const auto& f : doc_files())
    for (const auto& [n, line] : sh_block_lines(read_text(f)))
      for (auto& args : invocations(line)) out.push_back({rel_path(f) + ":" + std::to_string(n), line, args});
  for (const auto& f : example_scripts()) {
    int n = 0;
    for (const auto& line : lines_of(read_text(f))) {
      ++n;
      std::size_t first = line.find_first_not_of(" \t");
      if (first == std::string::npos || line[first] == '#') continue;
      for (auto& args : invocations(line)) out.push_back({rel_path(f) + ":" + std::to_string(n), line, args});
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& w : v) s += (s.empty() ? "" : " ") + w;
  return s;
}

// ------------------------------------------------------------ the extractor itself

TEST(DocsExtractor, FindsCommandsWhereTheShellRunsThem) {
  auto a = invocations("scripts/setup && para-broker doctor   # comment");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(join(a[0]), "doctor");
  auto b = invocations(R"(docker run --rm $(para-broker mount --image "a b" --session s1) img claude -p hi)");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0], (std::vector<std::string>{"mount", "--image", "a b", "--session", "s1"}));
  auto c = invocations(R"(  if ! line=$(para-broker mount --image "$image" "${credential[@]}" --format args); then)");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0], (std::vector<std::string>{"mount", "--image", "$image", "--format", "args"}));
  EXPECT_TRUE(invocations("printf 'run: para-broker release --session %s'").empty());
  EXPECT_TRUE(invocations("install para-broker-1.0.tar.gz").empty());
  auto d = invocations("para-broker list 2>/dev/null | head");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(join(d[0]), "list");
}

TEST(DocsExtractor, CheckRejectsMissingCommandsAndOptions) {
  EXPECT_TRUE(check_command_line({"list", "--json"}).ok());
  EXPECT_TRUE(check_command_line({"probe", "--help"}).ok());
  EXPECT_FALSE(check_command_line({"no-such-command"}).ok());
  EXPECT_FALSE(check_command_line({"list", "--no-such-option"}).ok());
  EXPECT_FALSE(check_command_line({"probe"}).ok());  // IMAGE is required
  EXPECT_FALSE(check_command_line({}).ok());
}

// ------------------------------------------------------------ the docs

TEST(Docs, EveryDocumentedCommandLineParses) {
  auto commands = documented_commands();
  ASSERT_GT(commands.size(), 20u) << "the docs lost their examples";
  for (const auto& c : commands) {
    auto st = check_command_line(c.args);
    EXPECT_TRUE(st.ok()) << c.where << ": `" << c.text << "` does not parse: " << (st.ok() ? "" : st.error().message);
  }
}

TEST(Docs, TheGuideShowsEveryCommand) {
  std::set<std::string> shown;
  for (const auto& [n, line] : sh_block_lines(read_text(source_path("docs/guide.md"))))
    for (const auto& args : invocations(line))
      if (!args.empty()) shown.insert(args[0]);
  for (const auto& spec : command_table())
    EXPECT_TRUE(shown.count(std::string(spec.name))) << "docs/guide.md has no ```sh example of '" << spec.name << "'";
}

TEST(Docs, EveryCommandHasAnExampleThatParses) {
  for (const auto& spec : command_table()) {
    const std::string example(spec.example);
    ASSERT_FALSE(example.empty()) << "command '" << spec.name << "' has no example for --help";
    auto found = invocations(example);
    ASSERT_EQ(found.size(), 1u) << "example of '" << spec.name << "' is not one para-broker command: " << example;
    ASSERT_FALSE(found[0].empty());
    EXPECT_EQ(found[0][0], spec.name) << "example of '" << spec.name << "' runs another command: " << example;
    auto st = check_command_line(found[0]);
    EXPECT_TRUE(st.ok()) << "example of '" << spec.name << "' does not parse: " << example << ": "
                         << (st.ok() ? "" : st.error().message);
  }
}

TEST(Docs, HelpOfEveryCommandShowsItsExample) {
  for (const auto& spec : command_table()) {
    auto r = run_process({PB_BINARY, std::string(spec.name), "--help"});
    EXPECT_EQ(r.exit_code, 0) << spec.name << ": " << r.err;
    EXPECT_THAT(r.out, HasSubstr("Example:\n  " + std::string(spec.example))) << spec.name;
  }
}

TEST(Docs, RelativeLinksPointAtFiles) {
  static const std::regex k_link(R"(\]\(([^)#:\s]+)(#[^)]*)?\))");
  for (const auto& f : doc_files()) {
    std::string text = read_text(f);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), k_link); it != std::sregex_iterator(); ++it) {
      fs::path target = f.parent_path() / (*it)[1].str();
      EXPECT_TRUE(fs::exists(target)) << rel_path(f) << " links to " << (*it)[1].str() << ", which does not exist";
    }
  }
}

TEST(Docs, TheDocumentsTheIssueAsksForExist) {
  for (const char* p : {"docs/guide.md", "docs/para-integration.md", "docs/claude-code-locations.md",
                        "docs/threat-model.md", "docs/dispatch.md", "docs/examples/para-dispatch-wrapper.sh"})
    EXPECT_TRUE(fs::exists(source_path(p))) << p;
}

TEST(Docs, ExampleScriptsAreValidShell) {
  for (const auto& f : example_scripts()) {
    auto r = run_process({"bash", "-n", f.string()});
    EXPECT_EQ(r.exit_code, 0) << rel_path(f) << ": " << r.err;
    EXPECT_TRUE(fs::status(f).permissions() != fs::perms::none &&
                (fs::status(f).permissions() & fs::perms::owner_exec) != fs::perms::none)
        << rel_path(f) << " is not executable";
  }
}

TEST(Docs, WrapperRefusesBadUsage) {
  auto r = run_process({source_path("docs/examples/para-dispatch-wrapper.sh").string(), "bogus"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("usage:"));
}

/// The wrapper against stand-ins for para-broker and docker on PATH that log
/// their arguments and fail on request (STUB_<COMMAND>_RC).
class WrapperStub {
 public:
  WrapperStub() : m_dir(fs::temp_directory_path() / ("pb-wrapper-" + std::to_string(::getpid()))) {
    fs::create_directories(m_dir);
    write_script("para-broker", R"(
case $1 in
mount) [ "${STUB_MOUNT_RC:-0}" = 0 ] || { echo "para-broker: stand-in failure" >&2; exit "$STUB_MOUNT_RC"; }
       echo "--mount type=volume,src=para-broker-v,dst=/home/para/.x --env CLAUDE_CONFIG_DIR=/home/para/.x/claude" ;;
release) exit "${STUB_RELEASE_RC:-0}" ;;
esac)");
    write_script("docker", R"(
case $1 in
create) exit "${STUB_CREATE_RC:-0}" ;;
start) exit "${STUB_START_RC:-0}" ;;
esac)");
  }
  ~WrapperStub() {
    std::error_code ec;
    fs::remove_all(m_dir, ec);
  }
  WrapperStub(const WrapperStub&) = delete;
  WrapperStub& operator=(const WrapperStub&) = delete;

  /// Runs the wrapper with `env` added; the stand-ins' calls are in log() afterwards.
  pb::test::CommandResult run(const std::vector<std::string>& args, std::map<std::string, std::string> env = {}) {
    fs::remove(m_dir / "log");
    env["PATH"] = m_dir.string() + ":" + std::string(std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin");
    env["STUB_LOG"] = (m_dir / "log").string();
    std::vector<std::string> argv{source_path("docs/examples/para-dispatch-wrapper.sh").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, env);
  }
  std::vector<std::string> log() const {
    std::vector<std::string> out;
    std::ifstream in(m_dir / "log");
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

 private:
  void write_script(const std::string& name, const std::string& body) {
    const fs::path p = m_dir / name;
    std::ofstream(p) << "#!/bin/sh\necho \"" << name << " $*\" >> \"$STUB_LOG\"" << body << "\n";
    fs::permissions(p, fs::perms::owner_all);
  }
  fs::path m_dir;
};

TEST(Docs, WrapperExitsWithParaBrokersCodeWhenMountFails) {
  WrapperStub stub;
  for (int code : {1, 3, 4, 5, 6, 7}) {
    auto r = stub.run({"start", "s1", "img", "/tmp"}, {{"STUB_MOUNT_RC", std::to_string(code)}});
    EXPECT_EQ(r.exit_code, code) << r.err;
    EXPECT_THAT(r.err, HasSubstr("stand-in failure"));
    EXPECT_EQ(r.out, "") << "no container name for a dispatch that did not start";
    const auto log = stub.log();
    EXPECT_TRUE(std::none_of(log.begin(), log.end(), [](const std::string& l) { return l.starts_with("docker"); }))
        << "no container without a mount";
  }
}

TEST(Docs, WrapperExitsWithDockersCodeWhenTheContainerCannotStart) {
  WrapperStub stub;
  for (const char* step : {"STUB_CREATE_RC", "STUB_START_RC"}) {
    auto r = stub.run({"start", "s1", "img", "/tmp"}, {{step, "125"}});
    EXPECT_EQ(r.exit_code, 125) << step << ": " << r.err;
    EXPECT_THAT(stub.log(), ::testing::Contains("para-broker release --session s1 --no-sync")) << step;
  }
  auto ok = stub.run({"start", "s1", "img", "/tmp"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, "para-s1\n");
}

TEST(Docs, WrapperWritesBackOnEveryEndPathOnceTheContainerStarted) {
  WrapperStub stub;
  for (const char* how : {"finish", "cancel"}) {
    auto r = stub.run({how, "s1"});
    EXPECT_EQ(r.exit_code, 0) << how << ": " << r.err;
    const auto log = stub.log();
    // Claude may have refreshed during the session, cancelled or not: the rotated token must reach the vault.
    const auto release = std::find(log.begin(), log.end(), "para-broker release --session s1");
    EXPECT_NE(release, log.end()) << how;
    const auto rm =
        std::find_if(log.begin(), log.end(), [](const std::string& l) { return l.starts_with("docker rm"); });
    EXPECT_LT(rm, release) << how << ": the container goes first, so the release can remove the volume";
    auto failed = stub.run({how, "s1"}, {{"STUB_RELEASE_RC", "4"}});
    EXPECT_EQ(failed.exit_code, 4) << how;
    EXPECT_THAT(failed.err, HasSubstr("para-broker release --session s1"));
  }
}

// ------------------------------------------------------------ generated man page and completions

TEST(Generated, ManPageCoversEveryCommandAndRendersCleanly) {
  auto r = run_process({PB_BINARY, "manpage"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(".TH PARA\\-BROKER 1"));
  for (const auto& spec : command_table()) {
    std::string name;
    for (char c : spec.name) name += c == '-' ? std::string("\\-") : std::string(1, c);
    EXPECT_THAT(r.out, HasSubstr(".SS \"" + name)) << spec.name;
  }
  fs::path page = fs::temp_directory_path() / ("pb-manpage-" + std::to_string(::getpid()) + ".1");
  std::ofstream(page) << r.out;
  auto g = run_process({"groff", "-man", "-Tutf8", "-ww", "-z", page.string()});
  fs::remove(page);
  EXPECT_EQ(g.exit_code, 0) << g.err;
  EXPECT_EQ(g.err, "") << "groff warns about the generated man page";
}

std::string bash_complete(const std::string& script, const std::vector<std::string>& words) {
  std::string arr;
  for (const auto& w : words) arr += " '" + w + "'";
  std::string cmd = script + "\nCOMP_WORDS=(" + arr + ")\nCOMP_CWORD=" + std::to_string(words.size() - 1) +
                    "\n_para_broker\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n";
  auto r = run_process({"bash", "-c", cmd});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

TEST(Generated, BashCompletionCompletesCommandsAndOptions) {
  auto r = run_process({PB_BINARY, "completion", "bash"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("complete -F _para_broker para-broker"));
  EXPECT_EQ(bash_complete(r.out, {"para-broker", "pro"}), "probe\n");
  EXPECT_EQ(bash_complete(r.out, {"para-broker", "probe", "--re"}), "--research\n--refresh\n");
  EXPECT_EQ(bash_complete(r.out, {"para-broker", "vault", "in"}), "init\ninspect\n");
  EXPECT_EQ(bash_complete(r.out, {"para-broker", "vault", "init", "--pa"}), "--passphrase\n");
  std::string all = bash_complete(r.out, {"para-broker", ""});
  for (const auto& spec : command_table()) EXPECT_THAT(all, HasSubstr(std::string(spec.name) + "\n")) << spec.name;
}

TEST(Generated, ZshCompletionNamesEveryCommandAndOption) {
  auto r = run_process({PB_BINARY, "completion", "zsh"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("#compdef para-broker\n"));
  for (const auto& c : pb::broker::commands::command_reference()) {
    EXPECT_THAT(r.out, HasSubstr("\n    '" + c.name + ":")) << c.name;
    for (const auto& o : c.options)
      for (const auto& n : o.names) EXPECT_THAT(r.out, HasSubstr("'" + n + "[")) << c.name << " " << n;
  }
  if (run_process({"sh", "-c", "command -v zsh"}).exit_code == 0) {
    auto z = run_process({"zsh", "-n", "-c", r.out});
    EXPECT_EQ(z.exit_code, 0) << z.err;
  }
  auto bad = run_process({PB_BINARY, "completion", "fish"});
  EXPECT_EQ(bad.exit_code, 2);
}

}  // namespace
