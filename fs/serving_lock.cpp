#include "fs/serving_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

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

namespace {

std::string LockPath(const std::string& store_dir) { return store_dir + "/" + kServingLockFile; }

}  // namespace

Result<ServingLock> ServingLock::OpenFile(const std::string& store_dir) {
  const std::string path = LockPath(store_dir);
  ServingLock lock;
  lock.fd_ = open(path.c_str(), O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (lock.fd_ < 0) return Status::FromErrno(errno, "the store's serving lock " + path);
  return lock;
}

Status ServingLock::Lock(int operation, const std::string& store_dir) {
  while (flock(fd_, operation) != 0) {
    if (errno == EWOULDBLOCK) return Status(EWOULDBLOCK, "a secretfs daemon serves the store");
    if (errno != EINTR) return Status::FromErrno(errno, "locking " + LockPath(store_dir));
  }
  return Status::Ok();
}

Result<ServingLock> ServingLock::Hold(const std::string& store_dir,
                                      const std::function<void()>& on_wait) {
  auto lock = OpenFile(store_dir);
  if (!lock) return lock.status();
  Status s = lock->Lock(LOCK_SH | LOCK_NB, store_dir);
  if (s.code() == EWOULDBLOCK) {
    if (on_wait) on_wait();
    s = lock->Lock(LOCK_SH, store_dir);
  }
  if (!s.ok()) return s;
  return lock;
}

Result<ServingLock> ServingLock::Exclude(const std::string& store_dir,
                                         std::chrono::milliseconds patience) {
  auto lock = OpenFile(store_dir);
  if (!lock) return lock.status();
  // flock(2) has no timeout: try again every few milliseconds until the patience is spent.
  const auto give_up = std::chrono::steady_clock::now() + patience;
  for (;;) {
    Status s = lock->Lock(LOCK_EX | LOCK_NB, store_dir);
    if (s.ok()) return lock;
    if (s.code() != EWOULDBLOCK) return s;
    // Daemons hold the lock shared, another Exclude exclusively: only then is a shared lock
    // refused too. Waiting for that one would not help its caller (a rotation that ends
    // changes the master key this caller holds).
    if (auto probe = OpenFile(store_dir);
        probe && probe->Lock(LOCK_SH | LOCK_NB, store_dir).code() == EWOULDBLOCK)
      return Status(EALREADY, "another command holds the store's serving lock exclusively");
    if (std::chrono::steady_clock::now() >= give_up) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace secretfs::fs
