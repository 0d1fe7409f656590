// audit: the streaming content matcher, the layer-by-layer scan of a
// `docker save` stream built in memory (whiteouts, opaque directories,
// overwrites, manifest after the layers, linked and gzip layers, garbage), and
// the report through the command with a fake Docker: expiry states, live and
// stale volumes from labels, Docker unreachable, --verify on a tampered vault.

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "broker/audit/content_matcher.hpp"
#include "broker/audit/image_scan.hpp"
#include "broker/commands/run.hpp"
#include "broker/docker/docker_client.hpp"
#include "broker/objects/labels.hpp"
#include "core/files.hpp"
#include "tests/support/fake_docker.hpp"
#include "tests/support/test_env.hpp"

namespace fs = std::filesystem;
using namespace pb::broker::audit;

namespace pb {
namespace {

constexpr const char* k_canary_access = "sk-ant-oat01-CANARY-test-0123456789abcdefghij";
constexpr const char* k_canary_refresh = "sk-ant-ort01-CANARY-test-9876543210zyxwvutsrq";
constexpr const char* k_canary_api = "sk-ant-api03-CANARY-test-aaaaaaaaaaaaaaaaaaaaaaaa";

std::string creds_json(long long expires, bool refresh = true) {
  return std::string(R"({"claudeAiOauth":{"accessToken":")") + k_canary_access + "\"" +
         (refresh ? std::string(R"(,"refreshToken":")") + k_canary_refresh + "\"" : std::string()) +
         R"(,"expiresAt":)" + std::to_string(expires) + R"(,"scopes":["user:inference"],"subscriptionType":"max"}})";
}

// ---------------------------------------------------------------- matcher

MarkSet feed_split(const std::string& text, std::size_t block, bool claude_json) {
  ContentMatcher m(claude_json);
  for (std::size_t i = 0; i < text.size(); i += block) {
    auto part = std::string_view(text).substr(i, block);
    m.feed(std::as_bytes(std::span(part.data(), part.size())));
  }
  m.finish();
  return m.found();
}

TEST(AuditMatcher, FindsTokensAndKeysNotBarePrefixes) {
  EXPECT_EQ(scan_bytes(creds_json(1), false),
            mark_bit(MarkKind::claude_ai_oauth) | mark_bit(MarkKind::access_token) | mark_bit(MarkKind::refresh_token));
  EXPECT_EQ(scan_bytes(std::string("key=") + k_canary_api + "\n", false), mark_bit(MarkKind::api_key));
  // What Claude Code's own program text holds: prefixes and key names, no token, no JSON object key.
  EXPECT_EQ(scan_bytes(R"(if(t.startsWith("sk-ant-oat01-"))return e.claudeAiOauth;x["claudeAiOauth"]=1;)", false), 0u);
  EXPECT_EQ(scan_bytes("sk-ant-oat01-short", false), 0u);
  EXPECT_EQ(scan_bytes("\"claudeAiOauth\" \n\t : {", false), mark_bit(MarkKind::claude_ai_oauth));
  const std::string cj = R"({"oauthAccount":{"emailAddress":"a@b"},"primaryApiKey" : "x"})";
  EXPECT_EQ(scan_bytes(cj, false), 0u);
  EXPECT_EQ(scan_bytes(cj, true), mark_bit(MarkKind::oauth_account) | mark_bit(MarkKind::primary_api_key));
}

TEST(AuditMatcher, MarksSplitAcrossBlocksAreFoundAtEverySplit) {
  const std::string pad(300, 'x');
  const std::string text = pad + creds_json(1) + pad + "\"oauthAccount\"  :1" + pad;
  const MarkSet whole = scan_bytes(text, true);
  ASSERT_NE(whole & mark_bit(MarkKind::refresh_token), 0u);
  for (std::size_t block : {1u, 2u, 3u, 7u, 13u, 63u, 64u, 65u, 100u, 4096u})
    EXPECT_EQ(feed_split(text, block, true), whole) << block;
  // Two blocks, cut at every byte of the token.
  const std::string token = pad + k_canary_access + pad;
  for (std::size_t cut = pad.size() - 2; cut < pad.size() + std::strlen(k_canary_access) + 2; ++cut) {
    ContentMatcher m(false);
    std::string_view a(token.data(), cut), b(token.data() + cut, token.size() - cut);
    m.feed(std::as_bytes(std::span(a.data(), a.size())));
    m.feed(std::as_bytes(std::span(b.data(), b.size())));
    m.finish();
    EXPECT_EQ(m.found(), mark_bit(MarkKind::access_token)) << cut;
  }
  // A token cut short by the end of the file is no token.
  EXPECT_EQ(feed_split(pad + "sk-ant-oat01-abc", 5, false), 0u);
}

TEST(AuditMatcher, Names) {
  EXPECT_TRUE(is_claude_json_name("root/.claude.json"));
  EXPECT_TRUE(is_claude_json_name("home/u/.claude/backups/.claude.json.backup"));
  EXPECT_FALSE(is_claude_json_name("root/claude.json"));
  EXPECT_TRUE(is_credentials_name("home/u/.claude/.credentials.json"));
  EXPECT_FALSE(is_credentials_name("home/u/.claude/credentials.json"));
}

// ---------------------------------------------------------------- save streams

struct TarItem {
  std::string path;
  std::string data;
  enum class Type { file, dir, symlink } type = Type::file;
};

la_ssize_t append_cb(struct archive*, void* p, const void* data, size_t n) {
  static_cast<std::string*>(p)->append(static_cast<const char*>(data), n);
  return static_cast<la_ssize_t>(n);
}

std::string make_tar(const std::vector<TarItem>& items, bool gzip = false) {
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) archive_write_add_filter_gzip(a);
  archive_write_set_bytes_in_last_block(a, 1);
  archive_write_open(a, &out, nullptr, append_cb, nullptr);
  for (const auto& it : items) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, it.path.c_str());
    if (it.type == TarItem::Type::dir) {
      archive_entry_set_filetype(e, AE_IFDIR);
      archive_entry_set_perm(e, 0755);
    } else if (it.type == TarItem::Type::symlink) {
      archive_entry_set_filetype(e, AE_IFLNK);
      archive_entry_set_symlink(e, it.data.c_str());
      archive_entry_set_perm(e, 0777);
    } else {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_perm(e, 0644);
      archive_entry_set_size(e, static_cast<la_int64_t>(it.data.size()));
    }
    archive_write_header(a, e);
    if (it.type == TarItem::Type::file) archive_write_data(a, it.data.data(), it.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

class StringReader : public broker::ByteReader {
 public:
  explicit StringReader(std::string s, std::size_t chunk = 7777) : m_s(std::move(s)), m_chunk(chunk) {}
  Result<std::size_t> read(std::span<std::byte> out) override {
    const std::size_t n = std::min({out.size(), m_s.size() - m_pos, m_chunk});
    std::memcpy(out.data(), m_s.data() + m_pos, n);
    m_pos += n;
    return n;
  }

 private:
  std::string m_s;
  std::size_t m_chunk;
  std::size_t m_pos = 0;
};

std::string manifest(const std::vector<std::string>& layers) {
  return nlohmann::json::array({{{"Config", "cfg.json"}, {"RepoTags", {"baked:1"}}, {"Layers", layers}}}).dump();
}

/// A save stream with layers L0..L3 in the legacy layout, manifest last.
std::string baked_save(bool manifest_first = false) {
  const std::string l0 = make_tar({{"root/", "", TarItem::Type::dir},
                                   {"root/.claude/", "", TarItem::Type::dir},
                                   {"root/.claude/.credentials.json", creds_json(1)},
                                   {"root/.claude.json", R"({"oauthAccount":{"emailAddress":"x@y"}})"},
                                   {"srv/token.txt", std::string("T=") + k_canary_api},
                                   {"data/d/.credentials.json", "{}"},
                                   {"etc/clean", "nothing here"}});
  const std::string l1 = make_tar({{"root/.claude/.wh..credentials.json", ""}, {"data/d/.wh..wh..opq", ""}});
  const std::string l2 = make_tar({{"srv/token.txt", "T=rotated-away"}}, /*gzip=*/true);
  const std::string l3 =
      make_tar({{"opt/app/readme", std::string(200000, 'y') + "sk-ant-ort01-" + std::string(40, 'Z')}});
  std::vector<TarItem> outer;
  const std::vector<std::string> order = {"aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar", "ddd/layer.tar",
                                          "eee/layer.tar"};
  if (manifest_first) outer.push_back({"manifest.json", manifest(order)});
  outer.push_back({"aaa/", "", TarItem::Type::dir});
  outer.push_back({"aaa/layer.tar", l0});
  outer.push_back({"aaa/json", "{}"});
  outer.push_back({"bbb/layer.tar", l1});
  outer.push_back({"cfg.json", "{\"rootfs\":{}}"});
  outer.push_back({"ccc/layer.tar", l2});
  outer.push_back({"ddd/layer.tar", l3});
  outer.push_back({"eee/layer.tar", "../aaa/layer.tar", TarItem::Type::symlink});  // the same layer again
  if (!manifest_first) outer.push_back({"manifest.json", manifest(order)});
  outer.push_back({"repositories", "{}"});
  return make_tar(outer);
}

const ImageFinding* find(const ImageScan& s, const std::string& path, int layer) {
  for (const auto& f : s.findings)
    if (f.path == path && f.layer_index == layer) return &f;
  return nullptr;
}

TEST(AuditImageScan, FindsEveryLayerAndWhatLaterLayersDo) {
  for (bool manifest_first : {false, true}) {
    StringReader in(baked_save(manifest_first));
    ScanOptions opts;
    opts.diff_ids = {"sha256:d0", "sha256:d1", "sha256:d2", "sha256:d3", "sha256:d4"};
    auto scan = scan_image_export(in, opts);
    ASSERT_TRUE(scan.ok()) << scan.error().message;
    EXPECT_EQ(scan->layers, 5u);
    EXPECT_EQ(scan->repo_tags, std::vector<std::string>{"baked:1"});
    EXPECT_TRUE(scan->warnings.empty()) << scan->warnings.front();

    const auto* creds = find(*scan, "root/.claude/.credentials.json", 0);
    ASSERT_NE(creds, nullptr);
    EXPECT_EQ(creds->diff_id, "sha256:d0");
    EXPECT_EQ(creds->marks, mark_bit(MarkKind::credentials_file) | mark_bit(MarkKind::claude_ai_oauth) |
                                mark_bit(MarkKind::access_token) | mark_bit(MarkKind::refresh_token));
    EXPECT_EQ(creds->fate, Fate::deleted);
    EXPECT_EQ(creds->fate_layer, 1);

    const auto* cj = find(*scan, "root/.claude.json", 0);
    ASSERT_NE(cj, nullptr);
    EXPECT_EQ(cj->marks, mark_bit(MarkKind::oauth_account));
    EXPECT_EQ(cj->fate, Fate::replaced);  // layer 4 is layer 0 again and writes it anew
    EXPECT_EQ(cj->fate_layer, 4);

    const auto* token = find(*scan, "srv/token.txt", 0);
    ASSERT_NE(token, nullptr);
    EXPECT_EQ(token->marks, mark_bit(MarkKind::api_key));
    EXPECT_EQ(token->fate, Fate::replaced);
    EXPECT_EQ(token->fate_layer, 2);

    const auto* opaque = find(*scan, "data/d/.credentials.json", 0);
    ASSERT_NE(opaque, nullptr);
    EXPECT_EQ(opaque->fate, Fate::deleted);

    const auto* deep = find(*scan, "opt/app/readme", 3);
    ASSERT_NE(deep, nullptr);
    EXPECT_EQ(deep->marks, mark_bit(MarkKind::refresh_token));

    // The linked layer (index 4) is layer 0 again: the same findings, nothing above them.
    const auto* again = find(*scan, "root/.claude/.credentials.json", 4);
    ASSERT_NE(again, nullptr);
    EXPECT_EQ(again->fate, Fate::present);
    EXPECT_EQ(find(*scan, "etc/clean", 0), nullptr);
    EXPECT_EQ(scan->findings.size(), 9u);
    for (const auto& f : scan->findings) EXPECT_EQ(f.path.find("CANARY"), std::string::npos);
  }
}

TEST(AuditImageScan, CleanImageHasNoFindings) {
  const std::string l0 =
      make_tar({{"bin/sh", std::string(100000, '\x7f')}, {"etc/passwd", "root:x:0:0::/root:/bin/sh\n"}});
  StringReader in(make_tar({{"x/layer.tar", l0}, {"manifest.json", manifest({"x/layer.tar"})}}));
  auto scan = scan_image_export(in);
  ASSERT_TRUE(scan.ok());
  EXPECT_TRUE(scan->findings.empty());
  EXPECT_TRUE(scan->warnings.empty());
  EXPECT_EQ(scan->files, 2u);
}

TEST(AuditImageScan, BrokenInputIsAnErrorOrAWarningNeverSilence) {
  StringReader garbage(std::string(10000, 'g'));
  auto g = scan_image_export(garbage);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().kind, ErrorKind::integrity);

  // A layer the manifest lists that is not a tar, and no manifest at all.
  StringReader bad_layer(
      make_tar({{"x/layer.tar", std::string(2000, 'z')}, {"manifest.json", manifest({"x/layer.tar"})}}));
  auto b = scan_image_export(bad_layer);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->warnings.size(), 1u);
  EXPECT_NE(b->warnings[0].find("not scanned"), std::string::npos);

