#pragma once
// Named crash points for fault-injection tests (docs/fault-injection.md).
//
//   PB_CRASH_POINT("vault.capture.entry_written");
//   PB_CRASH_POINT_WITH("access_log.append.torn", write_half());
//
// Built with PB_FAULT_INJECTION (test builds; release builds set it OFF) a
// point reads PARA_BROKER_CRASH_AT=<name>[:N] once: at the N-th pass (1 by
// default) through that point the process writes one line naming it to
// stderr and sends itself SIGKILL, as if killed from outside at that moment.
// PB_CRASH_POINT_WITH first runs its statement (e.g. half of a write, to
// model a kill in the middle of a system call). PARA_BROKER_CRASH_TRACE=<file>
// appends the name of every point passed to that file, so that tests learn
// which points a command reaches and how often. Without PB_FAULT_INJECTION
// the macros compile to nothing.
//
// Every point is listed in k_points below; a name that is not listed does not
// compile, and the tests walk the list, so that it cannot rot.

#include <cstddef>
#include <string_view>

namespace pb::fault {

/// Which test reaches a point: the vault-only one, or the Docker one (mount, release, probe).
enum class Reach { vault, docker };

struct Point {
  std::string_view name;
  Reach reach;
};

// clang-format off
inline constexpr Point k_points[] = {
    // core/files: AtomicFile::commit (every atomic write: entries, vault.json, access.head, probe cache)
    {"files.atomic.written", Reach::vault},        // temp file written, not yet fsynced
    {"files.atomic.synced", Reach::vault},         // temp file fsynced and closed, not yet renamed
    {"files.atomic.renamed", Reach::vault},        // renamed over the target, directory not yet fsynced
    {"files.atomic.dir_synced", Reach::vault},     // directory fsynced, commit about to return
    {"files.atomic.linked", Reach::vault},         // create-only commit (key file): linked, temp not yet removed
    // vault/vault.cpp
    {"vault.init.key_file_written", Reach::vault}, // key file in place, no header yet
    {"vault.init.log_started", Reach::vault},      // the log's first record written, no header yet
    {"vault.capture.entry_written", Reach::vault}, // entry replaced, its log record not yet appended
    {"vault.touch.entry_written", Reach::docker},  // last_used written, its log record not yet appended
    {"vault.remove.unlinked", Reach::vault},       // entry unlinked, directory not yet fsynced
    {"vault.remove.synced", Reach::vault},         // removal durable, its log record not yet appended
    {"vault.rekey.new_key_written", Reach::vault}, // <key file>.new written, header still the old one
    {"vault.rekey.header_written", Reach::vault},  // new header, key file not yet renamed into place
    {"vault.rekey.key_installed", Reach::vault},   // new key file in place, rekey not yet logged
    {"vault.rekey.old_key_removed", Reach::vault}, // switched to a passphrase: old key file removed
    {"vault.open.key_installed", Reach::vault},    // open() finished an interrupted rekey
    {"vault.rotate.journal_written", Reach::vault}, // rotate: staging journal written, nothing staged yet
    {"vault.rotate.entries_staged", Reach::vault}, // rotate: entries re-encrypted into rotate/, the log not yet
    {"vault.rotate.staged", Reach::vault},         // rotate: everything staged, the header still the old one
    {"vault.rotate.committed", Reach::vault},      // rotate: the new header is in place (commit), nothing installed
    {"vault.rotate.entries_installed", Reach::vault}, // finishing a rotate: entries in place, the log not yet
    {"vault.rotate.log_installed", Reach::vault},  // finishing a rotate: log and head in place, the anchor not yet
    {"vault.rotate.installed", Reach::vault},      // finishing a rotate: all in place, rotate/ not yet removed
    // vault/access_log.cpp
    {"access_log.append.torn", Reach::vault},      // half of a record written to access.log
    {"access_log.append.record_written", Reach::vault}, // record fsynced, access.head not yet replaced
    {"access_log.append.head_written", Reach::vault}, // access.head replaced, the anchor not yet
    {"access_log.pending.torn", Reach::vault},     // half of a failed-unlock line written to access.pending
    {"access_log.pending.merged", Reach::vault},   // pending records chained, access.pending not yet removed
    // core/platform_linux.cpp (the key cache)
    {"key_cache.added", Reach::vault},             // key made in the process keyring, not yet limited in time
    // probes/cache.cpp
    {"probe_cache.before_write", Reach::docker},   // cache lock held, report about to be written
    // broker/dispatch: mount, release, gc
    {"dispatch.mount.helper_created", Reach::docker},  // keeper of the login volume created
    {"dispatch.mount.populated", Reach::docker},       // login volume holds the login, no hold yet
    {"dispatch.mount.hold_created", Reach::docker},    // the session's hold created, under the lock
    {"dispatch.mount.keeper_created", Reach::docker},  // the session's keeper created, config not yet seeded
    {"dispatch.release.written_back", Reach::docker},  // newer login written back, hold still there
    {"dispatch.release.hold_removed", Reach::docker},  // session's keeper and hold removed, login volume still there
    {"dispatch.release.volume_removed", Reach::docker}, // login volume removed, release not yet logged
    {"dispatch.gc.helper_removed", Reach::docker},     // gc removed an orphaned helper
};
// clang-format on

inline constexpr std::size_t k_point_count = sizeof(k_points) / sizeof(k_points[0]);

/// The index of `name` in k_points; a name that is not listed is a compile error.
consteval std::size_t index_of(std::string_view name) {
  for (std::size_t i = 0; i < k_point_count; ++i)
    if (k_points[i].name == name) return i;
  throw "unknown crash point: add it to k_points in core/fault.hpp";
}

#if defined(PB_FAULT_INJECTION)
/// Counts a pass through point `index` (and traces it); true when this pass is the one to crash at.
bool armed(std::size_t index) noexcept;
/// Names the point on stderr and kills the process with SIGKILL.
[[noreturn]] void crash(std::size_t index) noexcept;
#endif

}  // namespace pb::fault

#if defined(PB_FAULT_INJECTION)
#define PB_CRASH_POINT_WITH(name, ...)                                   \
  do {                                                                   \
    constexpr std::size_t pb_fault_index_ = ::pb::fault::index_of(name); \
    if (::pb::fault::armed(pb_fault_index_)) {                           \
      __VA_ARGS__;                                                       \
      ::pb::fault::crash(pb_fault_index_);                               \
    }                                                                    \
  } while (0)
#else
#define PB_CRASH_POINT_WITH(name, ...)                                       \
  do {                                                                       \
    static_assert(::pb::fault::index_of(name) < ::pb::fault::k_point_count); \
  } while (0)
#endif

#define PB_CRASH_POINT(name) PB_CRASH_POINT_WITH(name, (void)0)
