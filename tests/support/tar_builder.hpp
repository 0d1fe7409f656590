#pragma once
// Crafted tar archives in memory, for tests of everything that reads tars
// from containers and images (hostile shapes included).

#include <archive_entry.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pb::test {

struct TarEntry {
  TarEntry(std::string n, std::string d, unsigned t = AE_IFREG, std::string l = {}, std::string h = {},
           std::int64_t size = -1)
      : name(std::move(n)),
        data(std::move(d)),
        type(t),
        link(std::move(l)),
        hardlink(std::move(h)),
        declared_size(size) {}
  std::string name;
  std::string data;
  unsigned type = AE_IFREG;         ///< AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR, AE_IFBLK, AE_IFIFO
  std::string link;                 ///< symlink target
  std::string hardlink;             ///< hardlink target
  std::int64_t declared_size = -1;  ///< header size when it should lie
};

/// A tar (pax, or GNU with `gnu`) of the entries, unpadded; directories 0700, the rest 0600.
std::string make_tar(const std::vector<TarEntry>& entries, bool gnu = false);

}  // namespace pb::test
