#include "fs/space_watch.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>

#include "common/text_format.h"
#include "fs/log.h"
#include "store/space_reserve.h"

namespace secretfs::fs {

uint64_t LowSpaceThreshold(uint64_t filesystem_bytes) {
  constexpr uint64_t kMostBytes = uint64_t{4} << 30;  // a big disk is not "low" at 5% free
  return std::max(std::min(filesystem_bytes / 20, kMostBytes),
                  2 * store::SpaceReserveTarget(filesystem_bytes));
}

void SpaceWatch::Look() {
  struct statvfs fs {};
  if (statvfs(dir_.c_str(), &fs) != 0) return;  // the store's own errors say more, and sooner
  const uint64_t total = uint64_t{fs.f_blocks} * fs.f_frsize;
  const uint64_t free = uint64_t{fs.f_bavail} * fs.f_frsize;
  const bool was_low = low_.holding();
  const bool low = free < LowSpaceThreshold(total);
  if (low_.Due(low)) {
    const unsigned percent = total == 0 ? 0 : static_cast<unsigned>(free * 100 / total);
    LogWarning("store",
               Status(ENOSPC, "the disk holding " + dir_ +
                                  " is running out of space: " + FormatSize(free) + " free of " +
                                  FormatSize(total) + " (" + std::to_string(percent) +
                                  "%). Every read is an audit event; once the disk is full, "
                                  "every access fails. Prune the log (secretfs audit prune "
                                  "--before T) or make room"));
  } else if (!low && was_low) {
    LogInfo("store: the disk holding " + dir_ + " has room again (" + FormatSize(free) + " free)");
  }
}

}  // namespace secretfs::fs
