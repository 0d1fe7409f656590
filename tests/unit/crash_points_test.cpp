// Every crash point that a vault-only command reaches: the command is killed
// there (SIGKILL, PARA_BROKER_CRASH_AT=<point>:<pass>) at every pass, and the
// vault must still verify, hold the state before or after the command, and be
// whole again (no temp file, the log verifies) after the command is run once
// more. A point in core/fault.hpp that no step reaches fails the suite.

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

#include "core/fault.hpp"
#include "tests/unit/crash_support.hpp"

namespace fs = std::filesystem;

namespace pb::test::crash {
namespace {

constexpr long long k_early = 1790000000000;
constexpr long long k_late = 1890000000000;

/// Runs a set-up command that must succeed; a failure ends the step.
void must(const Sandbox& box, const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {},
          int expect = 0) {
  auto r = box.run(args, env);
  if (r.exit_code != expect) {
    std::string cmd;
    for (const auto& a : args) cmd += a + " ";
    throw std::runtime_error("set-up command '" + cmd + "' exited " + std::to_string(r.exit_code) + ": " + r.err);
  }
}

using Names = std::map<std::string, long long>;  // credential name -> expiry

/// The command under test, what it exits with when not killed, how to finish
/// it after a kill, and the states acceptable after the kill (before or after).
struct Command {
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  int exit_code = 0;
  std::vector<std::string> recover;
  std::set<int> recover_codes{0};
  std::vector<Names> crashed_states;  ///< empty: any state that verifies
  Names recovered_state;
  bool vault_may_be_absent = false;  ///< killed before the vault existed
  std::size_t failed_unlocks = 0;    ///< records of failed unlocks expected after recovery
  /// Kill only at points whose name starts with this (empty: every point). For
  /// a step that pays scrypt on every command and passes the same generic points
  /// (files.atomic.*, access_log.*) as a key-file step that is killed at all of them.
  std::string only_points;
};

struct Step {
  std::string name;
  std::function<Command(Sandbox&)> setup;
};

std::vector<Step> steps() {
  return {
      {"init_key_file",
       [](Sandbox&) {
         Command c;
         c.args = {"vault", "init"};
         c.recover = {"vault", "init"};
         c.recover_codes = {0, 1};
         c.crashed_states = {{}};
         c.vault_may_be_absent = true;
         return c;
       }},
      {"init_passphrase_cached",
       [](Sandbox&) {
         Command c;
         c.args = {"vault", "init", "--passphrase"};
         c.env = {{"PARA_BROKER_KEY_CACHE_TTL", "60"}};
         c.recover = {"vault", "init", "--passphrase"};
         c.recover_codes = {0, 1};
         c.crashed_states = {{}};
         c.vault_may_be_absent = true;
         return c;
       }},
      {"import_into_no_vault",
       [](Sandbox& box) {
         Command c;
         c.args = {"import", "--from-dir", box.login("alice@example.com", k_early).string(), "--name", "work"};
         c.recover = c.args;
         c.crashed_states = {{}, {{"work", k_early}}};
         c.recovered_state = {{"work", k_early}};
         c.vault_may_be_absent = true;
         return c;
       }},
      {"import_replaces",
       [](Sandbox& box) {
         must(box, {"import", "--from-dir", box.login("alice@example.com", k_early).string(), "--name", "work"});
         Command c;
         c.args = {"import", "--from-dir", box.login("alice@example.com", k_late).string()};
         c.recover = c.args;
         c.crashed_states = {{{"work", k_early}}, {{"work", k_late}}};
         c.recovered_state = {{"work", k_late}};
         return c;
       }},
      {"import_adds",
       [](Sandbox& box) {
         must(box, {"import", "--from-dir", box.login("alice@example.com", k_early).string(), "--name", "work"});
         Command c;
         c.args = {"import", "--from-dir", box.login("bob@example.com", k_late).string(), "--name", "other"};
         c.recover = c.args;
         c.crashed_states = {{{"work", k_early}}, {{"work", k_early}, {"other", k_late}}};
         c.recovered_state = {{"work", k_early}, {"other", k_late}};
         return c;
       }},
      {"import_keeps_newer",
       [](Sandbox& box) {
         must(box, {"import", "--from-dir", box.login("alice@example.com", k_late).string(), "--name", "work"});
         Command c;
         c.args = {"import", "--from-dir", box.login("alice@example.com", k_early).string()};
         c.recover = c.args;
         c.crashed_states = {{{"work", k_late}}};
         c.recovered_state = {{"work", k_late}};
         return c;
       }},
      {"rm",
       [](Sandbox& box) {
         must(box, {"import", "--from-dir", box.login("alice@example.com", k_early).string(), "--name", "work"});
         must(box, {"import", "--from-dir", box.login("bob@example.com", k_late).string(), "--name", "other"});
         Command c;
         c.args = {"rm", "--force", "work"};
         c.recover = c.args;
         c.recover_codes = {0, 3};
         c.crashed_states = {{{"work", k_early}, {"other", k_late}}, {{"other", k_late}}};
         c.recovered_state = {{"other", k_late}};
         return c;
       }},
      {"rekey_key_file",
       [](Sandbox& box) {
         must(box, {"import", "--from-dir", box.login("alice@example.com", k_early).string(), "--name", "work"});
         Command c;
         c.args = {"vault", "rekey"};
         c.recover = c.args;
         c.crashed_states = {{{"work", k_early}}};
         c.recovered_state = {{"work", k_early}};
         return c;
       }},
      {"rekey_to_passphrase",
       [](Sandbox& box) {
         must(box, {"import", "--from-dir", box.login("alice@example.com", k_early).string(), "--name", "work"});
         Command c;
         c.args = {"vault", "rekey", "--passphrase"};
         c.recover = c.args;
         c.crashed_states = {{{"work", k_early}}};
         c.recovered_state = {{"work", k_early}};
         return c;
       }},
      {"rekey_to_key_file",
       [](Sandbox& box) {
         must(box, {"vault", "init", "--passphrase"});
         must(box, {"import", "--from-dir", box.login("alice@example.com", k_early).string(), "--name", "work"});
         Command c;
         c.args = {"vault", "rekey", "--key-file"};
         c.recover = c.args;
         c.crashed_states = {{{"work", k_early}}};
         c.recovered_state = {{"work", k_early}};
         return c;
       }},
      {"failed_unlock",
       [](Sandbox& box) {
         must(box, {"import", "--from-dir", box.login("alice@example.com", k_early).string(), "--name", "work"});
         Command c;
         c.args = {"list"};
         c.env = box.wrong_key();
         c.exit_code = 4;
         c.recover = {"import", "--from-dir", box.login("alice@example.com", k_late).string()};
         c.crashed_states = {{{"work", k_early}}};
         c.recovered_state = {{"work", k_late}};
         c.failed_unlocks = 1;
         return c;
       }},
      {"failed_unlocks_join_the_chain",
       [](Sandbox& box) {
         must(box, {"import", "--from-dir", box.login("alice@example.com", k_early).string(), "--name", "work"});
         must(box, {"list"}, box.wrong_key(), 4);
         must(box, {"list"}, box.wrong_key(), 4);
         Command c;
         c.args = {"import", "--from-dir", box.login("alice@example.com", k_late).string()};
         c.recover = c.args;
         c.crashed_states = {{{"work", k_early}}, {{"work", k_late}}};
         c.recovered_state = {{"work", k_late}};
         c.failed_unlocks = 2;
         return c;
       }},
      {"append_after_one_killed_before_its_head",
       [](Sandbox& box) {
         must(box, {"import", "--from-dir", box.login("alice@example.com", k_early).string(), "--name", "work"});
         must(box, {"import", "--from-dir", box.login("bob@example.com", k_early).string(), "--name", "other"});
         must(box, {"rm", "--force", "other"}, {{"PARA_BROKER_CRASH_AT", "access_log.append.record_written"}}, 137);
         Command c;
         c.args = {"import", "--from-dir", box.login("alice@example.com", k_late).string()};
         c.recover = c.args;
         c.crashed_states = {{{"work", k_early}}, {{"work", k_late}}};
         c.recovered_state = {{"work", k_late}};
         return c;
       }},
      {"writer_drops_a_stale_new_key",
       [](Sandbox& box) {
         must(box, {"import", "--from-dir", box.login("alice@example.com", k_early).string(), "--name", "work"});
         must(box, {"vault", "rekey"}, {{"PARA_BROKER_CRASH_AT", "vault.rekey.new_key_written"}}, 137);
         Command c;
         c.args = {"import", "--from-dir", box.login("alice@example.com", k_late).string()};
         c.recover = c.args;
         c.crashed_states = {{{"work", k_early}}, {{"work", k_late}}};
         c.recovered_state = {{"work", k_late}};
         return c;
       }},
      {"unlock_finishes_rekey",
       [](Sandbox& box) {
         must(box, {"import", "--from-dir", box.login("alice@example.com", k_early).string(), "--name", "work"});
         must(box, {"vault", "rekey"}, {{"PARA_BROKER_CRASH_AT", "vault.rekey.header_written"}}, 137);
         Command c;
         c.args = {"list"};
         c.recover = {"import", "--from-dir", box.login("alice@example.com", k_late).string()};
         c.crashed_states = {{{"work", k_early}}};
         c.recovered_state = {{"work", k_late}};
         return c;
       }},
      // vault rotate: before the commit the old key opens the vault, after it the new one; the
      // next command finishes a committed rotate and discards an uncommitted one.
      {"rotate_key_file",
       [](Sandbox& box) {
         must(box, {"import", "--from-dir", box.login("alice@example.com", k_early).string(), "--name", "work"});
         must(box, {"import", "--from-dir", box.login("alice@example.com", k_late).string()});  // keeps a .prev
         must(box, {"import", "--from-dir", box.login("bob@example.com", k_early).string(), "--name", "other"});
         Command c;
         c.args = {"vault", "rotate"};
         c.recover = c.args;
         c.crashed_states = {{{"work", k_late}, {"other", k_early}}};
         c.recovered_state = {{"work", k_late}, {"other", k_early}};
         return c;
       }},
      {"rotate_passphrase",
       [](Sandbox& box) {
         must(box, {"vault", "init", "--passphrase"});
         must(box, {"import", "--from-dir", box.login("alice@example.com", k_early).string(), "--name", "work"});
         Command c;
         c.args = {"vault", "rotate"};
         c.only_points = "vault.rotate.";  // every other point as in rotate_key_file, at 2-3 s of scrypt per command
         c.recover = c.args;
         c.crashed_states = {{{"work", k_early}}};
         c.recovered_state = {{"work", k_early}};
         return c;
       }},
      {"unlock_finishes_a_committed_rotate",
       [](Sandbox& box) {
         must(box, {"import", "--from-dir", box.login("alice@example.com", k_early).string(), "--name", "work"});
         must(box, {"vault", "rotate"}, {{"PARA_BROKER_CRASH_AT", "vault.rotate.committed"}}, 137);
         Command c;
         c.args = {"list"};
         c.recover = {"import", "--from-dir", box.login("alice@example.com", k_late).string()};
         c.crashed_states = {{{"work", k_early}}};
         c.recovered_state = {{"work", k_late}};
         return c;
       }},
      {"writer_discards_an_uncommitted_rotate",
       [](Sandbox& box) {
         must(box, {"import", "--from-dir", box.login("alice@example.com", k_early).string(), "--name", "work"});
         must(box, {"vault", "rotate"}, {{"PARA_BROKER_CRASH_AT", "vault.rotate.staged"}}, 137);
         Command c;
         c.args = {"import", "--from-dir", box.login("alice@example.com", k_late).string()};
         c.recover = c.args;
         c.crashed_states = {{{"work", k_early}}, {{"work", k_late}}};
         c.recovered_state = {{"work", k_late}};
         return c;
       }},
  };
}

/// (point, number of passes) of an uninterrupted run of the step's command.
std::map<std::string, int> trace(const Step& step, std::string* only_points = nullptr) {
  Sandbox box;
  Command c = step.setup(box);
  if (only_points != nullptr) *only_points = c.only_points;
  const fs::path file = box.env().root() / "crash-trace";
  auto env = c.env;
  env["PARA_BROKER_CRASH_TRACE"] = file.string();
  auto r = box.run(c.args, env);
  if (r.exit_code != c.exit_code)
    throw std::runtime_error("step " + step.name + " exited " + std::to_string(r.exit_code) + ": " + r.err);
  std::map<std::string, int> passes;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) ++passes[line];
  return passes;
}

std::string describe(const Names& n) {
  std::string s = "{";
  for (const auto& [name, exp] : n) s += name + ":" + std::to_string(exp) + " ";
  return s + "}";
}

/// Permanent (no timeout) keys of this vault in the kernel keyring, from /proc/keys.
std::vector<std::string> permanent_cached_keys(const Sandbox& box) {
  std::ifstream header(box.env().vault_home() / "vault.json");
  auto j = nlohmann::json::parse(header, nullptr, false);
  if (!j.is_object()) return {};
  const std::string desc = "para-broker:v1:" + j.value("vault_id", std::string("?"));
  std::vector<std::string> out;
  std::ifstream keys("/proc/keys");
  for (std::string line; std::getline(keys, line);) {
    std::istringstream fields(line);
    std::string id, flags, usage, timeout;
    fields >> id >> flags >> usage >> timeout;
    if (line.find(desc) != std::string::npos && timeout == "perm") out.push_back(line);
  }
  return out;
}

/// Kills the step's command at `point` on pass `pass`, then checks the vault.
void crash_and_check(const Step& step, const std::string& point, int pass) {
  SCOPED_TRACE("step " + step.name + ", killed at " + point + ":" + std::to_string(pass));
  Sandbox box;
  Command c = step.setup(box);
  auto env = c.env;
  env["PARA_BROKER_CRASH_AT"] = point + ":" + std::to_string(pass);
  auto r = box.run(c.args, env);
  ASSERT_EQ(r.exit_code, 128 + 9) << "not killed: " << r.out << r.err;
  ASSERT_NE(r.err.find("crash point " + point + " (pass " + std::to_string(pass) + ")"), std::string::npos) << r.err;

  VaultState s = inspect(box);
  if (!s.exists) {
    EXPECT_TRUE(c.vault_may_be_absent) << "the vault header is gone";
  } else {
    EXPECT_TRUE(s.verified) << s.verify_output;
    if (!c.crashed_states.empty()) {
      bool known = false;
      for (const auto& n : c.crashed_states) known = known || n == s.expiry_by_name;
      EXPECT_TRUE(known) << "neither before nor after: " << describe(s.expiry_by_name);
    }
  }
  EXPECT_TRUE(permanent_cached_keys(box).empty())
      << "a cached key without a timeout: " << permanent_cached_keys(box).front();

  auto again = box.run(c.recover);
  EXPECT_TRUE(c.recover_codes.count(again.exit_code))
      << "the command run again exited " << again.exit_code << ": " << again.err;
  // Temp files are removed by the next writer (docs/vault-format.md): make sure one ran.
  must(box, {"import", "--from-dir", box.login("carol@example.com", k_early).string(), "--name", "tidy"});
  must(box, {"rm", "--force", "tidy"});
  VaultState after = inspect(box);
  EXPECT_TRUE(after.exists);
  EXPECT_TRUE(after.verified) << after.verify_output;
  EXPECT_EQ(after.expiry_by_name, c.recovered_state) << describe(after.expiry_by_name);
  EXPECT_TRUE(after.temp_files.empty()) << "left behind: " << after.temp_files.front();
  fs::path pending_key = box.env().key_file();
  pending_key += ".new";
  EXPECT_FALSE(fs::exists(pending_key)) << "an unfinished rekey was left: " << pending_key;
  EXPECT_FALSE(fs::exists(box.env().vault_home() / "rotate")) << "an unfinished rotate was left";
  for (const auto& e : fs::directory_iterator(box.env().key_file().parent_path()))
    EXPECT_NE(e.path().extension(), ".rotate") << "a staged anchor was left: " << e.path();
  EXPECT_EQ(after.failed_unlocks, c.failed_unlocks) << "failed unlocks in the log";
}

void PrintTo(const Step& step, std::ostream* os) {
  *os << step.name;
}

class CrashStep : public testing::TestWithParam<Step> {};

TEST_P(CrashStep, KilledAtEveryPassOfEveryPoint) {
  const Step& step = GetParam();
  std::map<std::string, int> passes;
  std::string only;
  try {
    passes = trace(step, &only);
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  ASSERT_FALSE(passes.empty()) << "the step reaches no crash point";
  int kills = 0;
  for (const auto& [point, n] : passes) {
    if (!point.starts_with(only)) continue;
    for (int pass = 1; pass <= n; ++pass) {
      try {
        crash_and_check(step, point, pass);
      } catch (const std::exception& e) {
        ADD_FAILURE() << point << ":" << pass << ": " << e.what();
      }
      ++kills;
    }
  }
  RecordProperty("kills", kills);
  std::cout << "[ crashes  ] " << step.name << ": " << passes.size() << " points, " << kills << " kills\n";
}

INSTANTIATE_TEST_SUITE_P(Vault, CrashStep, testing::ValuesIn(steps()),
                         [](const testing::TestParamInfo<Step>& i) { return i.param.name; });

TEST(CrashPoints, EveryVaultPointIsReachedByAStep) {
  std::set<std::string> reached;
  for (const auto& step : steps()) {
    try {
      for (const auto& [point, n] : trace(step)) reached.insert(point);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
  }
  std::size_t vault_points = 0;
  for (const auto& p : fault::k_points) {
    const std::string name(p.name);
    if (p.reach == fault::Reach::vault) {
      ++vault_points;
      EXPECT_TRUE(reached.count(name)) << "no step reaches crash point " << name
                                       << ": add a step, or mark it Reach::docker and reach it in the Docker test";
    } else {
      EXPECT_FALSE(reached.count(name)) << name << " is reached without Docker: mark it Reach::vault";
    }
  }
  std::cout << "[ crashes  ] " << vault_points << " of " << fault::k_point_count << " points are vault points\n";
}

TEST(CrashPoints, UnknownPointOrCountIsRefused) {
  Sandbox box;
  auto r = box.run({"vault", "init"}, {{"PARA_BROKER_CRASH_AT", "vault.no.such.point"}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("names no crash point"), std::string::npos) << r.err;
  r = box.run({"vault", "init"}, {{"PARA_BROKER_CRASH_AT", "files.atomic.renamed:0"}});
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

TEST(CrashPoints, NamesAreUniqueAndDocumented) {
  std::ifstream in(source_path("docs/fault-injection.md"));
  std::stringstream doc;
  doc << in.rdbuf();
  std::set<std::string_view> seen;
  for (const auto& p : fault::k_points) {
    EXPECT_TRUE(seen.insert(p.name).second) << "listed twice: " << p.name;
    EXPECT_NE(doc.str().find("`" + std::string(p.name) + "`"), std::string::npos)
        << "docs/fault-injection.md does not describe " << p.name;
  }
}

}  // namespace
}  // namespace pb::test::crash
