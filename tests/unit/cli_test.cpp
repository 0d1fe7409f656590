#include <gtest/gtest.h>

#include "tests/support/test_env.hpp"

namespace pb {
namespace {

TEST(Cli, VersionAndHelp) {
  test::TestEnv env;
  auto v = env.cli({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("para-broker " PB_VERSION), std::string::npos);
  auto h = env.cli({"--help"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("doctor"), std::string::npos);
  EXPECT_NE(h.out.find("Exit codes"), std::string::npos);
}

TEST(Cli, UnknownCommandSuggestsTheClosest) {
  test::TestEnv env;
  auto r = env.cli({"docter"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("did you mean 'doctor'?"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.rfind("para-broker: ", 0), 0u);
}

TEST(Cli, NoCommandAndBadOptionAreUsageErrors) {
  test::TestEnv env;
  EXPECT_EQ(env.cli({}).exit_code, 2);
  auto r = env.cli({"doctor", "--no-such-option"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("para-broker: ", 0), 0u);
}

TEST(Cli, EveryCommandHasHelp) {
  test::TestEnv env;
  auto h = env.cli({"doctor", "--help"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("Example:"), std::string::npos);
}

}  // namespace
}  // namespace pb
