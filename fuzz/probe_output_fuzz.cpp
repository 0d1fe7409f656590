// Fuzzes what the in-container probe script prints (probes/facts.cpp
// parse_probe_output), and for facts it accepts, their interpretation
// (probes/interpret.cpp) with the built-in knowledge and the report's JSON and
// text forms: the report must survive its own round trip, and its text form
// must carry no control characters but newlines.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "probes/facts.hpp"
#include "probes/interpret.hpp"
#include "probes/knowledge.hpp"
#include "probes/report.hpp"

using namespace pb::probes;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto facts = parse_probe_output(text);
  if (!facts.ok()) return 0;
  const auto& k = builtin_knowledge();
  if (!k.ok()) __builtin_trap();
  ProbeReport r = interpret(*k, *facts);
  r.image = "app:1";
  r.image_id = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  const std::string json = report_to_json(r, -1);
  auto back = report_from_json(json);
  if (!back.ok()) __builtin_trap();
  if (report_to_json(*back, -1) != json) __builtin_trap();
  for (char c : report_to_text(r))
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\n') || c == 0x7f) __builtin_trap();
  if (!r.rule.empty()) (void)locations_with_env(*k, r, {{"CLAUDE_CONFIG_DIR", "/cfg"}});
  return 0;
}
