#pragma once
// The offline test images that tests/images/build.sh makes, as data: who runs
// Claude Code in each and where that Claude Code keeps its state (the
// locations are those of CLAUDE-CODE-FACTS and are proved by the e2e harness
// test, tests/e2e/harness_test.cpp). Tests that need an image attach to the
// `test_images` ctest fixture (pb_add_docker_test in tests/images/CMakeLists.txt).

#include <array>
#include <ostream>
#include <string>
#include <string_view>

namespace pb::test {

/// Reference of a test image by its builder name, e.g. "pb-test/claude-2x-root:latest".
inline std::string test_image(std::string_view name) {
  return "pb-test/" + std::string(name) + ":latest";
}

/// Label every test image carries (value "images"), and the per-image name label.
inline constexpr const char* k_test_images_label_value = "images";
inline constexpr const char* k_test_image_name_label = "para-broker.test-image";

struct ClaudeTestImage {
  const char* name;         ///< builder name (test_image(name) is the reference)
  const char* version;      ///< Claude Code version installed
  const char* kind;         ///< probe kind: "npm-js" or "npm-native"
  const char* claude_path;  ///< what /usr/local/bin/claude points to
  const char* user;         ///< the image's USER
  int uid;
  int gid;
  const char* home;               ///< the image's HOME
  const char* xdg_config_home;    ///< ENV XDG_CONFIG_HOME, or "" when unset
  const char* claude_config_dir;  ///< ENV CLAUDE_CONFIG_DIR, or "" when unset
  const char* config_dir;         ///< <cfg>: where .credentials.json is read
  const char* global_config;      ///< the .claude.json that Claude reads
};

/// How gtest prints a parameter: its name, not 88 bytes of pointers.
inline void PrintTo(const ClaudeTestImage& image, std::ostream* os) {
  *os << image.name;
}

inline constexpr const char* k_js_path = "/usr/local/lib/node_modules/@anthropic-ai/claude-code/cli.js";
inline constexpr const char* k_native_path = "/usr/local/lib/node_modules/@anthropic-ai/claude-code/bin/claude.exe";

/// Every image with a real Claude Code build.
inline constexpr std::array<ClaudeTestImage, 14> k_claude_test_images{{
    {"claude-1031-root", "1.0.31", "npm-js", k_js_path, "root", 0, 0, "/root", "", "", "/root/.claude",
     "/root/.claude.json"},
    {"claude-1031-xdg", "1.0.31", "npm-js", k_js_path, "root", 0, 0, "/root", "/root/.config", "",
     "/root/.config/claude", "/root/.claude.json"},
    {"claude-1031-configdir", "1.0.31", "npm-js", k_js_path, "root", 0, 0, "/root", "", "/opt/claude-config",
     "/opt/claude-config", "/opt/claude-config/.claude.json"},
    {"claude-1031-dev", "1.0.31", "npm-js", k_js_path, "dev", 1234, 1234, "/home/dev", "", "", "/home/dev/.claude",
     "/home/dev/.claude.json"},
    {"para-claude", "1.0.31", "npm-js", k_js_path, "para", 1000, 1000, "/home/para", "", "", "/home/para/.claude",
     "/home/para/.claude.json"},
    {"claude-1031-xdg-1001", "1.0.31", "npm-js", k_js_path, "u1001", 1001, 1001, "/home/u1001", "/home/u1001/.config",
     "", "/home/u1001/.config/claude", "/home/u1001/.claude.json"},
    {"claude-1031-configdir-1002", "1.0.31", "npm-js", k_js_path, "u1002", 1002, 1002, "/home/u1002", "",
     "/home/u1002/claude-config", "/home/u1002/claude-config", "/home/u1002/claude-config/.claude.json"},
    {"claude-2x-root", "2.1.332", "npm-native", k_native_path, "root", 0, 0, "/root", "", "", "/root/.claude",
     "/root/.claude.json"},
    {"claude-2x-xdg", "2.1.332", "npm-native", k_native_path, "root", 0, 0, "/root", "/root/.config", "",
     "/root/.claude", "/root/.claude.json"},
    {"claude-2x-configdir", "2.1.332", "npm-native", k_native_path, "root", 0, 0, "/root", "", "/opt/claude-config",
     "/opt/claude-config", "/opt/claude-config/.claude.json"},
    {"claude-2x-dev", "2.1.332", "npm-native", k_native_path, "dev", 1234, 1234, "/home/dev", "", "",
     "/home/dev/.claude", "/home/dev/.claude.json"},
    {"para-claude-2x", "2.1.332", "npm-native", k_native_path, "para", 1000, 1000, "/home/para", "", "",
     "/home/para/.claude", "/home/para/.claude.json"},
    {"claude-2x-xdg-1001", "2.1.332", "npm-native", k_native_path, "u1001", 1001, 1001, "/home/u1001",
     "/home/u1001/.config", "", "/home/u1001/.claude", "/home/u1001/.claude.json"},
    {"claude-2x-configdir-1002", "2.1.332", "npm-native", k_native_path, "u1002", 1002, 1002, "/home/u1002", "",
     "/home/u1002/claude-config", "/home/u1002/claude-config", "/home/u1002/claude-config/.claude.json"},
}};

/// The other images: no Claude Code at all (busybox sh and bash, root); Claude
/// Code 2.1.332 but no shell at all (root); the `claude /login` stand-in
/// (npm-js layout, package.json version 1.0.40, root); a login baked into a
/// layer of claude-2x-root, and the same deleted again by a later layer.
inline constexpr const char* k_no_claude_image = "no-claude";
inline constexpr const char* k_no_shell_image = "no-shell";
inline constexpr const char* k_standin_login_image = "standin-login";
inline constexpr const char* k_authed_layer_image = "authed-layer";
inline constexpr const char* k_authed_whiteout_image = "authed-whiteout";
/// The canary tokens baked into authed-layer (and left in a lower layer of authed-whiteout).
inline constexpr const char* k_baked_access_token = "sk-ant-oat01-CANARY-test-baked-access";
inline constexpr const char* k_baked_refresh_token = "sk-ant-ort01-CANARY-test-baked-refresh";
/// What the stand-in writes for code C: accessToken k_standin_access_prefix + C,
/// refreshToken k_standin_refresh_prefix + C, e-mail canary-test-C@example.com.
inline constexpr const char* k_standin_access_prefix = "sk-ant-oat01-CANARY-test-";
inline constexpr const char* k_standin_refresh_prefix = "sk-ant-ort01-CANARY-test-";

}  // namespace pb::test