  StringReader no_manifest(make_tar({{"x/layer.tar", make_tar({{"root/.credentials.json", "{}"}})}}));
  auto n = scan_image_export(no_manifest);
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(n->findings.size(), 1u);
  EXPECT_EQ(n->findings[0].layer_index, -1);
  EXPECT_EQ(n->findings[0].layer_path, "x/layer.tar");
  EXPECT_FALSE(n->warnings.empty());

  // A stream cut in the middle of a layer.
  std::string whole = baked_save();
  StringReader cut(whole.substr(0, whole.size() / 2));
  auto c = scan_image_export(cut);
  EXPECT_TRUE(!c.ok() || !c->warnings.empty());
}

// ---------------------------------------------------------------- the command

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::string slurp(const fs::path& p) {
  auto bytes = read_file(p, 64u << 20);
  EXPECT_TRUE(bytes.ok()) << p;
  return bytes.ok() ? std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size()) : std::string();
}

struct Audit {
  int code = -1;
  std::string out, err;
  nlohmann::json json() const { return nlohmann::json::parse(out); }
};

class AuditCommand : public ::testing::Test {
 protected:
  /// Imports a home whose token expires `expires_in_ms` from now.
  std::string import(const std::string& name, long long expires_in_ms, bool refresh = true) {
    const long long now =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    fs::path home = env.root() / ("home-" + name);
    write(home / ".claude" / ".credentials.json", creds_json(now + expires_in_ms, refresh));
    write(home / ".claude.json", R"({"hasCompletedOnboarding":true,"oauthAccount":{"emailAddress":")" + name +
                                     R"(@example.com","accountUuid":"uuid-)" + name + R"("}})");
    auto r = env.cli({"import", "--from-dir", home.string(), "--name", name});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto l = nlohmann::json::parse(env.cli({"list", "--json"}).out);
    for (const auto& c : l["credentials"])
      if (c["name"] == name) return c["id"].get<std::string>();
    return {};
  }

  Audit audit(std::vector<std::string> args) {
    std::ostringstream out, err;
    broker::Context ctx{Paths{env.vault_home(), env.key_file(), env.cache_dir()}, out, err, docker->factory(), false};
    if (unreachable)
      ctx.docker = []() -> Result<std::shared_ptr<broker::DockerClient>> {
        return fail(ErrorKind::unreachable, "Docker is not reachable at unix:///nowhere.sock");
      };
    args.insert(args.begin(), {"para-broker", "audit"});
    Audit a;
    a.code = broker::run(args, ctx);
    a.out = out.str();
    a.err = err.str();
    return a;
  }

  /// The labels para-broker gives a volume of `role` of credential `id`, and `extra`.
  static broker::Labels role_labels(const std::string& id, const std::string& role, const broker::Labels& extra) {
    broker::Labels l{
        {broker::labels::k_managed, "1"}, {broker::labels::k_role, role}, {broker::labels::k_credential, id}};
    l.insert(extra.begin(), extra.end());
    return l;
  }

  void volume(const std::string& name, broker::Labels l) {
    docker->volumes[name] = {name, "local", "/v/" + name, std::move(l)};
  }

  void container(const std::string& id, const std::string& name, const std::vector<std::string>& volumes) {
    test::FakeDocker::Container c;
    c.info.id = id;
    c.info.name = name;
    c.info.state.status = "running";
    for (const auto& v : volumes) c.info.mounts.push_back({"volume", v, "/v/" + v, "/home/u/.para-broker", true});
    docker->containers[id] = c;
  }

  test::TestEnv env;
  std::shared_ptr<test::FakeDocker> docker = std::make_shared<test::FakeDocker>();
  bool unreachable = false;
};

