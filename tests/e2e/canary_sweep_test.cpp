// Canary sweep: one full flow with canary tokens (import, probe, mount of two
// sessions in two images, a dispatched container whose real Claude Code
// sends the login to the loopback API stand-in, a refresh inside its volume,
// sync that writes it back and copies it to the other session's volume,
// release, audit), and a search for those tokens everywhere they must not be:
//
//   - stdout and stderr of every para-broker command (and of the docker
//     commands that inspect the container and the volumes);
//   - /proc/*/cmdline and /proc/*/environ of every process on the machine,
//     the stored configuration of every container, and the writable layer of
//     each helper container the broker makes, swept continuously from a
//     background thread while the flow runs. The sweep must have caught each
//     mount, sync and release process and a helper container, and it must
//     find two decoys planted in a process's arguments and environment, else
//     it proves nothing;
//   - `docker inspect` of the dispatched container and of the volumes, the
//     container's writable layer and its directory under Docker's root;
//   - the vault directory (access log included), the probe cache, the test's
//     HOME, and every file created or changed in /tmp, /var/tmp, /dev/shm,
//     /run, /var/log and Docker's root while the test ran.
//
// The one place the token may be in plain text is the session volumes: the
// test finds it there (so the file search demonstrably works), and they are
// gone after release. Besides the tokens, their unkeyed SHA-256 is searched
// for: a plain hash of a token identifies it as well as the token does.
//
// The tokens are written from this process to files and pipes; they never
// travel in an argument list or an environment of any process, this one
// included. Runs as root on the machine of the Docker daemon (overlay2).

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/secure_buffer.hpp"
#include "tests/e2e/dispatch_support.hpp"
#include "tests/images/test_images.hpp"
#include "tests/support/fake_api_process.hpp"
#include "tests/support/test_env.hpp"
#include "vault/crypto.hpp"

namespace fs = std::filesystem;

namespace pb::test {
namespace {

using Clock = std::chrono::steady_clock;

/// Something that must not be found; reports name it by `name`, never by value.
struct Needle {
  std::string name;
  std::string value;
};

std::string random_hex(std::size_t n) {
  std::random_device rd;
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += "0123456789abcdef"[rd() % 16];
  return s;
}

/// The first needle found in `text`, or nullptr.
const Needle* find_needle(const std::vector<Needle>& needles, std::string_view text) {
  for (const auto& n : needles)
    if (text.find(n.value) != std::string_view::npos) return &n;
  return nullptr;
}

/// Whole small file by raw reads (a /proc file reports size 0).
std::string slurp(const std::string& path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[65536];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

std::vector<std::string> split_nul(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < s.size()) {
    auto end = s.find('\0', start);
    if (end == std::string::npos) end = s.size();
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

/// Searches regular files under a directory tree for needles, without following symlinks.
class FileSweep {
 public:
  explicit FileSweep(const std::vector<Needle>& needles) : m_needles(needles) {
    for (const auto& n : needles) m_overlap = std::max(m_overlap, n.value.size());
  }

  /// Files under `root` (only those changed at or after `since` when given) that hold a needle:
  /// "<path>: <needle name>". Paths under `skip` are left out.
  std::vector<std::string> scan(const fs::path& root, std::optional<timespec> since = std::nullopt,
                                const std::vector<fs::path>& skip = {}) {
    std::vector<std::string> hits;
    walk(root, since, skip, hits);
    return hits;
  }
  std::size_t files_read() const { return m_files; }

 private:
  static bool at_or_after(const timespec& t, const timespec& since) {
    return t.tv_sec > since.tv_sec || (t.tv_sec == since.tv_sec && t.tv_nsec >= since.tv_nsec);
  }

  void walk(const fs::path& p, const std::optional<timespec>& since, const std::vector<fs::path>& skip,
            std::vector<std::string>& hits) {
    for (const auto& s : skip)
      if (p == s) return;
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) return;  // gone meanwhile
    if (S_ISDIR(st.st_mode)) {
      std::error_code ec;
      for (fs::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec))
        walk(it->path(), since, skip, hits);
      return;
    }
    if (!S_ISREG(st.st_mode)) return;
    if (since && !at_or_after(st.st_mtim, *since) && !at_or_after(st.st_ctim, *since)) return;
    if (const Needle* n = file_needle(p)) hits.push_back(p.string() + ": " + n->name);
  }

  /// Reads in chunks that overlap by the longest needle, so a needle across a chunk boundary is found.
  const Needle* file_needle(const fs::path& p) {
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return nullptr;
    ++m_files;
    std::string window;
    std::vector<char> buf(1 << 20);
    const Needle* found = nullptr;
    for (ssize_t n; found == nullptr && (n = ::read(fd, buf.data(), buf.size())) > 0;) {
      window.append(buf.data(), static_cast<std::size_t>(n));
      found = find_needle(m_needles, window);
      if (window.size() > m_overlap) window.erase(0, window.size() - m_overlap);
    }
    ::close(fd);
    return found;
  }

  const std::vector<Needle>& m_needles;
  std::size_t m_overlap = 0;
  std::size_t m_files = 0;
};

/// Sweeps, as fast as it can until stopped: /proc/*/cmdline and
/// /proc/*/environ of every process; the stored configuration of every
/// container (<docker root>/containers/*/{config.v2.json,hostconfig.json},
/// where a helper container's environment and command would show while it
/// exists); and the writable layer of this test's helper containers (what the
/// broker extracts must land in the volume, not there). Records any needle,
/// every para-broker process of this test (recognised by its binary and by the
/// vault in its environment, which also proves that environments were read)
/// and every helper container of this test.
class LiveSampler {
 public:
  LiveSampler(std::vector<Needle> needles, std::string marker, std::string label, fs::path docker_root)
      : m_needles(std::move(needles)),
        m_marker(std::move(marker)),
        m_docker_root(std::move(docker_root)),
        m_label_json("\"" + std::string(k_test_label) + "\":\"" + label + "\""),
        m_thread([this](std::stop_token st) { run(st); }) {}
  ~LiveSampler() { stop(); }
  LiveSampler(const LiveSampler&) = delete;
  LiveSampler& operator=(const LiveSampler&) = delete;

