// audit against a real dockerd: images built with `docker build` that bake a
// login into one layer and delete it in the next, a clean image, migration of
// a baked image with `import --from-image`, and the 1 GiB streaming bound.

#include <gtest/gtest.h>

#include <cstdlib>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "tests/support/test_env.hpp"

namespace fs = std::filesystem;

namespace pb {
namespace {

constexpr const char* k_canary_access = "sk-ant-oat01-CANARY-test-docker-0123456789abcdef";
constexpr const char* k_canary_refresh = "sk-ant-ort01-CANARY-test-docker-fedcba9876543210";

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

/// Removes everything labelled with the test's value, also when the test fails.
struct LabelGuard {
  std::string value;
  ~LabelGuard() { test::remove_labelled(value); }
};

class AuditDocker : public ::testing::Test {
 protected:
  void SetUp() override { PB_REQUIRE_DOCKER(); }

  /// Builds FROM the busybox test image; the context holds the login files.
  std::string build(const std::string& tag, const std::string& steps) {
    const fs::path ctx = env.root() / ("ctx-" + tag);
    write(ctx / "creds.json",
          std::string(R"({"claudeAiOauth":{"accessToken":")") + k_canary_access + R"(","refreshToken":")" +
              k_canary_refresh +
              R"(","expiresAt":1900000000000,"scopes":["user:inference"],"subscriptionType":"max"}})");
    write(
        ctx / "claude.json",
        R"({"hasCompletedOnboarding":true,"oauthAccount":{"emailAddress":"baked@example.com","accountUuid":"uuid-baked"}})");
    write(ctx / "Dockerfile", "FROM " + base + "\n" + steps + "LABEL " + test::k_test_label + "=" + guard.value + "\n");
    const std::string ref = "pb-test-audit-" + tag + ":" + guard.value;
    auto r = test::run_process({"docker", "build", "-q", "-t", ref, ctx.string()}, {{"DOCKER_BUILDKIT", "0"}}, "", 300);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return ref;
  }

  test::TestEnv env;
  LabelGuard guard{env.unique("audit")};
  std::string base = test::busybox_image(guard.value);
};

TEST_F(AuditDocker, CredentialsDeletedInALaterLayerAreReportedWithTheEarlierLayer) {
  const std::string ref = build("whiteout",
                                "COPY creds.json /root/.claude/.credentials.json\n"
                                "COPY claude.json /root/.claude.json\n"
                                "RUN rm /root/.claude/.credentials.json\n");
  auto r = env.cli({"audit", "--image", ref, "--json"});
  EXPECT_EQ(r.exit_code, 10) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["images"]["images"].size(), 1u) << r.out;
  const auto& img = j["images"]["images"][0];
  EXPECT_EQ(img["layers"], 4);  // busybox, COPY, COPY, RUN rm
  EXPECT_EQ(img["import_command"], "para-broker import --from-image " + ref);
  bool creds = false, claude_json = false;
  for (const auto& f : img["findings"]) {
    if (f["path"] == "/root/.claude/.credentials.json") {
      creds = true;
      EXPECT_EQ(f["layer"], 1);
      EXPECT_EQ(f["state"], "deleted");
      EXPECT_EQ(f["changed_in_layer"], 3);
      EXPECT_TRUE(f["diff_id"].is_string());
      EXPECT_EQ(f["kinds"], nlohmann::json({"credentials-file", "claudeAiOauth", "sk-ant-oat", "sk-ant-ort"}));
    }
    if (f["path"] == "/root/.claude.json") {
      claude_json = true;
      EXPECT_EQ(f["layer"], 2);
      EXPECT_EQ(f["state"], "present");
    }
  }
  EXPECT_TRUE(creds && claude_json) << img.dump(2);
  auto t = env.cli({"audit", "--image", ref});
  EXPECT_EQ(t.exit_code, 10);
  EXPECT_NE(t.out.find("layer 2/4"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("deleted in layer 4, still in the image"), std::string::npos) << t.out;
  for (const auto& out : {r.out, r.err, t.out, t.err}) EXPECT_EQ(out.find("CANARY"), std::string::npos);
}

TEST_F(AuditDocker, CleanImageIsNotReported) {
  // The daemon is shared: other volumes may need attention; the image part must not.
  auto r = env.cli({"audit", "--image", base, "--json"});
  ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 10) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["images"]["scanned"], 1);
  EXPECT_TRUE(j["images"]["images"].empty()) << r.out;
  for (const auto& reason : j["attention"])
    EXPECT_EQ(reason.get<std::string>().find("image"), std::string::npos) << reason;
}

TEST_F(AuditDocker, AuthenticatedImageIsReportedAndImportFromImageMigratesIt) {
  const std::string ref = build("authed",
                                "COPY creds.json /root/.claude/.credentials.json\n"
                                "COPY claude.json /root/.claude.json\n");
  auto before = env.cli({"audit", "--image", ref});
  EXPECT_EQ(before.exit_code, 10) << before.out << before.err;
  EXPECT_NE(before.out.find("migrate: para-broker import --from-image " + ref), std::string::npos) << before.out;
  auto imp = env.cli({"import", "--from-image", ref, "--name", "baked"});
  ASSERT_EQ(imp.exit_code, 0) << imp.out << imp.err;
  auto after = env.cli({"audit", "--json"});
  auto j = nlohmann::json::parse(after.out);
  ASSERT_EQ(j["credentials"].size(), 1u) << after.out;
  EXPECT_EQ(j["credentials"][0]["name"], "baked");
  EXPECT_EQ(j["credentials"][0]["account"], "b***@example.com");
  EXPECT_EQ(j["credentials"][0]["kind"], "oauth");
  EXPECT_EQ(j["credentials"][0]["state"], "valid");
  EXPECT_EQ((imp.out + imp.err + after.out).find("CANARY"), std::string::npos);
}