TEST_F(AuditCommand, AllWellIsExit0) {
  import("fresh", 6LL * 3600 * 1000);  // an OAuth access token renewed by Claude Code itself
  auto a = audit({"--json"});
  EXPECT_EQ(a.code, 0) << a.out << a.err;
  auto j = a.json();
  EXPECT_EQ(j["schema"], 1);
  EXPECT_EQ(j["credentials"][0]["state"], "valid");
  EXPECT_EQ(j["credentials"][0]["account"], "f***@example.com");
  EXPECT_TRUE(j["ok"].get<bool>());
  auto t = audit({});
  EXPECT_EQ(t.code, 0);
  EXPECT_NE(t.out.find("all is well"), std::string::npos) << t.out;
  EXPECT_EQ((t.out + a.out).find("CANARY"), std::string::npos);
  EXPECT_EQ((t.out + a.out).find("fresh@example.com"), std::string::npos);
}

TEST_F(AuditCommand, ExpiringAndExpiredAreExit10AndSaySo) {
  import("expired", -3600LL * 1000);
  import("soon", 3LL * 24 * 3600 * 1000, /*refresh=*/false);  // a setup token: never renewed
  import("later", 30LL * 24 * 3600 * 1000, /*refresh=*/false);
  auto a = audit({"--json", "--warn-days", "7"});
  EXPECT_EQ(a.code, 10) << a.out;
  auto j = a.json();
  std::map<std::string, std::string> state;
  for (const auto& c : j["credentials"]) state[c["name"]] = c["state"];
  EXPECT_EQ(state["expired"], "expired");
  EXPECT_EQ(state["soon"], "expiring");
  EXPECT_EQ(state["later"], "valid");
  EXPECT_FALSE(j["ok"].get<bool>());
  const std::string reasons = j["attention"].dump();
  EXPECT_NE(reasons.find("'expired'"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("'soon'"), std::string::npos) << reasons;
  EXPECT_EQ(reasons.find("'later'"), std::string::npos) << reasons;
  auto t = audit({"--warn-days", "2"});
  EXPECT_EQ(t.code, 10);
  EXPECT_NE(t.out.find("NEEDS ATTENTION"), std::string::npos);
  EXPECT_NE(t.out.find("'expired': its stored token expired"), std::string::npos) << t.out;
  EXPECT_EQ(t.out.find("'soon'"), std::string::npos) << t.out;  // 3 days away, outside a 2-day window
}

TEST_F(AuditCommand, LiveAndStaleVolumesFromLabels) {
  const std::string id = import("work", 6LL * 3600 * 1000);
  auto labels = [&](const std::string& role, const broker::Labels& extra) { return role_labels(id, role, extra); };
  volume("para-broker-shared-a", labels("session", {}));
  volume("para-broker-hold-s1",
         labels("hold", {{broker::labels::k_session, "s1"}, {broker::labels::k_volume, "para-broker-shared-a"}}));
  volume("para-broker-shared-b", labels("session", {}));
  volume("para-broker-hold-s2",
         labels("hold", {{broker::labels::k_session, "s2"}, {broker::labels::k_volume, "para-broker-shared-b"}}));
  volume("para-broker-shared-orphan", labels("session", {}));
  volume("unrelated", {});
  container("c1", "para-s1", {"para-broker-shared-a"});

  auto a = audit({"--json"});
  EXPECT_EQ(a.code, 10) << a.out;
  auto j = a.json();
  const auto& c = j["credentials"][0];
  EXPECT_EQ(c["sessions"], nlohmann::json({"s1", "s2 (stale)"}));
  EXPECT_EQ(c["volumes"], nlohmann::json({"para-broker-shared-a", "para-broker-shared-b (stale)",
                                          "para-broker-shared-orphan (stale)"}));
  std::map<std::string, bool> stale;
  for (const auto& v : j["docker"]["volumes"]) stale[v["name"]] = v["stale"];
  EXPECT_EQ(stale.size(), 5u);  // the unlabelled volume is not ours
  EXPECT_TRUE(stale["para-broker-shared-b"]);
  EXPECT_FALSE(stale["para-broker-shared-a"]);
  EXPECT_FALSE(stale["para-broker-hold-s1"]);
  EXPECT_TRUE(stale["para-broker-hold-s2"]);
  EXPECT_TRUE(stale["para-broker-shared-orphan"]);
  EXPECT_NE(j["attention"].dump().find("para-broker gc"), std::string::npos);

  // Once s2's container exists too, only the orphan is left to collect.
  container("c2", "para-s2", {"para-broker-shared-b"});
  docker->volumes.erase("para-broker-shared-orphan");
  auto b = audit({});
  EXPECT_EQ(b.code, 0) << b.out;
  EXPECT_NE(b.out.find("s1, s2"), std::string::npos) << b.out;
}

TEST_F(AuditCommand, TheLockVolumeAndTheRelayAreReportedBesideTheLoginVolumes) {
  const std::string id = import("work", 6LL * 3600 * 1000);
  auto labels = [&](const std::string& role, const broker::Labels& extra) { return role_labels(id, role, extra); };
  const std::string a = "para-broker-user-" + id + "-aaaaaaaaaaaa";
  const std::string b = "para-broker-user-" + id + "-bbbbbbbbbbbb";
  const std::string lock = "para-broker-lock-" + id;
  volume(lock, labels("lock", {}));
  volume(a, labels("session", {}));
  volume(b, labels("session", {}));
  volume("para-broker-hold-s1", labels("hold", {{broker::labels::k_session, "s1"}, {broker::labels::k_volume, a}}));
  volume("para-broker-hold-s2", labels("hold", {{broker::labels::k_session, "s2"}, {broker::labels::k_volume, b}}));
  container("c1", "para-s1", {lock, a, "para-broker-hold-s1"});
  container("c2", "para-s2", {lock, b, "para-broker-hold-s2"});
  container("r1", "pb-relay-" + id, {a, b});
  docker->containers["r1"].info.labels = labels("relay", {});

  auto r = audit({"--json"});
  ASSERT_EQ(r.code, 0) << r.out;
  std::map<std::string, nlohmann::json> by_name;
  const auto report = r.json();
  for (const auto& v : report["docker"]["volumes"]) by_name[v["name"].get<std::string>()] = v;
  const nlohmann::json relay = "pb-relay-" + id + " (relay)";
  EXPECT_EQ(by_name[a]["containers"], nlohmann::json({"para-s1", relay})) << "the relay serves it, no user of it";
  EXPECT_FALSE(by_name[a]["stale"].get<bool>());
  EXPECT_EQ(by_name[lock]["role"], "lock");
  EXPECT_EQ(by_name[lock]["containers"], nlohmann::json({"para-s1", "para-s2"}));
  EXPECT_FALSE(by_name[lock]["stale"].get<bool>());

  // A relay that stopped is named: its users' sessions are copies until it is made again.
  docker->containers["r1"].info.state.status = "exited";
  docker->containers["r1"].info.state.running = false;
  auto down = audit({"--json"});
  EXPECT_EQ(down.code, 10) << down.out;
  EXPECT_NE(down.json()["attention"].dump().find("relay pb-relay-" + id + " (exited) does not run"), std::string::npos)
      << down.out;
  docker->containers["r1"].info.state.status = "running";
  docker->containers["r1"].info.state.running = true;

  // Every session and login volume gone: the lock volume is left over, and gc takes it.
  for (const char* c : {"c1", "c2", "r1"}) docker->containers.erase(c);
  for (const auto& v : {a, b, std::string("para-broker-hold-s1"), std::string("para-broker-hold-s2")})
    docker->volumes.erase(v);
  auto left = audit({"--json"});
  EXPECT_EQ(left.code, 10) << left.out;
  by_name.clear();
  const auto after = left.json();
  for (const auto& v : after["docker"]["volumes"]) by_name[v["name"].get<std::string>()] = v;
  EXPECT_TRUE(by_name[lock]["stale"].get<bool>());
  EXPECT_EQ(by_name[lock]["reason"], "no login volume of its credential is left");
}

TEST_F(AuditCommand, AKilledLoginsStagingVolumeIsStaleAndNamed) {
  import("work", 6LL * 3600 * 1000);
  const auto now = static_cast<long long>(std::time(nullptr));
  auto staging = [&](long long created) {
    return broker::Labels{{broker::labels::k_managed, "1"},
                          {broker::labels::k_role, "staging"},
                          {broker::labels::k_created_at, std::to_string(created)}};
  };
  volume("para-broker-login-old", staging(now - 3600));
  volume("para-broker-login-young", staging(now - 10));
  volume("para-broker-login-in-use", staging(now - 3600));
  container("c1", "para-broker-login-c1", {"para-broker-login-in-use"});

  auto a = audit({"--json"});
  EXPECT_EQ(a.code, 10) << a.out;
  auto j = a.json();
  std::map<std::string, bool> stale;
  for (const auto& v : j["docker"]["volumes"]) stale[v["name"]] = v["stale"];
  EXPECT_TRUE(stale["para-broker-login-old"]);
  EXPECT_FALSE(stale["para-broker-login-young"]) << "a login may still be starting";
  EXPECT_FALSE(stale["para-broker-login-in-use"]) << "a login container still uses it";
  const std::string attention = j["attention"].dump();
  EXPECT_NE(attention.find("para-broker-login-old is stale (left by a login that did not finish"), std::string::npos)
      << attention;
  EXPECT_NE(attention.find("remove it with 'para-broker gc'"), std::string::npos) << attention;
  EXPECT_EQ(attention.find("gc leaves it"), std::string::npos) << "gc does remove staging volumes";

  docker->volumes.erase("para-broker-login-old");
  EXPECT_EQ(audit({}).code, 0);
}

TEST_F(AuditCommand, ContainersKilledProbesImportsAndLoginsLeftAreStaleAndNamed) {
  import("work", 6LL * 3600 * 1000);
  const auto now = static_cast<long long>(std::time(nullptr));
  auto left = [&](const std::string& id, const std::string& name, broker::Role role, long long created,
                  const std::string& state, const std::vector<std::string>& volumes = {}) {
    container(id, name, volumes);
    auto& c = docker->containers[id];
    c.info.labels = broker::labels::managed(role);
    c.info.state.status = state;
    c.created = created;
  };
  left("c1", "para-broker-probe-old", broker::Role::probe, now - 3600, "created");
  left("c2", "para-broker-probe-young", broker::Role::probe, now - 5, "running");
  left("c3", "para-broker-import-old", broker::Role::reader, now - 3600, "created");
  left("c4", "para-broker-login-running", broker::Role::staging, now - 3600, "running");
  left("c5", "para-broker-login-exited", broker::Role::staging, now - 3600, "exited", {"para-broker-login-exited"});
  volume("para-broker-login-exited", {{broker::labels::k_managed, "1"},
                                      {broker::labels::k_role, "staging"},
                                      {broker::labels::k_created_at, std::to_string(now - 3600)}});

  auto a = audit({"--json"});
  EXPECT_EQ(a.code, 10) << a.out;
  auto j = a.json();
  std::map<std::string, std::string> leftovers;
  for (const auto& c : j["docker"]["leftover_containers"]) leftovers[c["name"]] = c["left_by"];
  EXPECT_EQ(leftovers, (std::map<std::string, std::string>{{"para-broker-import-old", "import"},
                                                           {"para-broker-login-exited", "login"},
                                                           {"para-broker-probe-old", "probe"}}))
      << "young probes and running logins may still be at work";
  ASSERT_EQ(j["docker"]["volumes"].size(), 1u);
  EXPECT_TRUE(j["docker"]["volumes"][0]["stale"].get<bool>())
      << "used only by a leftover, the staging volume is what a killed login left";
  const std::string attention = j["attention"].dump();
  EXPECT_NE(attention.find("container para-broker-probe-old is stale (left by a probe that was killed); remove it "
                           "with 'para-broker gc'"),
            std::string::npos)
      << attention;
  auto t = audit({});
  EXPECT_NE(t.out.find("LEFTOVER CONTAINERS"), std::string::npos) << t.out;

  // What gc would take is exactly what audit named.
  for (const auto& id : {"c1", "c3", "c5"}) docker->containers.erase(id);
  docker->volumes.erase("para-broker-login-exited");
  auto after = audit({"--json"});
  EXPECT_EQ(after.code, 0) << after.out;
  EXPECT_TRUE(after.json()["docker"]["leftover_containers"].empty());
}

TEST_F(AuditCommand, DockerUnreachableStillReportsCredentialsAndIsExit10) {
  import("work", 6LL * 3600 * 1000);
  unreachable = true;
  auto t = audit({});
  EXPECT_EQ(t.code, 10);
  EXPECT_NE(t.out.find("w***@example.com"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("could not look: Docker is not reachable"), std::string::npos) << t.out;
  auto j = audit({"--json", "--images"}).json();
  EXPECT_FALSE(j["docker"]["looked"].get<bool>());
  EXPECT_FALSE(j["images"]["looked"].get<bool>());
  EXPECT_EQ(j["credentials"].size(), 1u);
}

TEST_F(AuditCommand, ImagesFromTheFakeExport) {
  import("work", 6LL * 3600 * 1000);
  broker::ImageInfo baked;
  baked.id = "sha256:b1";
  baked.repo_tags = {"baked:1"};
  baked.layers = {"sha256:d0", "sha256:d1", "sha256:d2", "sha256:d3", "sha256:d4"};
  broker::ImageInfo clean;
  clean.id = "sha256:c1";
  clean.repo_tags = {"clean:1"};
  docker->images["sha256:b1"] = baked;  // the fake inspects by key; the product inspects by ID
  docker->images["sha256:c1"] = clean;
  docker->image_exports["sha256:b1"] = baked_save();
  docker->image_exports["sha256:c1"] =
      make_tar({{"x/layer.tar", make_tar({{"etc/a", "b"}})}, {"manifest.json", manifest({"x/layer.tar"})}});
  auto a = audit({"--images", "--json"});
  EXPECT_EQ(a.code, 10) << a.out;
  auto j = a.json();
  EXPECT_EQ(j["images"]["scanned"], 2);
  ASSERT_EQ(j["images"]["images"].size(), 1u) << j["images"].dump();
  const auto& img = j["images"]["images"][0];
  EXPECT_EQ(img["tags"], nlohmann::json({"baked:1"}));
  EXPECT_EQ(img["import_command"], "para-broker import --from-image baked:1");
  bool saw = false;
  for (const auto& f : img["findings"])
    if (f["path"] == "/root/.claude/.credentials.json" && f["layer"] == 0) {
      saw = true;
      EXPECT_EQ(f["state"], "deleted");
      EXPECT_EQ(f["changed_in_layer"], 1);
      EXPECT_EQ(f["diff_id"], "sha256:d0");
    }
  EXPECT_TRUE(saw) << img.dump();
  auto t = audit({"--images"});
  EXPECT_NE(t.out.find("deleted in layer 2, still in the image"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("migrate: para-broker import --from-image baked:1"), std::string::npos);
  EXPECT_EQ((a.out + t.out + t.err).find("CANARY"), std::string::npos);
  // Only one image, clean: all is well.
  auto one = audit({"--image", "sha256:c1"});
  EXPECT_EQ(one.code, 0) << one.out;
  auto both = audit({"--image", "sha256:c1", "--image", "sha256:b1", "--json"});
  EXPECT_EQ(both.code, 10) << both.out << both.err;
  EXPECT_EQ(both.json()["images"]["scanned"], 2);
}

TEST_F(AuditCommand, VerifyReportsATamperedLogAndACorruptEntry) {
  const std::string id = import("work", 6LL * 3600 * 1000);
  import("other", 6LL * 3600 * 1000);
  EXPECT_EQ(audit({"--verify"}).code, 0);
  const fs::path log = env.vault_home() / "access.log";
  const std::string text = slurp(log);
  auto pos = text.find("\"op\":\"capture\"");
  ASSERT_NE(pos, std::string::npos);
  std::string edited = text;
  edited.replace(pos, 14, "\"op\":\"captuRe\"");
  write(log, edited);
  auto a = audit({"--verify", "--json"});
  EXPECT_EQ(a.code, 10) << a.out;
  auto j = a.json();
  EXPECT_FALSE(j["verify"]["ok"].get<bool>());
  EXPECT_FALSE(j["verify"]["problems"].empty());
  write(log, text);
  EXPECT_EQ(audit({"--verify"}).code, 0);

  const fs::path entry = env.vault_home() / "entries" / (id + ".pbe");
  std::string bytes = slurp(entry);
  bytes[bytes.size() - 5] = static_cast<char>(bytes[bytes.size() - 5] ^ 1);  // inside the payload box
  write(entry, bytes);
  auto t = audit({"--verify"});
  EXPECT_EQ(t.code, 10) << t.out;
  EXPECT_NE(t.out.find("FAILED"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find(id), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("other"), std::string::npos);  // the rest is still listed
}

}  // namespace
}  // namespace pb
