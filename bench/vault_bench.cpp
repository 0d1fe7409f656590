// Vault costs: seal/open of a credential-sized payload, and `list` over 1,000 entries.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "vault/vault.hpp"

namespace fs = std::filesystem;
using namespace pb;
using namespace pb::vault;

namespace {

void BM_SealOpen(benchmark::State& state) {
  Bytes key(32, 7);
  const std::string payload(static_cast<std::size_t>(state.range(0)), 'x');
  const auto random = system_random();
  for (auto _ : state) {
    auto box = seal(key, as_bytes(payload), as_bytes("aad"), random);
    auto back = open(key, *box, as_bytes("aad"));
    benchmark::DoNotOptimize(back);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_SealOpen)->Arg(1024)->Arg(16 * 1024);

struct Fixture {
  fs::path root;
  Options opts;
  Fixture() {
    char tmpl[] = "/tmp/pb-vault-bench-XXXXXX";
    root = ::mkdtemp(tmpl);
    opts.home = root / "vault";
    opts.key_file = root / "vault.key";
    opts.key_cache_ttl = std::chrono::seconds(0);
    auto v = Vault::open_or_create(opts);
    for (int i = 0; i < 1000; ++i) {
      Capture c;
      const std::string creds =
          R"({"claudeAiOauth":{"accessToken":"sk-ant-oat01-test-bench","refreshToken":"r","expiresAt":)" +
          std::to_string(1790000000000 + i) + R"(,"subscriptionType":"max"}})";
      const std::string cfg = R"({"hasCompletedOnboarding":true,"oauthAccount":{"emailAddress":"u)" +
                              std::to_string(i) + R"(@example.com","accountUuid":"u)" + std::to_string(i) + R"("}})";
      c.credentials_json.assign(creds.begin(), creds.end());
      c.claude_json.assign(cfg.begin(), cfg.end());
      c.source = "bench";
      (void)v->capture(c, {});
    }
  }
  ~Fixture() { fs::remove_all(root); }
};

void BM_List1000(benchmark::State& state) {
  static Fixture f;
  for (auto _ : state) {
    auto v = Vault::open(f.opts);
    auto l = v->list();
    if (l->entries.size() != 1000) state.SkipWithError("expected 1000 entries");
    benchmark::DoNotOptimize(l);
  }
}
BENCHMARK(BM_List1000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