TEST_F(AuditDocker, LiveAndStaleVolumesFromRealLabels) {
  const std::string v = guard.value;
  const std::string shared = "pb-audit-shared-" + v, hold = "pb-audit-hold-" + v, session = "s-" + v;
  auto label = [&](const std::string& kv) { return std::vector<std::string>{"--label", kv}; };
  std::vector<std::string> common = {"volume",  "create",
                                     "--label", std::string(test::k_test_label) + "=" + v,
                                     "--label", "para-broker.managed=1",
                                     "--label", "para-broker.credential=00000000000000aa"};
  auto mk = [&](const std::string& name, const std::vector<std::string>& extra) {
    auto args = common;
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(name);
    ASSERT_EQ(test::docker_cli(args).exit_code, 0);
  };
  mk(shared, label("para-broker.role=session"));
  std::vector<std::string> hl = {"--label", "para-broker.role=hold",       "--label", "para-broker.session=" + session,
                                 "--label", "para-broker.volume=" + shared};
  mk(hold, hl);
  auto stale = nlohmann::json::parse(env.cli({"audit", "--json"}).out);
  std::map<std::string, bool> is_stale;
  for (const auto& vol : stale["docker"]["volumes"]) is_stale[vol["name"]] = vol["stale"];
  EXPECT_TRUE(is_stale[shared]);
  EXPECT_TRUE(is_stale[hold]);
  ASSERT_EQ(
      test::docker_cli({"create", "--name", "para-" + session, "--label", std::string(test::k_test_label) + "=" + v,
                        "--mount", "type=volume,src=" + shared + ",dst=/data", base, "true"})
          .exit_code,
      0);
  auto live = nlohmann::json::parse(env.cli({"audit", "--json"}).out);
  is_stale.clear();
  for (const auto& vol : live["docker"]["volumes"]) is_stale[vol["name"]] = vol["stale"];
  EXPECT_FALSE(is_stale[shared]);
  EXPECT_FALSE(is_stale[hold]);
}

/// A 1 GiB image of deterministic random data (AES-CTR keystream of a fixed
/// passphrase) with a login file after it; kept between runs: its tag names
/// its content, so it is built once per daemon.
std::string big_image() {
  const std::string ref = "pb-test-audit-1g:aesctr-v1";
  if (test::docker_cli({"image", "inspect", ref}, 60).exit_code == 0) return ref;
  const std::string script =
      "set -e; d=$(mktemp -d); trap 'rm -rf \"$d\"' EXIT; "
      "openssl enc -aes-256-ctr -nosalt -pbkdf2 -pass pass:pb-audit-1g </dev/zero 2>/dev/null | head -c 1073741824 > "
      "\"$d/blob\"; "
      "mkdir -p \"$d/zz/.claude\"; printf '{\"claudeAiOauth\":{\"accessToken\":\"%s\"}}' '" +
      std::string(k_canary_access) +
      "' > \"$d/zz/.claude/.credentials.json\"; "
      "tar -C \"$d\" -c blob zz | docker import --change 'LABEL " +
      std::string(test::k_test_label) + "=audit-1g-cache' - " + ref + " >/dev/null";
  auto r = test::run_process({"bash", "-c", script}, {}, "", 900);
  if (r.exit_code != 0) throw std::runtime_error("building " + ref + " failed: " + r.err);
  return ref;
}

/// Whether test images outlive the run (the rule of tests/images: kept locally,
/// removed in CI or with PB_KEEP_TEST_IMAGES=0).
bool keep_test_images() {
  const char* keep = std::getenv("PB_KEEP_TEST_IMAGES");
  if (keep != nullptr && *keep != '\0') return std::string(keep) == "1";
  const char* ci = std::getenv("CI");
  return !(ci != nullptr && std::string(ci) == "true");
}

TEST_F(AuditDocker, OneGigabyteImageStreamsUnder64MiB) {
  const std::string ref = big_image();
  struct RemoveUnlessKept {
    std::string ref;
    ~RemoveUnlessKept() {
      if (!keep_test_images()) test::docker_cli({"rmi", "-f", ref}, 120);
    }
  } cleanup{ref};
  std::vector<std::string> argv = {"/usr/bin/time", "-v", PB_BINARY, "audit", "--image", ref, "--json"};
  auto r = test::run_process(argv, env.env(), "", 900);
  EXPECT_EQ(r.exit_code, 10) << r.err;  // the planted login is found
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex(R"(Maximum resident set size \(kbytes\): (\d+))"))) << r.err;
  const long rss_kb = std::stol(m[1]);
  RecordProperty("peak_rss_kb", std::to_string(rss_kb));
  EXPECT_LT(rss_kb, 64 * 1024) << "peak RSS " << rss_kb << " KiB";
  const auto json_end = r.out.rfind('}');
  auto j = nlohmann::json::parse(r.out.substr(0, json_end + 1));
  EXPECT_GE(j["images"]["bytes"].get<std::uint64_t>(), 1073741824u);
  ASSERT_EQ(j["images"]["images"].size(), 1u);
  const auto& f = j["images"]["images"][0]["findings"];
  ASSERT_EQ(f.size(), 1u) << f.dump();
  EXPECT_EQ(f[0]["path"], "/zz/.claude/.credentials.json");
  EXPECT_EQ(f[0]["kinds"], nlohmann::json({"credentials-file", "claudeAiOauth", "sk-ant-oat"}));
}

}  // namespace
}  // namespace pb
