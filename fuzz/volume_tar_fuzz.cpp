// Fuzzes the tars read back out of session volumes at release and sync
// (broker/dispatch/volume_tar.cpp): read_tree() on hostile bytes, and for
// what it accepts, render_tree() and read_tree() again must give the same tree.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "broker/dispatch/volume_tar.hpp"
#include "fuzz/support/memory_reader.hpp"

using namespace pb::broker::dispatch;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const std::size_t k_pieces[] = {65536, 1, 512, 10000};
  TreeLimits limits;
  limits.max_entries = 64;
  limits.max_file_size = 64u << 10;
  limits.max_total_size = 256u << 10;
  pb::fuzz::MemoryReader reader(std::span(data + 1, size - 1), k_pieces[data[0] % 4]);
  auto tree = read_tree(reader, limits, "the fuzz volume");
  if (!tree.ok()) return 0;
  for (const auto& e : *tree) {
    if (e.name.empty() || e.name.front() == '/' || e.name == ".." || e.name.starts_with("../")) __builtin_trap();
    if (e.is_dir && !e.data.empty()) __builtin_trap();
  }
  auto tar = render_tree(data[0] & 4 ? ".claude" : "", *tree, 1000, 1000);
  if (!tar.ok()) return 0;
  pb::fuzz::MemoryReader again(std::span(tar->data(), tar->size()), 4096);
  TreeLimits roomy;
  roomy.max_entries = limits.max_entries + 1;
  auto back = read_tree(again, roomy, "the rendered tree");
  if (!back.ok()) __builtin_trap();
  std::size_t skip = (data[0] & 4) ? 1 : 0;  // the root entry
  if (back->size() != tree->size() + skip) __builtin_trap();
  for (std::size_t i = 0; i < tree->size(); ++i) {
    const auto& a = (*tree)[i];
    const auto& b = (*back)[i + skip];
    const std::string want = skip ? ".claude/" + a.name : a.name;
    if (b.name != want || b.is_dir != a.is_dir || b.data.size() != a.data.size()) __builtin_trap();
    if (!std::equal(a.data.begin(), a.data.end(), b.data.begin())) __builtin_trap();
  }
  return 0;
}