  void stop() {
    if (m_thread.joinable()) {
      m_thread.request_stop();
      m_thread.join();
    }
  }

  struct Seen {
    std::set<pid_t> pids;
    std::size_t samples = 0;  ///< sweeps that caught one of them
  };

  /// "pid <n> (<comm>) <cmdline|environ>: <needle name>" or "container <id> <file>: <needle name>", once each.
  std::set<std::string> hits() const {
    std::lock_guard lock(m_mu);
    return m_hits;
  }
  /// This test's para-broker processes by subcommand.
  std::map<std::string, Seen> seen() const {
    std::lock_guard lock(m_mu);
    return m_seen;
  }
  /// This test's helper containers whose configuration was read.
  std::set<std::string> helpers() const {
    std::lock_guard lock(m_mu);
    return m_helpers;
  }
  std::size_t sweeps() const { return m_sweeps; }
  std::size_t max_processes() const { return m_max_processes; }
  /// Sweeps of helper layers (valid once stopped).
  std::size_t layer_sweeps() const { return m_layer_sweeps; }

 private:
  void run(std::stop_token st) {
    while (!st.stop_requested()) {
      sweep_processes();
      sweep_containers();
      ++m_sweeps;
    }
  }

  void hit(std::string what) {
    std::lock_guard lock(m_mu);
    m_hits.insert(std::move(what));
  }

  void sweep_processes() {
    DIR* dir = ::opendir("/proc");
    if (dir == nullptr) return;
    std::size_t processes = 0;
    while (dirent* e = ::readdir(dir)) {
      const std::string name = e->d_name;
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      ++processes;
      const std::string base = "/proc/" + name;
      const std::string cmdline = slurp(base + "/cmdline");
      const std::string environ_text = slurp(base + "/environ");
      for (const auto& [where, text] : {std::pair{"cmdline", &cmdline}, std::pair{"environ", &environ_text}}) {
        if (const Needle* n = find_needle(m_needles, *text)) {
          std::string comm = slurp(base + "/comm");
          if (!comm.empty() && comm.back() == '\n') comm.pop_back();
          hit("pid " + name + " (" + comm + ") " + where + ": " + n->name);
        }
      }
      const auto argv = split_nul(cmdline);
      if (argv.size() >= 2 && argv[0] == PB_BINARY) {
        const auto envs = split_nul(environ_text);
        if (std::find(envs.begin(), envs.end(), m_marker) != envs.end()) {
          std::lock_guard lock(m_mu);
          auto& s = m_seen[argv[1]];
          s.pids.insert(static_cast<pid_t>(std::stol(name)));
          ++s.samples;
        }
      }
    }
    ::closedir(dir);
    if (processes > m_max_processes) m_max_processes = processes;
  }

