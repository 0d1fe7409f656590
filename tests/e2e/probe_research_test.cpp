// `probe --research` with real Claude Code builds: the predicted locations
// equal what research observes, and what research observes equals what
// running Claude in that image really writes (docker diff of a plain run).

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/images/test_images.hpp"
#include "tests/support/test_env.hpp"

namespace pb::test {
namespace {

using nlohmann::json;

/// Timestamps in names (2.x's .claude.json.backup.<ms>) differ between runs.
std::vector<std::string> without_timestamps(std::vector<std::string> paths) {
  static const std::regex k_stamp("[0-9]{10,}");
  for (auto& p : paths) p = std::regex_replace(p, k_stamp, "N");
  std::sort(paths.begin(), paths.end());
  return paths;
}

/// What `claude mcp list` writes in a fresh container, outside /tmp.
std::vector<std::string> measured_writes(const std::string& image, const std::string& label) {
  auto c = docker_cli({"create", "--network", "none", "--label", std::string(k_test_label) + "=" + label, "-e",
                       "DISABLE_TELEMETRY=1", "-e", "DISABLE_ERROR_REPORTING=1", "-e",
                       "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "-e", "DISABLE_AUTOUPDATER=1", image, "claude",
                       "mcp", "list"});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  std::string id = c.out.substr(0, c.out.find('\n'));
  docker_cli({"start", "-a", id}, 120);
  auto diff = docker_cli({"diff", id});
  docker_cli({"rm", "-f", id});
  std::vector<std::string> out;
  std::istringstream in(diff.out);
  std::string kind, path;
  while (in >> kind >> path) {
    if (kind == "D" || path == "/tmp" || path.rfind("/tmp/", 0) == 0) continue;
    out.push_back(path);
  }
  std::sort(out.begin(), out.end());
  return out;
}

class ProbeResearch : public ::testing::TestWithParam<ClaudeTestImage> {
 protected:
  void SetUp() override {
    PB_REQUIRE_DOCKER();
    m_label = m_env.unique("research");
    m_env.set_env("PARA_BROKER_EXTRA_LABELS", std::string(k_test_label) + "=" + m_label);
  }
  void TearDown() override {
    auto left = docker_cli({"ps", "-a", "-q", "--filter", "label=para-broker.probe", "--filter",
                            "label=" + std::string(k_test_label) + "=" + m_label});
    EXPECT_EQ(left.out, "") << "research containers were left behind";
    remove_labelled(m_label);
  }
  TestEnv m_env;
  std::string m_label;
};

TEST_P(ProbeResearch, PredictionEqualsObservationEqualsReality) {
  const ClaudeTestImage& img = GetParam();
  std::string image = test_image(img.name);
  auto plain = m_env.cli({"probe", image, "--json"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  auto r = m_env.cli({"probe", image, "--json", "--research"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json predicted = json::parse(plain.out);
  json j = json::parse(r.out);
  EXPECT_EQ(j["method"], "research");
  ASSERT_TRUE(j["research"].is_object()) << j.dump(2);
  EXPECT_EQ(j["research"]["agrees"], true) << j.dump(2);
  EXPECT_EQ(j["research"]["observed"], predicted["locations"]);
  EXPECT_EQ(j["locations"], predicted["locations"]);
  EXPECT_EQ(j["locations"]["config_dir"], img.config_dir);
  EXPECT_EQ(j["locations"]["global_config"], img.global_config);
  EXPECT_EQ(j["research"]["honors_claude_config_dir"], true);
  // The global config is what every build writes on this command.
  auto written = j["research"]["written"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(written.begin(), written.end(), img.global_config), written.end()) << j.dump(2);
  // Research saw exactly what a plain run of Claude in the image writes.
  EXPECT_EQ(without_timestamps(written), without_timestamps(measured_writes(image, m_label)));
  // Cached: a second research probe is served from the cache.
  auto again = m_env.cli({"probe", image, "--json", "--research"});
  EXPECT_EQ(json::parse(again.out)["research"], j["research"]);
}

INSTANTIATE_TEST_SUITE_P(RealClaude, ProbeResearch, ::testing::ValuesIn(k_claude_test_images), [](const auto& p) {
  std::string n = p.param.name;
  std::replace(n.begin(), n.end(), '-', '_');
  return n;
});

}  // namespace
}  // namespace pb::test
