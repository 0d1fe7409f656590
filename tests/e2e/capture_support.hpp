#pragma once
// Helpers for the capture tests (login, import): a labelled TestEnv that
// removes what it made, Docker object counts, the vault's decoded entries, and
// para-broker driven through a pseudo-terminal.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "tests/support/test_env.hpp"

namespace pb::test {

/// A TestEnv whose product-made objects carry para-broker.test=<label>; every
/// such object is removed when it goes out of scope (also on failure).
class LabelledEnv {
 public:
  LabelledEnv();
  ~LabelledEnv();
  TestEnv env;
  std::string label;

  /// Product-made (para-broker.managed=1) containers and volumes carrying the label right now ("container <id>",
  /// "volume <name>").
  std::vector<std::string> leftovers() const;
  /// `list --json` entries.
  nlohmann::json list() const;
  /// Every entry, decoded through the vault API: name -> {file name -> text}.
  std::map<std::string, std::map<std::string, std::string>> decoded() const;
  /// The vault directory's files and contents (to prove it is unchanged).
  std::map<std::string, std::string> snapshot() const;
};

/// para-broker running on a pseudo-terminal.
class PtyProcess {
 public:
  PtyProcess(const TestEnv& env, const std::vector<std::string>& args);
  ~PtyProcess();
  /// Reads until the screen (escape sequences and blanks removed) shows `text`; false on timeout or exit.
  bool wait_for(const std::string& text, int timeout_s);
  void write(const std::string& bytes);
  void signal(int sig);
  /// Waits for the exit; -1 when it did not end in time (then it is killed).
  int wait_exit(int timeout_s);
  /// Everything read so far, escape sequences removed.
  std::string screen() const;

 private:
  void pump(int timeout_ms);
  int m_master = -1;
  int m_pid = -1;
  int m_status = -1;
  bool m_exited = false;
  std::string m_raw;
};

}  // namespace pb::test