  void sweep_containers() {
    const std::string containers = (m_docker_root / "containers").string();
    DIR* dir = ::opendir(containers.c_str());
    if (dir == nullptr) return;
    while (dirent* e = ::readdir(dir)) {
      const std::string id = e->d_name;
      if (id.size() != 64) continue;
      const std::string base = containers + "/" + id;
      const std::string config = slurp(base + "/config.v2.json");
      const std::string host_config = slurp(base + "/hostconfig.json");
      for (const auto& [where, text] :
           {std::pair{"config.v2.json", &config}, std::pair{"hostconfig.json", &host_config}}) {
        if (const Needle* n = find_needle(m_needles, *text)) hit("container " + id + " " + where + ": " + n->name);
      }
      if (config.find(m_label_json) == std::string::npos) continue;
      auto j = nlohmann::json::parse(config, nullptr, false);
      if (j.is_discarded()) continue;  // caught while being rewritten
      const auto labels = j["Config"]["Labels"];
      if (labels.is_object() && labels.value("para-broker.role", "") == "helper") {
        {
          std::lock_guard lock(m_mu);
          m_helpers.insert(id);
        }
        sweep_helper_layer(id);
      }
    }
    ::closedir(dir);
  }

  void sweep_helper_layer(const std::string& id) {
    std::string mount_id = slurp((m_docker_root / "image/overlay2/layerdb/mounts" / id / "mount-id").string());
    if (mount_id.empty()) return;  // not created yet, or gone
    const fs::path diff = m_docker_root / "overlay2" / mount_id / "diff";
    for (const auto& h : m_layer_files.scan(diff)) hit("helper " + id.substr(0, 12) + " layer " + h);
    ++m_layer_sweeps;
  }

