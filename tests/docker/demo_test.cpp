// `para-broker demo` against the real daemon: two containers show they are
// logged in, the audit table is printed, the token is never shown, it takes
// under a minute, and nothing it made is left behind.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "tests/support/test_env.hpp"

using namespace pb::test;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

int count_lines_with(const std::string& text, const std::string& needle) {
  int n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

std::size_t labelled(const std::string& what, const std::string& value) {
  auto r = docker_cli({what, "ls", "-aq", "--filter", "label=" + std::string(k_test_label) + "=" + value});
  if (what == "volume")
    r = docker_cli({"volume", "ls", "-q", "--filter", "label=" + std::string(k_test_label) + "=" + value});
  if (what == "image")
    r = docker_cli({"images", "-aq", "--filter", "label=" + std::string(k_test_label) + "=" + value});
  return static_cast<std::size_t>(count_lines_with(r.out, "\n"));
}

struct Guard {
  std::string value;
  ~Guard() { remove_labelled(value); }
};

TEST(Demo, ShowsTwoLoggedInContainersAndTheAuditAndLeavesNothing) {
  PB_REQUIRE_DOCKER();
  TestEnv env;
  Guard guard{env.unique("demo")};
  env.set_env("PARA_BROKER_EXTRA_LABELS", std::string(k_test_label) + "=" + guard.value);
  const auto started = std::chrono::steady_clock::now();
  auto r = env.cli({"demo"}, "", 120);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_LT(took, std::chrono::seconds(60));

  EXPECT_THAT(r.out, HasSubstr("demo vault: " + env.vault_home().string()));
  EXPECT_EQ(count_lines_with(r.out, ": logged in as demo@example.com, plan max"), 2) << r.out;
  EXPECT_EQ(count_lines_with(r.out, "(writable)"), 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("probe: Claude Code 1.0.40 (npm-js) runs as demo (uid 1000)"));
  EXPECT_THAT(r.out, HasSubstr("CREDENTIALS"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("\ndemo +oauth +d\\*\\*\\*@example.com +max .* valid "));
  EXPECT_THAT(r.out, HasSubstr("The demo vault stays in " + env.vault_home().string()));
  // The fake token itself (the random part after the prefix) never appears.
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("fake-token-not-real-")));

  EXPECT_EQ(labelled("container", guard.value), 0u);
  EXPECT_EQ(labelled("volume", guard.value), 0u);
  EXPECT_EQ(labelled("image", guard.value), 0u);

  // The vault it leaves holds the demo credential.
  auto list = env.cli({"list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("demo"));
}

}  // namespace
