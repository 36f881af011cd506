// Warns in the daemon's log while the disk holding the store runs low, as auditd's space_left
// does: every read is a committed audit event, so the log grows with use, and once the disk is
// full every access fails closed (docs/operations.md). A thread of its own looks every few
// seconds; nothing on the request path.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "fs/periodic_thread.h"

namespace secretfs::fs {

// The free bytes below which the disk of a filesystem of `filesystem_bytes` counts as low: a 20th
// of it, at most 4 GiB (a warning must mean something on a 10 TB disk too), and never less than
// twice the store's space reserve (store/space_reserve.h).
uint64_t LowSpaceThreshold(uint64_t filesystem_bytes);

class SpaceWatch {
 public:
  struct Options {
    std::chrono::milliseconds period{std::chrono::seconds(10)};  // how often it looks
    std::chrono::milliseconds repeat{std::chrono::minutes(10)};  // re-warning while still low
  };
  // Starts watching the filesystem of directory `dir`; the first look is at once.
  SpaceWatch(std::string dir, Options options)
      : dir_(std::move(dir)), low_(options.repeat), thread_(options.period, [this] { Look(); }) {}
  explicit SpaceWatch(std::string dir) : SpaceWatch(std::move(dir), Options{}) {}

 private:
  // One look: a warning when the disk turns low and every `repeat` while it stays low, a notice
  // when it has room again. Only the thread calls it.
  void Look();

  const std::string dir_;
  RecurringCondition low_;
  PeriodicThread thread_;  // last: stopped before the rest goes
};

}  // namespace secretfs::fs