  const std::vector<Needle> m_needles;
  const std::string m_marker;
  const fs::path m_docker_root;
  const std::string m_label_json;
  FileSweep m_layer_files{m_needles};
  std::size_t m_layer_sweeps = 0;
  mutable std::mutex m_mu;
  std::set<std::string> m_hits;
  std::map<std::string, Seen> m_seen;
  std::set<std::string> m_helpers;
  std::atomic<std::size_t> m_sweeps{0};
  std::atomic<std::size_t> m_max_processes{0};
  std::jthread m_thread;  // last: starts once everything above is constructed
};

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += "\n  " + x;
  return s;
}

/// The dispatched container's image, and the image of a second session of the same credential (its own volume, which
/// sync brings up to date).
struct SweepImages {
  const char* image;
  const char* other;
};

void PrintTo(const SweepImages& i, std::ostream* os) {
  *os << i.image << " + " << i.other;
}

class CanarySweep : public ::testing::TestWithParam<SweepImages> {};

TEST_P(CanarySweep, TheLoginIsInPlainTextOnlyInsideTheSessionVolume) {
  PB_REQUIRE_DOCKER();
  // Every process's environment and Docker's own files are root's to read.
  ASSERT_EQ(::geteuid(), 0u) << "the canary sweep reads every process's environment and Docker's directory: run it "
                                "as root, on the machine that runs dockerd";
  auto info = docker_cli({"info", "--format", "{{.DockerRootDir}} {{.Driver}}"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const auto root_and_driver = split_ws(info.out);
  ASSERT_EQ(root_and_driver.size(), 2u) << info.out;
  const fs::path docker_root = root_and_driver[0];
  ASSERT_EQ(root_and_driver[1], "overlay2") << "the sweep reads container layers of the overlay2 driver";
  ASSERT_TRUE(fs::is_directory(docker_root / "containers")) << docker_root << " is not on this machine";
  const auto started = Clock::now();
  timespec since{};
  ::clock_gettime(CLOCK_REALTIME, &since);
  since.tv_sec -= 1;  // file systems round timestamps to their tick
  const std::string image = test_image(GetParam().image);
  const std::string other_image = test_image(GetParam().other);

  Dispatch d("sweep");
  const std::string session = d.label;
  const std::string container = "para-" + session;
  const std::string other_session = session + "-other";
  // Canary tokens (fake, test-only) whose random tails are unique to this run.
  const std::string access = "sk-ant-oat01-CANARY-test-" + random_hex(40);
  const std::string refresh = "sk-ant-ort01-CANARY-test-" + random_hex(40);
  const std::string rotated_access = "sk-ant-oat01-CANARY-test-" + random_hex(40);
  const std::string rotated_refresh = "sk-ant-ort01-CANARY-test-" + random_hex(40);
  const std::int64_t expires = expiry_from_now(1);
  std::vector<Needle> needles;
  for (const auto& [name, token] :
       {std::pair{"access token", &access}, std::pair{"refresh token", &refresh},
        std::pair{"rotated access token", &rotated_access}, std::pair{"rotated refresh token", &rotated_refresh}}) {
    // The random tail: a token cut short or re-prefixed is still found.
    needles.push_back({name, token->substr(token->size() - 40)});
    needles.push_back({std::string("sha256 of the ") + name, vault::to_hex(vault::sha256(as_bytes(*token)))});
  }

  // Decoys, planted in one process's arguments and environment: the sweep of /proc must find them.
  const Needle decoy_argv{"decoy in argv", "decoy-argv-" + random_hex(24)};
  const Needle decoy_env{"decoy in environ", "decoy-env-" + random_hex(24)};
  std::vector<Needle> live_needles = needles;
  live_needles.push_back(decoy_argv);
  live_needles.push_back(decoy_env);

  FakeApi api(300);
  LiveSampler sampler(live_needles, "PARA_BROKER_HOME=" + d.env.vault_home().string(), d.label, docker_root);
  ASSERT_EQ(run_process({"sh", "-c", "sleep 0.3", decoy_argv.value}, {{"PB_TEST_DECOY", decoy_env.value}}).exit_code,
            0);
  std::vector<std::pair<std::string, CommandResult>> outputs;
  auto cli = [&](const std::vector<std::string>& args) {
    auto r = d.env.cli(args, "", 240);
    std::string what = "para-broker";
    for (const auto& a : args) what += " " + a;
    outputs.emplace_back(what, r);
    return r;
  };
  auto docker = [&](const std::vector<std::string>& args, const std::string& input = "") {
    std::vector<std::string> argv{"docker"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_process(argv, {}, input, 180);
    outputs.emplace_back("docker " + args.front(), r);
    return r;
  };

  // import, probe, mount.
  auto imported = d.import_tokens(access, refresh, expires);
  outputs.emplace_back("para-broker import", imported);
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  auto probed = cli({"probe", image, "--json"});
  ASSERT_EQ(probed.exit_code, 0) << probed.err;
  auto mounted = cli({"mount", "--image", image, "--session", session});
  ASSERT_EQ(mounted.exit_code, 0) << mounted.err;
  const auto mount_args = split_ws(mounted.out);
  ASSERT_EQ(mount_args.size(), 10u) << mounted.out;
  auto other_mounted = cli({"mount", "--image", other_image, "--session", other_session, "--format", "json"});
  ASSERT_EQ(other_mounted.exit_code, 0) << other_mounted.err;

  // The dispatched container, as para makes it; its Claude Code sends the login to the stand-in.
  const std::string url = api.base_url();
  std::vector<std::string> create{"create",
                                  "--name",
                                  container,
                                  "--label",
                                  std::string(k_test_label) + "=" + d.label,
                                  "--network",
                                  "host",
                                  "-e",
                                  "ANTHROPIC_BASE_URL=" + url,
                                  "-e",
                                  "HTTPS_PROXY=" + url,
                                  "-e",
                                  "HTTP_PROXY=" + url,
                                  "-e",
                                  "NO_PROXY=127.0.0.1,localhost",
                                  "-e",
                                  "DISABLE_TELEMETRY=1",
                                  "-e",
                                  "DISABLE_ERROR_REPORTING=1",
                                  "-e",
                                  "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
                                  "-e",
                                  "DISABLE_AUTOUPDATER=1"};
  create.insert(create.end(), mount_args.begin(), mount_args.end());
  create.insert(create.end(), {image, "sleep", "infinity"});
  ASSERT_EQ(docker(create).exit_code, 0);
  ASSERT_EQ(docker({"start", container}).exit_code, 0);
  ASSERT_EQ(docker({"exec", "-d", container, "sh", "-c",
                    "echo $$ > /tmp/claude.pid; exec claude -p hi </dev/null >/dev/null 2>&1"})
                .exit_code,
            0);
  const auto deadline = Clock::now() + std::chrono::seconds(90);
  while (!api.saw_authorization("Bearer " + access) && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(api.saw_authorization("Bearer " + access)) << "Claude Code in the container never sent the login";
  docker({"exec", container, "sh", "-c", "kill $(cat /tmp/claude.pid) 2>/dev/null; true"});

  // A refresh inside the volume (the token goes through stdin), then sync brings it to the vault and to the other
  // session's volume.
  auto refreshed = docker({"exec", "-i", container, "sh", "-c", "cat > \"$CLAUDE_CONFIG_DIR/.credentials.json\""},
                          credentials_json(rotated_access, rotated_refresh, expires + 1000));
  ASSERT_EQ(refreshed.exit_code, 0) << refreshed.err;
  auto synced = cli({"sync"});
  EXPECT_EQ(synced.exit_code, 0) << synced.err;
  EXPECT_EQ(d.stored_expiry(), expires + 1000) << "sync did not write the refreshed login back";

  // What Docker knows about the container and the volumes, and the container's own files.
  auto inspected = docker({"inspect", container});
  ASSERT_EQ(inspected.exit_code, 0) << inspected.err;
  auto cj = nlohmann::json::parse(inspected.out, nullptr, false);
  ASSERT_TRUE(cj.is_array() && cj.size() == 1u) << inspected.out;
  const std::string container_id = cj[0]["Id"];
  const std::string upper = cj[0]["GraphDriver"]["Data"].value("UpperDir", "");
  docker({"logs", container});
  const auto volumes = d.volumes();
  ASSERT_EQ(volumes.size(), 5u) << "two login volumes (two owners), two holds and the lock volume";
  std::vector<std::string> volume_inspect{"volume", "inspect"};
  volume_inspect.insert(volume_inspect.end(), volumes.begin(), volumes.end());
  auto vinspected = docker(volume_inspect);
  ASSERT_EQ(vinspected.exit_code, 0) << vinspected.err;
  std::vector<fs::path> mountpoints;
  for (const auto& v : nlohmann::json::parse(vinspected.out)) mountpoints.emplace_back(v["Mountpoint"]);

  FileSweep files(needles);
  // The session volumes are where the login belongs: finding it there shows the search works.
  std::vector<std::string> in_volumes;
  for (const auto& m : mountpoints) {
    auto h = files.scan(m);
    in_volumes.insert(in_volumes.end(), h.begin(), h.end());
  }
  ASSERT_FALSE(in_volumes.empty()) << "the search did not find the login in the session volume; it proves nothing";
  EXPECT_EQ(
      std::count_if(in_volumes.begin(), in_volumes.end(),
                    [](const std::string& h) { return h.ends_with("/_data/.credentials.json: rotated access token"); }),
      2)
      << "the refreshed login is in both sessions' volumes:" << joined(in_volumes);
  ASSERT_FALSE(upper.empty()) << "no writable layer in docker inspect (storage driver not overlay2?)";
  EXPECT_TRUE(files.scan(upper).empty()) << "the container's writable layer holds the login:"
                                         << joined(files.scan(upper));
  const fs::path container_dir = docker_root / "containers" / container_id;
  EXPECT_TRUE(fs::exists(container_dir)) << container_dir;
  EXPECT_TRUE(files.scan(container_dir).empty()) << joined(files.scan(container_dir));

  // Session end: the container goes, then release; audit checks the vault.
  docker({"rm", "-f", container});
  for (const auto& s : {session, other_session}) {
    auto released = cli({"release", "--session", s});
    EXPECT_EQ(released.exit_code, 0) << released.err;
  }
  EXPECT_TRUE(d.volumes().empty());
  auto audited = cli({"audit", "--verify", "--json"});
  EXPECT_EQ(audited.exit_code, 0) << audited.out << audited.err;
  auto verified = cli({"vault", "verify"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  cli({"list"});
  sampler.stop();
  const double flow_s = std::chrono::duration<double>(Clock::now() - started).count();

  // 1. Outputs.
  for (const auto& [what, r] : outputs) {
    if (const Needle* n = find_needle(needles, r.out)) ADD_FAILURE() << what << " printed the " << n->name;
    if (const Needle* n = find_needle(needles, r.err))
      ADD_FAILURE() << what << " wrote the " << n->name << " to stderr";
  }

  // 2. Processes and container configurations: the decoys were found, nothing else was, and
  //    the sweep caught each para-broker command and a helper container.
  std::vector<std::string> live_hits;
  bool decoy_argv_found = false, decoy_env_found = false;
  for (const auto& h : sampler.hits()) {
    const bool argv_hit = h.find(") cmdline: " + decoy_argv.name) != std::string::npos;
    const bool env_hit = h.find(") environ: " + decoy_env.name) != std::string::npos;
    decoy_argv_found |= argv_hit;
    decoy_env_found |= env_hit;
    if (!argv_hit && !env_hit) live_hits.push_back(h);
  }
  EXPECT_TRUE(decoy_argv_found && decoy_env_found) << "the /proc sweep missed the decoys; it proves nothing";
  EXPECT_TRUE(live_hits.empty()) << "found in /proc or a container's configuration:" << joined(live_hits);
  const auto seen = sampler.seen();
  std::string caught;
  for (const auto& [cmd, s] : seen)
    caught += " " + cmd + " (" + std::to_string(s.pids.size()) + " pid(s), " + std::to_string(s.samples) + " samples)";
  std::printf(
      "[ sweep    ] %zu sweeps (up to %zu processes) in %.1f s; %zu helper container(s) read, their layers "
      "%zu times; para-broker caught:%s\n",
      sampler.sweeps(), sampler.max_processes(), flow_s, sampler.helpers().size(), sampler.layer_sweeps(),
      caught.c_str());
  EXPECT_FALSE(sampler.helpers().empty()) << "the sweep never read a helper container's configuration";
  EXPECT_GT(sampler.layer_sweeps(), 0u) << "the sweep never read a helper container's layer";
  for (const char* cmd : {"mount", "sync", "release"})
    EXPECT_TRUE(seen.count(cmd)) << "the /proc sweep never caught para-broker " << cmd << " running";

  // 3. The access log: every access recorded, with a fingerprint, never the token.
  const auto records = access_log(d.env);
  EXPECT_EQ(count_ops(records, "capture"), 1u);
  EXPECT_EQ(count_ops(records, "mount"), 2u);
  EXPECT_EQ(count_ops(records, "writeback"), 1u) << "sync writes back the refreshed login";
  EXPECT_EQ(count_ops(records, "sync"), 1u);
  EXPECT_EQ(count_ops(records, "release"), 2u);
  for (const auto& r : records) {
    if (r.value("op", "") == "mount" || r.value("op", "") == "release") {
      EXPECT_FALSE(r.value("fingerprint", "").empty()) << r.dump();
    }
  }
  std::vector<std::string> log_files;
  for (const auto& e : fs::directory_iterator(d.env.vault_home()))
    if (e.path().filename().string().rfind("access", 0) == 0) log_files.push_back(e.path().string());
  EXPECT_FALSE(log_files.empty());
  for (const auto& f : log_files) EXPECT_FALSE(find_needle(needles, read_file(f))) << f;

  // 4. Files: the test's root (vault, key, probe cache, HOME) in full, and whatever changed
  //    elsewhere while the test ran.
  EXPECT_TRUE(fs::exists(d.env.vault_home() / "entries"));
  EXPECT_TRUE(fs::exists(d.env.cache_dir()));
  ASSERT_EQ(d.env.vault_home().parent_path(), d.env.root());
  ASSERT_EQ(d.env.cache_dir().parent_path(), d.env.root());
  std::vector<std::string> leaks = files.scan(d.env.root());
  for (const fs::path& root : {fs::path("/tmp"), fs::path("/var/tmp"), fs::path("/dev/shm"), fs::path("/run"),
                               fs::path("/var/log"), docker_root}) {
    auto h = files.scan(root, since, {api.record_file().parent_path(), d.env.root()});
    leaks.insert(leaks.end(), h.begin(), h.end());
  }
  EXPECT_TRUE(leaks.empty()) << "outside the session volume:" << joined(leaks);
  std::printf("[ sweep    ] %zu files searched, %zu command outputs, %zu access-log records\n", files.files_read(),
              outputs.size(), records.size());
  std::fflush(stdout);
}

INSTANTIATE_TEST_SUITE_P(RealClaude, CanarySweep,
                         ::testing::Values(SweepImages{"claude-2x-dev", "para-claude-2x"},
                                           SweepImages{"para-claude", "claude-1031-dev"}),
                         [](const ::testing::TestParamInfo<SweepImages>& p) {
                           std::string name = p.param.image;
                           for (char& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

}  // namespace
}  // namespace pb::test
