#include "store/space_reserve.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/text_format.h"

namespace secretfs::store {
namespace {

constexpr uint64_t kPageBytes = 4096;
// The first allocation step; halved down to a page when the disk has not room for it, so that a
// nearly full disk still gives what it has (posix_fallocate may give all or nothing of a call).
constexpr uint64_t kStepBytes = uint64_t{1} << 20;

std::string PathOf(const std::string& dir) { return dir + "/" + kSpaceReserveFile; }

// The bytes of `st` that have blocks behind them, at most its size.
uint64_t AllocatedBytes(const struct stat& st) {
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  return std::min(size, static_cast<uint64_t>(st.st_blocks) * 512);
}

}  // namespace

uint64_t SpaceReserveTarget(uint64_t filesystem_bytes) {
  const uint64_t share = std::min(filesystem_bytes / 32, kMaxSpaceReserveBytes);
  return share / kPageBytes * kPageBytes;
}

Result<uint64_t> KeepSpaceReserve(const std::string& dir) {
  const std::string path = PathOf(dir);
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::FromErrno(errno, "the space reserve " + path);
  struct statvfs fs {};
  struct stat st {};
  if (fstatvfs(fd, &fs) != 0 || fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    return Status::FromErrno(err, "the space reserve " + path);
  }
  const uint64_t target = SpaceReserveTarget(uint64_t{fs.f_blocks} * fs.f_frsize);
  if (AllocatedBytes(st) >= target) {
    close(fd);
    return AllocatedBytes(st);
  }
  // From the start: a file made sparse by someone else gets its holes filled too, and ranges
  // that already have blocks cost nothing.
  uint64_t held = 0;
  uint64_t step = kStepBytes;
  int rc = 0;
  while (held < target) {
    step = std::min(step, target - held);
    rc = posix_fallocate(fd, static_cast<off_t>(held), static_cast<off_t>(step));
    if (rc == ENOSPC && step > kPageBytes) {
      step /= 2;  // a smaller step may still fit
      continue;
    }
    if (rc != 0) break;
    held += step;
  }
  close(fd);
  if (rc == ENOSPC)
    return Status(ENOSPC, "the disk holding " + dir + " has room for " + FormatSize(held) +
                              " of the " + FormatSize(target) + " it keeps in reserve (" + path +
                              "); when it fills, audit prune and destroy may not be able to "
                              "free space");
  if (rc != 0) return Status::FromErrno(rc, "reserving space in " + path);
  return held;
}

Result<uint64_t> ReleaseSpaceReserve(const std::string& dir) {
  const std::string path = PathOf(dir);
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return uint64_t{0};
    return Status::FromErrno(errno, "the space reserve " + path);
  }
  if (unlink(path.c_str()) != 0) return Status::FromErrno(errno, "removing " + path);
  return S_ISREG(st.st_mode) ? AllocatedBytes(st) : 0;
}

}  // namespace secretfs::store
