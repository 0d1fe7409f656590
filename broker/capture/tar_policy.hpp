#pragma once
// The strict entry policy for tar streams that come out of containers and
// images (Docker's archive API). Everything in such a stream is hostile: it
// is read into memory only, never extracted, and refused (ErrorKind::
// unsafe_input, exit 7) unless every entry is a plain regular file with one of
// the expected names, within the bounds below.
//
// Refused: more than max_entries entries; names that core/names.hpp's
// clean_entry_name() refuses (absolute, `..`, control characters, not UTF-8); symlinks,
// hardlinks, directories, devices, FIFOs, sockets; a name not asked for or
// seen twice; a file over its bound (by header or by content); a stream that
// is not a tar archive or ends early. A `.claude.json` is reduced to its login
// keys while its data blocks stream through the reducer, so its size is
// bounded by the reducer, not by memory.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/secure_buffer.hpp"

namespace pb::broker::capture {

struct WantedFile {
  enum class Mode {
    whole,        ///< kept as is (bounded by max_bytes)
    claude_json,  ///< streamed through vault::reduce_claude_json (bounded by max_bytes)
  };
  std::string name;  ///< the entry's name ("./" prefix tolerated), e.g. ".credentials.json"
  Mode mode = Mode::whole;
  std::uint64_t max_bytes = 1u << 20;
};

struct TarPolicy {
  std::vector<WantedFile> files;
  std::size_t max_entries = 4;
};

/// Pulls up to out.size() bytes of the tar stream; 0 only at its end.
using TarSource = std::function<Result<std::size_t>(std::span<std::byte> out)>;

/// Entry name -> contents (a claude_json entry already reduced). Files the
/// archive does not hold are absent.
using TarFiles = std::map<std::string, SecureBytes>;

/// Reads a tar stream under `policy`. `what` names the stream in messages
/// ("the archive of /root/.claude.json in container 1a2b"). Errors of the
/// source itself (Docker) are passed through unchanged.
Result<TarFiles> read_tar(const TarSource& source, const TarPolicy& policy, std::string_view what);

/// The same over bytes in memory (tests, fuzzing).
Result<TarFiles> read_tar(ByteSpan bytes, const TarPolicy& policy, std::string_view what);

}  // namespace pb::broker::capture
