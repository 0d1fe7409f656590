// broker/dispatch/seed_cache.hpp on its own: the file round-trips, binds the
// image and the places it was read from, refuses what a seed never holds and
// keeps the directory within its caps. (What a mount does with it:
// SeedCacheUnit.* in dispatch_test.cpp.)

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "broker/dispatch/seed_cache.hpp"
#include "tests/support/test_env.hpp"

namespace fs = std::filesystem;

namespace pb::test {
namespace {

using broker::dispatch::ImageSeed;
using broker::dispatch::SeedCache;
using broker::dispatch::SeedSource;

SecureBytes bytes(const std::string& s) {
  return SecureBytes(s.begin(), s.end());
}

std::string image_id(int n) {
  std::string hex = std::to_string(n);
  return "sha256:" + std::string(64 - hex.size(), '0') + hex;
}

SeedSource source_of(const std::string& id) {
  return {id, "/home/dev/.claude", "/home/dev/.claude.json", true, true};
}

ImageSeed sample() {
  ImageSeed s;
  s.config.push_back({"settings.json", false, bytes(R"({"theme":"dark"})"), {}});
  s.config.push_back({"commands", true, {}, {}});
  s.config.push_back({"commands/hello.md", false, bytes("say hello"), {}});
  s.config.push_back({"commands/x.lock", false, bytes("kept: only top-level lock files are Claude's"), {}});
  s.claude_json = bytes(R"({"theme":"dark"})");
  return s;
}

class SeedCacheFile : public ::testing::Test {
 protected:
  TestEnv env;
  fs::path dir = env.cache_dir();
  SeedCache cache{dir, SecureBytes(32, 0x11)};
};

TEST_F(SeedCacheFile, RoundTripsAndBindsTheSource) {
  const auto src = source_of(image_id(1));
  EXPECT_FALSE(cache.load(src).has_value()) << "nothing cached yet";
  ASSERT_TRUE(cache.store(src, sample()).ok());
  auto got = cache.load(src);
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->config.size(), 4u);
  std::set<std::string> names;
  for (const auto& e : got->config)
    names.insert(e.name + (e.is_dir ? "/" : "=" + std::string(e.data.begin(), e.data.end())));
  EXPECT_EQ(names,
            (std::set<std::string>{"settings.json={\"theme\":\"dark\"}", "commands/", "commands/hello.md=say hello",
                                   "commands/x.lock=kept: only top-level lock files are Claude's"}));
  ASSERT_TRUE(got->claude_json.has_value());
  EXPECT_EQ(std::string(got->claude_json->begin(), got->claude_json->end()), R"({"theme":"dark"})");

  // An image without a .claude.json stays without one.
  ImageSeed none = sample();
  none.claude_json.reset();
  ASSERT_TRUE(cache.store(src, none).ok());
  EXPECT_FALSE(cache.load(src)->claude_json.has_value());

  // Every part of the source is bound in.
  for (const auto& other :
       {source_of(image_id(2)), SeedSource{src.image_id, "/root/.claude", src.global_config, true, true},
        SeedSource{src.image_id, src.config_dir, "/root/.claude.json", true, true},
        SeedSource{src.image_id, src.config_dir, src.global_config, false, true},
        SeedSource{src.image_id, src.config_dir, src.global_config, true, false}})
    EXPECT_FALSE(cache.load(other).has_value()) << other.image_id << " " << other.config_dir;
  EXPECT_TRUE(cache.load(src).has_value());
  EXPECT_FALSE(SeedCache(dir, SecureBytes(32, 0x12)).load(src).has_value()) << "another key";
}

TEST_F(SeedCacheFile, RefusesToHoldTheImagesLoginLocksOrLinks) {
  const auto src = source_of(image_id(1));
  for (const char* name : {".credentials.json", ".config.json", ".claude.json", ".oauth_refresh.lock"}) {
    ImageSeed s = sample();
    s.config.push_back({name, false, bytes("x"), {}});
    EXPECT_FALSE(cache.store(src, s).ok()) << name;
  }
  ImageSeed link = sample();
  link.config.push_back({"evil", false, {}, "/etc/shadow"});
  EXPECT_FALSE(cache.store(src, link).ok());
  EXPECT_FALSE(fs::exists(cache.file_for(src.image_id).value()));
  EXPECT_FALSE(cache.file_for("../../etc/passwd").ok());
  EXPECT_FALSE(cache.store(source_of("not-a-digest"), sample()).ok());
}

TEST_F(SeedCacheFile, AnotherVersionOrAPrivateDirectoryOthersCanWriteIsAMiss) {
  const auto src = source_of(image_id(1));
  ASSERT_TRUE(cache.store(src, sample()).ok());
  const fs::path file = cache.file_for(src.image_id).value();
  EXPECT_EQ(fs::status(file).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  std::string text;
  {
    std::ifstream in(file, std::ios::binary);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_EQ(text.substr(0, 4), "PBIS");
  ASSERT_EQ(text[4], '\x01');
  text[4] = '\x02';
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
  }
  EXPECT_FALSE(cache.load(src).has_value()) << "a version it does not know";
  ASSERT_TRUE(cache.store(src, sample()).ok());
  ASSERT_TRUE(cache.load(src).has_value());
  fs::permissions(dir, fs::perms::group_write | fs::perms::others_write, fs::perm_options::add);
  EXPECT_FALSE(cache.load(src).has_value()) << "a directory others can write";
  EXPECT_FALSE(cache.store(src, sample()).ok());
}

TEST_F(SeedCacheFile, KeepsTheMostRecentlyUsedWithinItsCaps) {
  // Times set by hand: a file system may give writes within a tick one time.
  const auto base = fs::file_time_type::clock::now() - std::chrono::hours(1);
  const int n = static_cast<int>(broker::dispatch::k_max_seed_files) + 4;
  for (int i = 0; i <= n; ++i) {
    ASSERT_TRUE(cache.store(source_of(image_id(i)), sample()).ok());
    fs::last_write_time(cache.file_for(image_id(i)).value(), base + std::chrono::seconds(i));
    // The first is used all along (a hit counts as a use): it outlives the others of its age.
    ASSERT_TRUE(cache.load(source_of(image_id(0))).has_value()) << i;
  }
  std::size_t seeds = 0;
  for (const auto& f : fs::directory_iterator(dir))
    if (f.path().filename().string().starts_with("seed-")) ++seeds;
  EXPECT_EQ(seeds, broker::dispatch::k_max_seed_files);
  EXPECT_TRUE(cache.load(source_of(image_id(0))).has_value());
  EXPECT_FALSE(cache.load(source_of(image_id(1))).has_value()) << "the least recently used went";
  EXPECT_TRUE(cache.load(source_of(image_id(n))).has_value());
}

}  // namespace
}  // namespace pb::test
