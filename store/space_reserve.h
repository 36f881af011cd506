// Disk space held back for the commands that free space. The store's own audit log can fill its
// disk (every read is a committed event), and then every commit fails, also those of
// `audit prune` and `destroy`: LMDB needs a few free pages to delete anything. The reserve is a
// file of allocated blocks next to the store; those commands give it back to the filesystem when
// they meet a full disk, run again, and reserve anew (the "ballast file" of ops practice). The
// daemon never gives it back: what a reader's events may fill, they must not also empty.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace secretfs::store {

// The reserve's file in the store's directory.
inline constexpr char kSpaceReserveFile[] = "space.reserve";
// The most a reserve holds: enough for the free-page lists of pruning tens of millions of events.
inline constexpr uint64_t kMaxSpaceReserveBytes = uint64_t{16} << 20;

// How many bytes a filesystem of `filesystem_bytes` keeps in reserve: a 32nd of it, at most
// kMaxSpaceReserveBytes, in whole 4 KiB pages (a small filesystem is not eaten up by it).
uint64_t SpaceReserveTarget(uint64_t filesystem_bytes);

// Makes DIR/space.reserve hold SpaceReserveTarget bytes of allocated blocks, allocating in steps
// so that a nearly full disk still gives what it has. Returns the bytes it holds; ENOSPC, saying
// how much it holds, when the disk has not room for all of it. Other failures (a read-only or
// foreign directory, a filesystem without allocation) are returned as they are.
Result<uint64_t> KeepSpaceReserve(const std::string& dir);

// Removes DIR/space.reserve and returns the bytes it held (0 when there was none).
Result<uint64_t> ReleaseSpaceReserve(const std::string& dir);

}  // namespace secretfs::store
