#include "store/lock_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

namespace secretfs::store {
namespace {

// LMDB locks the first byte of lock.mdb for as long as a process has the store open.
struct flock FirstByte(short type) {
  struct flock lock {};
  lock.l_type = type;
  lock.l_whence = SEEK_SET;
  lock.l_start = 0;
  lock.l_len = 1;
  return lock;
}

// Whether a lock that is not `fd`'s own is held on the first byte of its file. An OFD probe
// also sees classic locks (LMDB's), whichever process holds them.
bool LockedByOthers(int fd) {
  struct flock probe = FirstByte(F_WRLCK);
  return fcntl(fd, F_OFD_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
}

// Whether another process holds an OpenMark of the store at `dir`.
bool InUseElsewhere(const std::string& dir) {
  const int data = open((dir + "/data.mdb").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (data < 0) return false;
  const bool in_use = LockedByOthers(data);
  close(data);
  return in_use;
}

}  // namespace

Status PrepareLockFile(const std::string& dir) {
  constexpr off_t kLockFileBytes = 64 * 1024;  // > LMDB's lock file for 512 readers
  constexpr int kPatienceRounds = 10;          // of 10 ms
  const std::string path = dir + "/lock.mdb";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return errno == EACCES || errno == EROFS ? Status::Ok()  // LMDB will say why
                                             : Status::FromErrno(errno, path);
  Status s = Status::Ok();
  for (int round = 0; !LockedByOthers(fd) && InUseElsewhere(dir); ++round) {
    if (round == kPatienceRounds) {
      s = Status(EBUSY, path +
                            " was removed or replaced while another process has the store open (a "
                            "daemon serving it, or a command): LMDB coordinates writers through "
                            "that file, so opening the store now could damage it; stop the "
                            "processes that have it open (unmount), then run this again");
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (s.ok()) {
    const int rc = posix_fallocate(fd, 0, kLockFileBytes);
    if (rc == ENOSPC) s = Status(ENOSPC, "no space left for " + path + ": the disk is full");
    // other errors: the filesystem may not support it; LMDB copes
  }
  close(fd);
  return s;
}

void OpenMark::Take(const std::string& dir) {
  Drop();
  fd_ = open((dir + "/data.mdb").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd_ < 0) return;
  struct flock shared = FirstByte(F_RDLCK);
  if (fcntl(fd_, F_OFD_SETLK, &shared) != 0) Drop();
}

void OpenMark::Drop() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

}  // namespace secretfs::store
