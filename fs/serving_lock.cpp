#include "fs/serving_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

namespace secretfs::fs {

ServingLock& ServingLock::operator=(ServingLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

ServingLock::~ServingLock() {
  if (fd_ >= 0) close(fd_);  // releases the lock
}

Result<ServingLock> ServingLock::Take(const std::string& store_dir, int operation) {
  const std::string path = store_dir + "/" + kServingLockFile;
  ServingLock lock;
  lock.fd_ = open(path.c_str(), O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (lock.fd_ < 0) return Status::FromErrno(errno, "the store's serving lock " + path);
  while (flock(lock.fd_, operation) != 0) {
    if (errno == EWOULDBLOCK) return Status(EWOULDBLOCK, "a secretfs daemon serves the store");
    if (errno != EINTR) return Status::FromErrno(errno, "locking " + path);
  }
  return lock;
}

Result<ServingLock> ServingLock::Hold(const std::string& store_dir) {
  return Take(store_dir, LOCK_SH);
}

Result<ServingLock> ServingLock::Exclude(const std::string& store_dir) {
  return Take(store_dir, LOCK_EX | LOCK_NB);
}

}  // namespace secretfs::fs
